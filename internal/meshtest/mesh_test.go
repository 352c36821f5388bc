package meshtest_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/org/macula"
	"github.com/org/macula/internal/meshtest"
)

func TestMain(m *testing.M) {
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	goleak.VerifyTestMain(m)
}

func peerIDs(n *macula.Node) map[macula.NodeID]bool {
	out := make(map[macula.NodeID]bool)
	for _, p := range n.Peers() {
		out[p.ID] = true
	}
	return out
}

func TestJoinAllAndExactLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := meshtest.New(t, 10)
		ctx := context.Background()
		start := time.Now()
		require.NoError(t, m.JoinAll(ctx))
		// Nine sequential joins, each one QUIC+TLS handshake plus the Hello:
		// a few round trips of 10 ms each, in virtual time.
		require.Less(t, time.Since(start), 9*50*time.Millisecond)
		require.True(t, m.WaitFor(time.Second, func() bool { return len(m.Node(0).Peers()) == 9 }))
		for i := 1; i < m.Len(); i++ {
			// Membership probes connect members to each other over time; the
			// joined connection to node 0 is there from the start.
			require.True(t, peerIDs(m.Node(i))[m.Node(0).ID()])
			rtt, err := m.Node(i).Ping(ctx, m.Node(0).ID())
			require.NoError(t, err)
			require.Equal(t, 2*meshtest.DefaultLatency, rtt)
		}
		m.SetLatency(20 * time.Millisecond)
		rtt, err := m.Node(3).Ping(ctx, m.Node(0).ID())
		require.NoError(t, err)
		require.Equal(t, 40*time.Millisecond, rtt)
	})
}

func TestPartitionAndHeal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const idle = 3 * time.Second
		m := meshtest.New(t, 4, meshtest.WithNodeOptions(macula.WithIdleTimeout(idle)))
		ctx := context.Background()
		require.NoError(t, m.JoinAll(ctx))

		m.Partition([]int{0, 1}, []int{2, 3})
		cut := time.Now()
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		_, err := m.Node(2).Ping(pctx, m.Node(0).ID())
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		_, err = m.Node(1).Ping(ctx, m.Node(0).ID())
		require.NoError(t, err, "the same side of the partition still works")

		// Connections across the cut end after the idle timeout, not before;
		// those within each side stay.
		crossLinks := func() []string {
			var out []string
			sides := map[int]int{0: 0, 1: 0, 2: 1, 3: 1}
			for i := range m.Len() {
				for j := range m.Len() {
					if sides[i] != sides[j] && peerIDs(m.Node(i))[m.Node(j).ID()] {
						out = append(out, fmt.Sprintf("%d-%d", i, j))
					}
				}
			}
			return out
		}
		require.NotEmpty(t, crossLinks(), "connections crossed the cut before it")
		require.True(t, m.WaitFor(3*idle, func() bool { return len(crossLinks()) == 0 }), "still connected across the cut: %v", crossLinks())
		require.GreaterOrEqual(t, time.Since(cut), idle)
		_, err = m.Node(1).Ping(ctx, m.Node(0).ID())
		require.NoError(t, err, "links within a side stay up")

		m.Heal()
		require.NoError(t, m.Node(2).Join(ctx, m.Addr(0)))
		require.NoError(t, m.Node(3).Join(ctx, m.URI(0)))
		require.True(t, m.WaitFor(time.Second, func() bool { return len(m.Node(0).Peers()) == 3 }))
		_, err = m.Node(3).Ping(ctx, m.Node(0).ID())
		require.NoError(t, err)
	})
}

func TestRestartedNodeReplacesItsStaleConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := meshtest.New(t, 3)
		ctx := context.Background()
		require.NoError(t, m.JoinAll(ctx))
		oldID := m.Node(1).ID()

		killed := time.Now()
		m.Kill(1) // no goodbye reaches node 0
		require.True(t, peerIDs(m.Node(0))[oldID], "node 0 has not noticed yet")

		restarted := m.Restart(1)
		require.Equal(t, oldID, restarted.ID(), "same identity after restart")
		joining := time.Now()
		require.NoError(t, restarted.Join(ctx, m.Addr(0)))

		// Node 0 swaps to the new instance's connection at once, without
		// waiting for the old one to time out, and keeps exactly one.
		require.Less(t, time.Since(joining), 100*time.Millisecond)
		require.Less(t, time.Since(killed), macula.DefaultIdleTimeout/2, "long before the old connection could time out")
		peers := m.Node(0).Peers()
		require.Len(t, peers, 2)
		for _, p := range peers {
			if p.ID == oldID {
				require.False(t, p.ConnectedAt.Before(killed), "connection is the new one")
			}
		}
		rtt, err := m.Node(0).Ping(ctx, oldID)
		require.NoError(t, err)
		require.Equal(t, 2*meshtest.DefaultLatency, rtt)
	})
}

func TestPingsSurvivePacketLoss(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := meshtest.New(t, 2, meshtest.WithSeed(7))
		ctx := context.Background()
		require.NoError(t, m.JoinAll(ctx))
		m.SetLoss(0.2)
		for range 50 {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := m.Node(1).Ping(pctx, m.Node(0).ID())
			cancel()
			require.NoError(t, err)
		}
		sent, dropped := m.PacketStats()
		require.Positive(t, dropped, "loss was applied")
		require.Less(t, dropped, sent)
	})
}

func TestKilledNodeIsDroppedAfterIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const idle = 2 * time.Second
		m := meshtest.New(t, 3, meshtest.WithNodeOptions(macula.WithIdleTimeout(idle)))
		require.NoError(t, m.JoinAll(context.Background()))
		require.True(t, m.WaitFor(time.Second, func() bool { return len(m.Node(0).Peers()) == 2 }))
		killed := time.Now() // Kill itself takes virtual time: the node's Close runs
		m.Kill(2)
		require.True(t, m.WaitFor(3*idle, func() bool { return len(m.Node(0).Peers()) == 1 }))
		gone := time.Since(killed)
		require.GreaterOrEqual(t, gone, idle-time.Second/2, "not before the idle timeout (minus keep-alive slack)")
		require.LessOrEqual(t, gone, idle+time.Second)
		require.Nil(t, m.Node(2))
	})
}
