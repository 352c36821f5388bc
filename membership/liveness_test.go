package membership_test

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula"
	"github.com/org/macula/membership"
	"github.com/org/macula/meshtest"
)

// TestSuspicionAndRefutationAreReported cuts one node off until another
// suspects it, then heals the network at once: the suspect refutes by
// raising its incarnation, and every node reports the suspicion and the
// refutation (state suspect, then alive at a higher incarnation), never a
// failure.
func TestSuspicionAndRefutationAreReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n, victim = 8, 7
		m := meshtest.New(t, n, meshtest.WithBootstrapTo(0))
		everyone := ids(m, seq(0, n)...)
		require.True(t, m.WaitFor(10*time.Second, func() bool { return allSee(m, everyone, macula.MemberAlive) }))
		id := m.Node(victim).ID()
		// The incarnation is read from SWIM packets; node 0 may have learned
		// node 7 by a state exchange only, so it may not know it yet (0).
		before, ok := m.Node(0).Member(id)
		require.True(t, ok)

		var mu sync.Mutex
		events := make(map[int][]membership.EventType) // node -> events about the victim
		for i := range n - 1 {
			ch := m.Node(i).WatchMembers(t.Context())
			go func() {
				for ev := range ch {
					if ev.Member.ID == id {
						mu.Lock()
						events[i] = append(events[i], ev.Type)
						mu.Unlock()
					}
				}
			}()
		}

		m.Partition(seq(0, n-1), []int{victim})
		cut := time.Now()
		suspected := func() bool {
			for i := range n - 1 {
				if mem, _ := m.Node(i).Member(id); mem.State == macula.MemberSuspect {
					return true
				}
			}
			return false
		}
		// memberlist's suspicion lasts at least SuspicionMult probe
		// intervals (4 s), far more without confirmations: healing as soon
		// as one node suspects leaves the victim ample time to refute.
		require.True(t, m.WaitFor(30*time.Second, suspected), "some node suspects the cut-off node")
		m.Heal()
		t.Logf("suspected %v after the cut (virtual)", time.Since(cut))
		healed := time.Now()

		refuted := func() bool {
			for i := range n - 1 {
				mem, ok := m.Node(i).Member(id)
				if !ok || mem.State != macula.MemberAlive || mem.Incarnation <= before.Incarnation {
					return false
				}
			}
			return true
		}
		require.True(t, m.WaitFor(20*time.Second, refuted), "every node sees the node alive again at a higher incarnation")
		after, _ := m.Node(0).Member(id)
		t.Logf("refuted everywhere %v after healing, incarnation %d -> %d", time.Since(healed), before.Incarnation, after.Incarnation)
		synctest.Wait()

		mu.Lock()
		defer mu.Unlock()
		sawBoth := 0
		for i, evs := range events {
			require.NotContains(t, evs, membership.EventFail, "node %d declared the node dead", i)
			require.NotContains(t, evs, membership.EventLeave, "node %d saw the node leave", i)
			if s, r := indexOf(evs, membership.EventSuspect), indexOf(evs, membership.EventRefute); s >= 0 && r > s {
				sawBoth++
			}
		}
		t.Logf("events about the node: %v", events)
		require.Positive(t, sawBoth, "a node reported the suspicion, then the refutation: %v", events)
	})
}

func indexOf(evs []membership.EventType, typ membership.EventType) int {
	for i, e := range evs {
		if e == typ {
			return i
		}
	}
	return -1
}

// TestLeaveNoticeMarksLeftAtOnce: a node that closes gracefully is left on
// every member within a few one-way trips, by its leaving notice, without
// waiting for gossip or failure detection.
func TestLeaveNoticeMarksLeftAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 6
		m := meshtest.New(t, n, meshtest.WithBootstrapTo(0))
		everyone := ids(m, seq(0, n)...)
		require.True(t, m.WaitFor(10*time.Second, func() bool { return allSee(m, everyone, macula.MemberAlive) }))
		leaving := m.Node(n - 1).ID()
		start := time.Now()
		require.NoError(t, m.Stop(n-1))
		closed := time.Since(start)
		require.Less(t, closed, 100*time.Millisecond, "Close of a healthy node")
		require.True(t, m.WaitFor(time.Second, func() bool { return allSee(m, []macula.NodeID{leaving}, macula.MemberLeft) }),
			"every member marks the node left within a second")
		t.Logf("closed in %v, left everywhere %v after Close began (virtual)", closed, time.Since(start))
	})
}
