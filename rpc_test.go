package macula_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula"
	"github.com/org/macula/meshtest"
)

func TestRPCDeadProviderIsNoLongerTried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 6
		m := meshtest.New(t, n, meshtest.WithBootstrapTo(0))
		waitConverged(t, m)
		ctx := context.Background()
		var mu sync.Mutex
		served := map[int]int{}
		for _, i := range []int{3, 4, 5} {
			_, err := m.Node(i).Register(ctx, "svc.echo", func(_ context.Context, inv *macula.Invocation) (any, error) {
				mu.Lock()
				served[i]++
				mu.Unlock()
				return inv.Args, nil
			})
			require.NoError(t, err)
		}
		caller := m.Node(0)
		for range 30 {
			_, err := caller.Call(ctx, "svc.echo", []byte("x"), macula.WithPolicy(macula.RoundRobin))
			require.NoError(t, err)
		}
		mu.Lock()
		require.Equal(t, map[int]int{3: 10, 4: 10, 5: 10}, served, "round robin over 3 providers")
		mu.Unlock()

		deadID := m.Node(5).ID()
		m.Kill(5)
		require.True(t, m.WaitFor(time.Minute, func() bool {
			mem, ok := caller.Member(deadID)
			return ok && mem.State == macula.MemberDead
		}), "the caller learns that the provider died (suspect is not enough: it may refute)")
		// The node hides the dead member's records from its watch of
		// membership, on its own goroutine: let it run.
		synctest.Wait()
		before := caller.RPCStats()
		for range 30 {
			reply, err := caller.Call(ctx, "svc.echo", []byte("y"), macula.WithPolicy(macula.RoundRobin))
			require.NoError(t, err)
			require.NotEqual(t, deadID, reply.Provider)
		}
		after := caller.RPCStats()
		require.Equal(t, before.Failovers, after.Failovers, "no attempt went to the dead provider")
		mu.Lock()
		require.Equal(t, 25, served[3])
		require.Equal(t, 25, served[4])
		mu.Unlock()

		// _peer.health answers on every node, through CallTo.
		reply, err := caller.CallTo(ctx, m.Node(2).ID(), macula.HealthProcedure, nil)
		require.NoError(t, err)
		var h macula.Health
		require.NoError(t, reply.Decode(&h))
		require.Equal(t, m.Node(2).ID(), h.NodeID)
		require.Equal(t, m.Node(2).Realm(), h.Realm)
	})
}
