package membership_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula"
	"github.com/org/macula/membership"
	"github.com/org/macula/meshtest"
)

// states returns node's view: member ID -> state.
func states(n *macula.Node) map[macula.NodeID]macula.MemberState {
	out := make(map[macula.NodeID]macula.MemberState)
	for _, mem := range n.Members() {
		out[mem.ID] = mem.State
	}
	return out
}

// allSee reports whether every running node of m sees every id in want in
// state st.
func allSee(m *meshtest.Mesh, want []macula.NodeID, st macula.MemberState) bool {
	for i := range m.Len() {
		n := m.Node(i)
		if n == nil {
			continue
		}
		view := states(n)
		for _, id := range want {
			if s, ok := view[id]; !ok || s != st {
				return false
			}
		}
	}
	return true
}

func ids(m *meshtest.Mesh, idx ...int) []macula.NodeID {
	out := make([]macula.NodeID, 0, len(idx))
	for _, i := range idx {
		out = append(out, m.Member(i).Identity.ID())
	}
	return out
}

func seq(from, to int) []int {
	out := make([]int, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func TestFiftyNodesConvergeFromOneBootstrapAddress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 50
		m := meshtest.New(t, n, meshtest.WithBootstrapTo(0))
		start := time.Now()
		everyone := ids(m, seq(0, n)...)
		require.True(t, m.WaitFor(10*time.Second, func() bool { return allSee(m, everyone, macula.MemberAlive) }),
			"all %d nodes see %d alive members within 10 s of virtual time", n, n)
		t.Logf("converged after %v (virtual)", time.Since(start))
		for i := range n {
			require.Len(t, m.Node(i).Members(), n)
		}
	})
}

func TestKilledNodesAreDeadEverywhereWithinTheDetectionBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 50
		m := meshtest.New(t, n, meshtest.WithBootstrapTo(0))
		everyone := ids(m, seq(0, n)...)
		require.True(t, m.WaitFor(10*time.Second, func() bool { return allSee(m, everyone, macula.MemberAlive) }))

		cfg := membership.DefaultConfig()
		// The bound (see Config.DetectionBound): the dead node is probed by
		// someone within n probe intervals (round-robin), the suspicion then
		// lasts at most SuspicionMaxTimeoutMult*SuspicionMult*log10(n)
		// probe intervals, and the death is gossiped within one more.
		bound := cfg.DetectionBound(n)
		pi := cfg.ProbeInterval
		suspicionMin := time.Duration(float64(cfg.SuspicionMult) * math.Log10(n) * float64(pi))
		require.InDelta(t, float64(time.Duration(n)*pi+time.Duration(cfg.SuspicionMaxTimeoutMult)*suspicionMin+pi), float64(bound), float64(time.Millisecond))
		// No member can be declared dead before the shortest suspicion
		// timeout, SuspicionMult*log10(n) probe intervals (6.8 s here).
		minSuspicion := suspicionMin

		victims := []int{3, 11, 23, 37, 48}
		killed := time.Now()
		m.Kill(victims...)
		dead := ids(m, victims...)
		require.True(t, m.WaitFor(bound, func() bool { return allSee(m, dead, macula.MemberDead) }),
			"every survivor marks the 5 killed nodes dead within %v", bound)
		took := time.Since(killed)
		t.Logf("all survivors saw all 5 dead after %v (virtual); bound %v", took, bound)
		require.GreaterOrEqual(t, took, minSuspicion)
		// Survivors are still alive to everyone.
		survivors := make([]int, 0, n-len(victims))
		for _, i := range seq(0, n) {
			if m.Node(i) != nil {
				survivors = append(survivors, i)
			}
		}
		require.True(t, allSee(m, ids(m, survivors...), macula.MemberAlive))
	})
}

func TestGracefulLeaveIsLeftNotDead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := meshtest.New(t, 8, meshtest.WithBootstrapTo(0))
		everyone := ids(m, seq(0, 8)...)
		require.True(t, m.WaitFor(10*time.Second, func() bool { return allSee(m, everyone, macula.MemberAlive) }))

		// SWIM needs no connections: the leaver's Leaving flag and leave
		// message reach every member by gossip (its connected peers are
		// also told directly).
		leaving := m.Node(5).ID()
		events := m.Node(0).WatchMembers(t.Context())
		require.NoError(t, m.Stop(5))
		// Most nodes hear memberlist's leave message; one that misses it
		// still records "left" once its failure detector drops the node
		// (the Leaving flag or the shutdown close tells it why), within
		// the suspicion timeout.
		views := func() string {
			out := ""
			for i := range m.Len() {
				if n := m.Node(i); n != nil {
					mem, ok := n.Member(leaving)
					out += fmt.Sprintf("%d:%v/%s/leaving=%v ", i, ok, mem.State, mem.Meta.Leaving)
				}
			}
			return out
		}
		require.True(t, m.WaitFor(30*time.Second, func() bool { return allSee(m, []macula.NodeID{leaving}, macula.MemberLeft) }), "views: %s", views())
		// Long after, still left, never dead.
		time.Sleep(time.Minute)
		require.True(t, allSee(m, []macula.NodeID{leaving}, macula.MemberLeft))
		// Node 0 saw the leave; never a fail.
		for ev := range events {
			if ev.Member.ID != leaving {
				continue
			}
			require.NotEqual(t, membership.EventFail, ev.Type)
			if ev.Type == membership.EventLeave {
				require.Equal(t, macula.MemberLeft, ev.Member.State)
				break
			}
		}
	})
}

func TestNoFalseDeathsUnderTenPercentLoss(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 20
		m := meshtest.New(t, n, meshtest.WithBootstrapTo(0), meshtest.WithSeed(42))
		everyone := ids(m, seq(0, n)...)
		require.True(t, m.WaitFor(10*time.Second, func() bool { return allSee(m, everyone, macula.MemberAlive) }))

		ctx, cancel := context.WithCancel(t.Context())
		fails := make(chan string, 1024)
		for i := range n {
			ch := m.Node(i).WatchMembers(ctx)
			go func() {
				for ev := range ch {
					if ev.Type == membership.EventFail {
						fails <- fmt.Sprintf("node %d declared %s dead at %v", i, ev.Member.ID.Short(), time.Now())
					}
				}
			}()
		}
		m.SetLoss(0.10)
		time.Sleep(5 * time.Minute)
		m.SetLoss(0)
		sent, dropped := m.PacketStats()
		t.Logf("packets sent %d, dropped %d (%.1f%%)", sent, dropped, 100*float64(dropped)/float64(sent))
		require.InDelta(t, 0.10, float64(dropped)/float64(sent), 0.02, "loss was applied")
		cancel()
		synctest.Wait()
		close(fails)
		var all []string
		for f := range fails {
			all = append(all, f)
		}
		require.Empty(t, all, "no live node may be declared dead")
		// A suspicion raised just before the loss stopped is refuted
		// within a few probe intervals.
		require.True(t, m.WaitFor(10*time.Second, func() bool { return allSee(m, everyone, macula.MemberAlive) }))
	})
}

func TestPartitionHealsIntoOneView(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 12
		m := meshtest.New(t, n, meshtest.WithBootstrapTo(0),
			meshtest.WithNodeOptions(macula.WithIdleTimeout(5*time.Second)))
		everyone := ids(m, seq(0, n)...)
		require.True(t, m.WaitFor(10*time.Second, func() bool { return allSee(m, everyone, macula.MemberAlive) }))

		left, right := seq(0, n/2), seq(n/2, n)
		m.Partition(left, right)
		// Each side declares the other dead.
		require.True(t, m.WaitFor(2*time.Minute, func() bool {
			for _, i := range left {
				for _, id := range ids(m, right...) {
					if states(m.Node(i))[id] != macula.MemberDead {
						return false
					}
				}
			}
			for _, i := range right {
				for _, id := range ids(m, left...) {
					if states(m.Node(i))[id] != macula.MemberDead {
						return false
					}
				}
			}
			return true
		}))
		// Stay apart past memberlist's gossip-to-the-dead window, so only
		// the reconnect loop can heal it.
		time.Sleep(time.Minute)

		m.Heal()
		healed := time.Now()
		require.True(t, m.WaitFor(time.Minute, func() bool { return allSee(m, everyone, macula.MemberAlive) }),
			"one membership view again after the partition heals")
		t.Logf("healed in %v (virtual)", time.Since(healed))
	})
}
