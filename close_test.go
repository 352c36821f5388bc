package macula_test

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/org/macula"
	"github.com/org/macula/meshtest"
)

// TestCloseLeavesNoGoroutines connects nodes over real UDP, exercises them,
// closes them, and checks that not one goroutine is left.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := context.Background()
	nodes := make([]*macula.Node, 3)
	for i := range nodes {
		n, err := macula.New(macula.WithListenAddr("127.0.0.1:0"))
		require.NoError(t, err)
		nodes[i] = n
	}
	// A bootstrap loop that never succeeds must stop on Close too.
	lonely, err := macula.New(macula.WithListenAddr("127.0.0.1:0"), macula.WithBootstrap("127.0.0.1:9"))
	require.NoError(t, err)
	require.NoError(t, nodes[1].Join(ctx, nodes[0].Addr().String()))
	// Join returns at the first success, so join each one for a known state.
	require.NoError(t, nodes[2].Join(ctx, nodes[0].Addr().String()))
	require.NoError(t, nodes[2].Join(ctx, nodes[1].Addr().String()))
	for _, n := range nodes[1:] {
		_, err := n.Ping(ctx, nodes[0].ID())
		require.NoError(t, err)
	}
	for _, n := range append(nodes, lonely) {
		require.NoError(t, n.Close())
	}
}

// TestCloseInVirtualTime: synctest fails the test if any goroutine started
// in the bubble outlives it, so this also proves Close stops everything.
func TestCloseInVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := meshtest.New(t, 5)
		require.NoError(t, m.JoinAll(context.Background()))
		m.Kill(2)
		_, err := m.Restart(2)
		require.NoError(t, err)
		m.Close()
		synctest.Wait()
	})
}

// TestCloseIsQuickInVirtualTime measures Close in virtual time on simnet
// (5 ms one-way), so the figures count only the waits on timers that
// Close itself makes: memberlist's probe in flight, the leave broadcast.
// Close of one node of a 2-node mesh returns within 100 ms and its peer
// marks it left, not dead; a node whose only peer crashed closes within a
// second (its probe of the crashed peer is ended, not waited out).
func TestCloseIsQuickInVirtualTime(t *testing.T) {
	t.Run("peer alive", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := meshtest.New(t, 2)
			require.NoError(t, m.JoinAll(t.Context()))
			gone := m.Node(1).ID()
			waitConverged(t, m)
			time.Sleep(2500 * time.Millisecond) // probes run both ways
			start := time.Now()
			require.NoError(t, m.Stop(1))
			took := time.Since(start)
			t.Logf("Close took %v (virtual)", took)
			require.Less(t, took, 100*time.Millisecond)
			require.True(t, m.WaitFor(100*time.Millisecond, func() bool {
				mem, ok := m.Node(0).Member(gone)
				return ok && mem.State == macula.MemberLeft
			}), "the peer marks the closed node left at once")
		})
	})
	t.Run("peer crashed", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := meshtest.New(t, 2)
			require.NoError(t, m.JoinAll(t.Context()))
			waitConverged(t, m)
			m.Kill(1)
			// Long enough for node 0 to probe the crashed node, suspect it
			// and lose health (which stretches its probes' timers).
			time.Sleep(3500 * time.Millisecond)
			start := time.Now()
			require.NoError(t, m.Stop(0))
			took := time.Since(start)
			t.Logf("Close took %v (virtual)", took)
			require.Less(t, took, time.Second)
		})
	})
}

// TestCloseEndsProbesOfACrashedPeer, on real loopback UDP: a node whose
// peer went silent (paused: as a crashed host, it answers nothing) is
// probing it when it closes. Close returns within a second and leaves no
// goroutine behind, memberlist's probe included (checked at once, without
// goleak's usual retries, which could let a probe time out on its own
// meanwhile).
func TestCloseEndsProbesOfACrashedPeer(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	m := closePair(t)
	m.Pause(1)
	// Long enough for node 0 to probe the silent peer, suspect it and
	// lose health, which stretches its probes' timers to seconds.
	time.Sleep(3 * time.Second)
	start := time.Now()
	require.NoError(t, m.Stop(0))
	took := time.Since(start)
	t.Logf("Close took %v", took)
	m.Close()
	// memberlist's listeners end on their own after Shutdown, within a
	// scheduling round; a probe left waiting for its timer lives at least
	// ProbeTimeout (500 ms) after its ping, and up to seconds. 300 ms tells
	// the two apart even on a loaded machine.
	deadline := time.Now().Add(300 * time.Millisecond)
	var stacks string
	for {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "(*Memberlist).probeNode") || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.NotContains(t, stacks, "(*Memberlist).probeNode", "memberlist's probe outlived Close")
	require.Less(t, took, time.Second)
}
