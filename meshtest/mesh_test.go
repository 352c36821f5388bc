package meshtest_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/org/macula"
	"github.com/org/macula/meshtest"
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

func TestMemberLatencyIsOneMembersOwn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := meshtest.New(t, 3)
		ctx := context.Background()
		require.NoError(t, m.JoinAll(ctx))
		ping := func(from, to int) time.Duration {
			rtt, err := m.Node(from).Ping(ctx, m.Node(to).ID())
			require.NoError(t, err)
			return rtt
		}
		m.SetMemberLatency(2, 100*time.Millisecond)
		require.Equal(t, 100*time.Millisecond+meshtest.DefaultLatency, ping(0, 2), "to member 2 slowly, back at the mesh's latency")
		require.Equal(t, 100*time.Millisecond+meshtest.DefaultLatency, ping(2, 0))
		require.Equal(t, 2*meshtest.DefaultLatency, ping(0, 1), "the others' links are untouched")
		m.SetLatency(20 * time.Millisecond)
		require.Equal(t, 120*time.Millisecond, ping(0, 2), "a member's own latency outlasts SetLatency")
		m.SetMemberLatency(2, -1)
		require.Equal(t, 40*time.Millisecond, ping(0, 2), "and goes back to the mesh's")
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

		restarted, err := m.Restart(1)
		require.NoError(t, err)
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

func TestWaitConvergedNamesWhoLags(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := meshtest.New(t, 3)
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		err := m.WaitConverged(ctx)
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded, "no one has joined anyone")
		require.Contains(t, err.Error(), "member 0 sees member 1 unknown")

		require.NoError(t, m.JoinAll(t.Context()))
		ctx, cancel = context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		require.NoError(t, m.WaitConverged(ctx))
		for i := range m.Len() {
			require.Len(t, m.Node(i).Members(), 3)
		}
	})
}

func TestPauseSilencesANodeWithoutClosingIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := meshtest.New(t, 3, meshtest.WithBootstrapTo(0))
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		require.NoError(t, m.WaitConverged(ctx))
		paused := m.Node(2)

		m.Pause(2)
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		_, err := m.Node(0).Ping(pctx, paused.ID())
		pcancel()
		require.ErrorIs(t, err, context.DeadlineExceeded, "a paused node answers nothing")
		require.True(t, m.WaitFor(30*time.Second, func() bool {
			mem, ok := m.Node(0).Member(paused.ID())
			return ok && mem.State != macula.MemberAlive
		}), "the others stop seeing it alive")
		require.Same(t, paused, m.Node(2), "it was not closed")
		require.NoError(t, m.WaitConverged(ctx), "a paused node is not waited for")

		m.Resume(2)
		require.NoError(t, m.WaitConverged(ctx), "it refutes and is alive again")
		_, err = m.Node(0).Ping(ctx, paused.ID())
		require.NoError(t, err)
	})
}

func TestTheSeedDecidesTheIdentities(t *testing.T) {
	ids := func(opts ...meshtest.Option) []macula.NodeID {
		var out []macula.NodeID
		synctest.Test(t, func(t *testing.T) {
			m := meshtest.New(t, 3, opts...)
			for i := range m.Len() {
				out = append(out, m.Node(i).ID())
			}
		})
		return out
	}
	a, b, c := ids(meshtest.WithSeed(5)), ids(meshtest.WithSeed(5)), ids(meshtest.WithSeed(6))
	require.Equal(t, a, b)
	require.NotEqual(t, a[0], c[0])
	require.NotEqual(t, a[0], a[1])

	t.Setenv(meshtest.SeedEnv, "5")
	require.Equal(t, a, ids(), "the environment sets the default seed")
	require.NotEqual(t, a, ids(meshtest.WithSeed(6)), "WithSeed wins")
}

// failedTB is a test that has failed, and records what it logs and the
// clean-ups it is given.
type failedTB struct {
	testing.TB
	logs     []string
	cleanups []func()
}

func (f *failedTB) Helper()           {}
func (f *failedTB) Failed() bool      { return true }
func (f *failedTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *failedTB) Logf(format string, args ...any) {
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}

func TestTheSeedIsLoggedWhenTheTestFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb := &failedTB{TB: t}
		m := meshtest.New(tb, 1, meshtest.WithSeed(1234))
		require.Equal(t, uint64(1234), m.Seed())
		for i := len(tb.cleanups) - 1; i >= 0; i-- {
			tb.cleanups[i]()
		}
		require.Nil(t, m.Node(0), "the mesh was closed")
		require.Equal(t, []string{"meshtest: seed 1234; replay with MESHTEST_SEED=1234 or meshtest.WithSeed(1234)"}, tb.logs)
	})
}

func TestStartRefusesBadInput(t *testing.T) {
	cases := []struct {
		name string
		n    int
		opts []meshtest.Option
		want error
	}{
		{"no nodes", 0, nil, macula.ErrInvalidConfig},
		{"bootstrap to no member", 3, []meshtest.Option{meshtest.WithBootstrapTo(3)}, macula.ErrInvalidOption},
		{"negative bootstrap member", 3, []meshtest.Option{meshtest.WithBootstrapTo(-1)}, macula.ErrInvalidOption},
		{"negative latency", 3, []meshtest.Option{meshtest.WithLatency(-time.Millisecond)}, macula.ErrInvalidOption},
		{"nil option", 3, []meshtest.Option{nil}, macula.ErrInvalidOption},
		{"bad node option", 1, []meshtest.Option{meshtest.WithNodeOptions(macula.WithTopology(-1))}, macula.ErrInvalidOption},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m, err := meshtest.Start(c.n, c.opts...)
				require.ErrorIs(t, err, c.want)
				require.Nil(t, m)
			})
		})
	}
	t.Run("bad seed in the environment", func(t *testing.T) {
		t.Setenv(meshtest.SeedEnv, "twelve")
		_, err := meshtest.Start(1, meshtest.OverUDP())
		require.ErrorIs(t, err, macula.ErrInvalidConfig)
		require.ErrorIs(t, err, strconv.ErrSyntax)
	})
}

// TestFaultsOverUDP runs the faults on real sockets of 127.0.0.1, in real
// time. The waits are generous: they bound a loaded machine's scheduling,
// not the mesh.
func TestFaultsOverUDP(t *testing.T) {
	m := meshtest.New(t, 3, meshtest.OverUDP(), meshtest.WithBootstrapTo(0))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	require.NoError(t, m.WaitConverged(ctx))
	require.Equal(t, "127.0.0.1", m.Member(2).Addr.IP.String())
	ping := func(from, to int, within time.Duration) (time.Duration, error) {
		pctx, pcancel := context.WithTimeout(ctx, within)
		defer pcancel()
		return m.Node(from).Ping(pctx, m.Member(to).Identity.ID())
	}

	t.Run("partition and heal", func(t *testing.T) {
		m.Partition([]int{0, 1}, []int{2})
		_, err := ping(2, 0, 500*time.Millisecond)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		_, err = ping(1, 0, 5*time.Second)
		require.NoError(t, err, "within a side")
		m.Heal()
		_, err = ping(2, 0, 5*time.Second)
		require.NoError(t, err)
	})
	t.Run("latency", func(t *testing.T) {
		m.SetLatency(30 * time.Millisecond)
		defer m.SetLatency(0)
		rtt, err := ping(1, 0, 5*time.Second)
		require.NoError(t, err)
		require.GreaterOrEqual(t, rtt, 60*time.Millisecond, "30 ms each way")
	})
	t.Run("pause and resume", func(t *testing.T) {
		m.Pause(1)
		_, err := ping(0, 1, 500*time.Millisecond)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		m.Resume(1)
		_, err = ping(0, 1, 5*time.Second)
		require.NoError(t, err)
	})
	t.Run("kill and restart on the same port", func(t *testing.T) {
		id, addr := m.Node(2).ID(), m.Addr(2)
		m.Kill(2)
		require.Nil(t, m.Node(2))
		node, err := m.Restart(2)
		require.NoError(t, err)
		require.Equal(t, id, node.ID())
		require.Equal(t, addr, node.Addr().String())
		require.NoError(t, m.WaitConverged(ctx), "it rejoins through its bootstrap address")
		_, err = ping(0, 2, 5*time.Second)
		require.NoError(t, err)
	})
	sent, dropped := m.PacketStats()
	require.Positive(t, dropped)
	require.Less(t, dropped, sent)
}
