package macula_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula"
	"github.com/org/macula/membership"
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

// TestIdempotentCallFailsOverWhenItsProviderCrashesAfterAccepting: a
// provider that crashed (no CONNECTION_CLOSE) after accepting an
// idempotent call must not hold the call until its deadline: once
// membership declares the provider dead, the node drops the connection,
// the call's stream breaks and the call moves on to the other provider.
// Found by the chaos suite (seed 1204646596537145603): without the drop,
// the call waited for QUIC's idle timeout and outlived its 30 s deadline.
func TestIdempotentCallFailsOverWhenItsProviderCrashesAfterAccepting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := meshtest.New(t, 3, meshtest.WithBootstrapTo(0))
		waitConverged(t, m)
		ctx := context.Background()
		var mu sync.Mutex
		first := -1 // the provider that got the call first: it never answers
		started := make(chan struct{})
		for _, i := range []int{1, 2} {
			_, err := m.Node(i).Register(ctx, "svc.slow", func(ctx context.Context, inv *macula.Invocation) (any, error) {
				mu.Lock()
				if first < 0 {
					first = i
					mu.Unlock()
					close(started)
					<-ctx.Done() // until the node is gone
					return nil, ctx.Err()
				}
				mu.Unlock()
				return inv.Args, nil
			})
			require.NoError(t, err)
		}
		type result struct {
			reply *macula.Reply
			err   error
			took  time.Duration
		}
		done := make(chan result, 1)
		go func() {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
			defer cancel()
			start := time.Now()
			reply, err := m.Node(0).Call(cctx, "svc.slow", []byte("x"), macula.WithIdempotent())
			done <- result{reply, err, time.Since(start)}
		}()
		<-started
		// Let the provider's accept reach the caller (virtual time): a
		// call not yet accepted moves on after the accept timeout anyway.
		time.Sleep(time.Second)
		mu.Lock()
		crashed := first
		mu.Unlock()
		crashedID := m.Node(crashed).ID()
		m.Kill(crashed)
		r := <-done
		require.NoError(t, r.err)
		require.NotEqual(t, crashedID, r.reply.Provider)
		// Membership's detection bound for 3 members, not QUIC's idle
		// timeout or the call's deadline, bounds the wait.
		bound := membership.DefaultConfig().DetectionBound(3)
		require.Less(t, r.took, bound, "the call failed over within membership's detection bound")
		t.Logf("failed over after %v (detection bound %v)", r.took, bound)
	})
}
