package rpc

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/security"
)

func TestCallsReuseStreams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t, 2, meshConfig{sign: true})
		m.register(0, "math.add", addHandler)
		m.register(0, "math.fail", func(context.Context, *Invocation) (any, error) {
			return nil, Errorf(invalidArgument, "no")
		})
		provider, caller := m.nodes[0].svc, m.nodes[1].svc
		ctx := context.Background()
		for i := range 10 {
			rep, err := caller.Call(ctx, "math.add", [2]int{i, 1})
			require.NoError(t, err)
			var sum int
			require.NoError(t, rep.Decode(&sum))
			require.Equal(t, i+1, sum)
			require.Equal(t, m.nodes[0].ID(), rep.Signer, "signed per call")
			// A handler's error leaves the stream clean too.
			_, err = caller.Call(ctx, "math.fail", nil)
			var re *RemoteError
			require.ErrorAs(t, err, &re)
		}
		synctest.Wait()
		require.Equal(t, uint64(20), provider.Stats().Received)
		require.Equal(t, uint64(1), provider.Stats().Streams, "one stream carried every call")
		require.Equal(t, uint64(19), caller.Stats().Reused)
		require.Equal(t, 1, caller.pool.idleCount())

		// Concurrent calls use at most as many streams as run at once.
		const concurrent = 8
		var wg sync.WaitGroup
		for range concurrent {
			wg.Go(func() {
				for range 5 {
					_, err := caller.Call(ctx, "math.add", [2]int{1, 2})
					require.NoError(t, err)
				}
			})
		}
		wg.Wait()
		synctest.Wait()
		require.Equal(t, uint64(60), provider.Stats().Received)
		require.LessOrEqual(t, provider.Stats().Streams, uint64(1+concurrent))
		require.LessOrEqual(t, caller.pool.idleCount(), concurrent)

		// The pool is emptied on Close, and the provider's streams end.
		require.NoError(t, caller.Close())
		require.Zero(t, caller.pool.idleCount())
		synctest.Wait()
		require.Zero(t, caller.Stats().StaleStreams)
	})
}

func TestStaleStreamIsReplaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t, 2, meshConfig{service: func(i int, cfg *Config) {
			if i == 0 {
				cfg.StreamIdleTimeout = time.Second // the provider closes idle streams early
			}
		}})
		var runs atomic.Int32
		m.register(0, "work.count", func(context.Context, *Invocation) (any, error) {
			return runs.Add(1), nil
		})
		provider, caller := m.nodes[0].svc, m.nodes[1].svc
		ctx := context.Background()
		_, err := caller.Call(ctx, "work.count", nil)
		require.NoError(t, err)
		require.Equal(t, 1, caller.pool.idleCount())

		time.Sleep(2 * time.Second) // the provider has closed the stream
		rep, err := caller.Call(ctx, "work.count", nil)
		require.NoError(t, err, "retried on a new stream, although not idempotent")
		require.Equal(t, m.nodes[0].ID(), rep.Provider)
		require.Equal(t, int32(2), runs.Load(), "the handler ran once per call")
		st := caller.Stats()
		require.Equal(t, uint64(1), st.StaleStreams)
		require.Zero(t, st.Failovers)
		require.Zero(t, st.Failed)
		require.Equal(t, uint64(1), st.Reused, "tried, and found stale")
		synctest.Wait()
		require.Equal(t, uint64(2), provider.Stats().Streams)
		require.Equal(t, uint64(2), provider.Stats().Received)

		// A stream idle for longer than the caller's own limit (half its
		// StreamIdleTimeout) is not tried at all.
		time.Sleep(DefaultStreamIdleTimeout/2 + time.Second)
		_, err = caller.Call(ctx, "work.count", nil)
		require.NoError(t, err)
		require.Equal(t, uint64(1), caller.Stats().StaleStreams)
		synctest.Wait()
		require.Equal(t, uint64(3), provider.Stats().Streams)
	})
}

func TestCancelDuringReusedCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t, 2, meshConfig{})
		started := make(chan struct{}, 1)
		handlerErr := make(chan error, 1)
		m.register(0, "math.add", addHandler)
		m.register(0, "work.wait", func(ctx context.Context, _ *Invocation) (any, error) {
			started <- struct{}{}
			<-ctx.Done()
			handlerErr <- ctx.Err()
			return nil, ctx.Err()
		})
		provider, caller := m.nodes[0].svc, m.nodes[1].svc
		_, err := caller.Call(context.Background(), "math.add", [2]int{1, 2})
		require.NoError(t, err)

		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := caller.Call(ctx, "work.wait", nil)
			errc <- err
		}()
		<-started
		require.Equal(t, uint64(1), caller.Stats().Reused, "the second call took the first one's stream")
		cancel()
		require.ErrorIs(t, <-handlerErr, context.Canceled, "cancelling the caller cancelled the handler")
		require.ErrorIs(t, <-errc, context.Canceled)
		synctest.Wait()
		require.Zero(t, caller.pool.idleCount(), "the aborted stream was not kept")

		// A deadline on a reused stream bounds the handler as well.
		_, err = caller.Call(context.Background(), "math.add", [2]int{1, 2})
		require.NoError(t, err)
		dctx, dcancel := context.WithTimeout(context.Background(), time.Second)
		defer dcancel()
		_, err = caller.Call(dctx, "work.wait", nil)
		require.ErrorIs(t, err, ErrTimeout)
		require.ErrorIs(t, <-handlerErr, context.DeadlineExceeded)
		<-started

		// The provider still serves, and its streams ended.
		_, err = caller.Call(context.Background(), "math.add", [2]int{1, 2})
		require.NoError(t, err)
		synctest.Wait()
		require.Equal(t, uint64(5), provider.Stats().Received)
		require.Equal(t, uint64(3), provider.Stats().Streams)
	})
}

func TestProviderCloseEndsIdleStreams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t, 3, meshConfig{})
		m.register(0, "math.add", addHandler)
		m.register(1, "math.add", addHandler)
		caller := m.nodes[2].svc
		ctx := context.Background()
		for range 4 {
			_, err := caller.Call(ctx, "math.add", [2]int{1, 2}, WithPolicy(RoundRobin))
			require.NoError(t, err)
		}
		require.Equal(t, 2, caller.pool.idleCount())
		// Close returns although the caller keeps idle streams to it.
		require.NoError(t, m.nodes[0].svc.Close())
		synctest.Wait()
		for range 4 {
			rep, err := caller.Call(ctx, "math.add", [2]int{1, 2}, WithPolicy(RoundRobin))
			require.NoError(t, err)
			require.Equal(t, m.nodes[1].ID(), rep.Provider)
		}
		require.Zero(t, caller.Stats().Failed)
		require.LessOrEqual(t, caller.Stats().StaleStreams, uint64(1))
	})
}

// The provider's connection manager and the caller trim idle connections
// each on its own clock, so the provider can close a connection as idle
// while a call's new stream is on its way to it (the hunt of 2026-12-08
// caught TestCallsAcrossMesh failing so: "ended with OK ... (remote):
// idle"). The provider never read the call, so it is sent again on a new
// connection, not failed.
func TestCallSurvivesProviderClosingTheConnectionAsIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A call to the provider's built-in health procedure: no record
		// and so no DHT watch, whose stream would keep the connection busy.
		var m *testMesh
		m = newMesh(t, 2, meshConfig{service: func(i int, cfg *Config) {
			cfg.Resolve = func(context.Context, security.NodeID) ([]string, error) {
				return []string{m.nodes[0].addr}, nil
			}
		}})
		provider, caller := m.nodes[0], m.nodes[1]
		ctx := context.Background()
		_, err := caller.svc.CallTo(ctx, provider.ID(), HealthProcedure, nil)
		require.NoError(t, err)
		// No stream left on the connection: the provider sees it idle.
		caller.svc.pool.flush(provider.ID())
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		_, connected := caller.tr.Peer(provider.ID())
		require.True(t, connected, "the connection itself is still up")

		done := make(chan error, 1)
		go func() {
			_, err := caller.svc.CallTo(ctx, provider.ID(), HealthProcedure, nil)
			done <- err
		}()
		synctest.Wait() // the call's frames are on the wire, not yet read
		require.Equal(t, 1, provider.tr.Trim(time.Now().Add(time.Hour)), "the provider closes the connection as idle")
		require.NoError(t, <-done, "sent again on a new connection")
		st := caller.svc.Stats()
		require.Equal(t, uint64(1), st.StaleStreams)
		require.Zero(t, st.Failed)
		require.Equal(t, uint64(2), provider.svc.Stats().Served, "served once per call")
	})
}
