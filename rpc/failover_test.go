package rpc

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/protocol"
	"github.com/org/macula/routing"
	"github.com/org/macula/security"
)

// TestKillProviderDuringCalls kills one of 3 providers while 10 workers
// on 3 nodes make 1,000 calls. Calls not in flight to it all succeed; of
// those in flight (accepted, handler running), a plain call fails with
// ErrProviderLost and an idempotent one is retried elsewhere, so no
// idempotent call is lost. The directory is never told that the provider
// died (membership would mark it down): failover alone carries the calls.
func TestKillProviderDuringCalls(t *testing.T) {
	for _, tc := range []struct {
		name       string
		crash      bool // packets vanish, as on power loss; else the transport closes and peers are told
		idempotent bool
	}{
		{"closed", false, false},
		{"closed idempotent", false, true},
		{"crashed", true, false},
		{"crashed idempotent", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { killDuringCalls(t, tc.crash, tc.idempotent) })
		})
	}
}

func killDuringCalls(t *testing.T, crash, idempotent bool) {
	const (
		victim  = 1
		workers = 10
		calls   = 1000
	)
	m := newMesh(t, 6, meshConfig{})
	var mu sync.Mutex
	running := map[int]int{} // handlers running per provider
	for i := range 3 {
		m.register(i, "math.add", func(ctx context.Context, inv *Invocation) (any, error) {
			mu.Lock()
			running[i]++
			mu.Unlock()
			defer func() {
				mu.Lock()
				running[i]--
				mu.Unlock()
			}()
			select {
			case <-time.After(20 * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return addHandler(ctx, inv)
		})
	}
	var opts []CallOption
	if idempotent {
		opts = append(opts, WithIdempotent())
	}
	type failure struct {
		n   int
		err error
	}
	var (
		wg       sync.WaitGroup
		failures []failure
		served   = map[int]int{}
	)
	for w := range workers {
		caller := m.nodes[3+w%3].svc
		wg.Go(func() {
			for k := range calls / workers {
				n := w*1000 + k
				rep, err := caller.Call(context.Background(), "math.add", [2]int{n, 1}, opts...)
				var sum int
				if err == nil {
					err = rep.Decode(&sum)
				}
				mu.Lock()
				if err != nil {
					failures = append(failures, failure{n, err})
				} else {
					require.Equal(t, n+1, sum)
					served[m.index(rep.Provider)]++
				}
				mu.Unlock()
			}
		})
	}
	// Kill the victim mid-run, at a moment when it runs handlers.
	time.Sleep(time.Second)
	var inFlight int
	for inFlight == 0 {
		time.Sleep(time.Millisecond)
		mu.Lock()
		inFlight = running[victim]
		mu.Unlock()
	}
	if crash {
		m.crash(victim)
	} else {
		_ = m.nodes[victim].tr.Close()
	}
	wg.Wait()

	t.Logf("calls served per provider %v, failed %d, in flight on the victim when killed %d", served, len(failures), inFlight)
	require.Positive(t, served[victim], "the victim served calls before it died")
	require.Equal(t, calls, len(failures)+served[0]+served[1]+served[2])
	if idempotent {
		require.Empty(t, failures, "idempotent calls are retried elsewhere")
	} else {
		// Each failure is a call the victim had accepted and not answered:
		// in flight to it. Each worker has one call in flight at most.
		require.LessOrEqual(t, len(failures), workers)
		for _, f := range failures {
			require.ErrorIs(t, f.err, ErrProviderLost, "call %d", f.n)
			var ce *CallError
			require.ErrorAs(t, f.err, &ce)
			require.Equal(t, m.nodes[victim].ID(), ce.Tried[len(ce.Tried)-1], "call %d was lost on the victim", f.n)
		}
	}
	if idempotent {
		// Calls in flight on the victim when it died moved on.
		var failovers uint64
		for _, i := range []int{3, 4, 5} {
			failovers += m.nodes[i].svc.Stats().Failovers
		}
		require.Positive(t, failovers)
	}
}

// TestProviderDeathStopsNewCalls: once membership marks a dead provider
// down in the directory, no call tries it; before that, the failure
// backoff keeps it last after one failed attempt.
func TestProviderDeathStopsNewCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t, 5, meshConfig{})
		for i := range 3 {
			m.register(i, "math.add", addHandler)
		}
		caller := m.nodes[4].svc
		ctx := context.Background()
		calls := func(n int) map[int]int {
			got := map[int]int{}
			for range n {
				rep, err := caller.Call(ctx, "math.add", [2]int{1, 2})
				require.NoError(t, err)
				got[m.index(rep.Provider)]++
			}
			return got
		}
		require.Len(t, calls(30), 3)

		m.crash(1)
		start := time.Now()
		got := calls(60)
		require.Zero(t, got[1])
		require.Equal(t, uint64(1), caller.Stats().Failovers, "tried once, then kept last")
		t.Logf("60 calls with a crashed provider not yet marked down: %v", time.Since(start))

		time.Sleep(DefaultFailureBackoff) // the backoff ends; the record is still there
		m.setDown(1)
		start = time.Now()
		got = calls(60)
		require.Equal(t, map[int]int{0: 30, 2: 30}, got)
		require.Equal(t, uint64(1), caller.Stats().Failovers, "marked down: never tried")
		require.Less(t, time.Since(start), time.Second)
	})
}

func TestUnregisterStopsCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t, 5, meshConfig{})
		regs := make([]*Registration, 3)
		for i := range regs {
			regs[i] = m.register(i, "math.add", addHandler)
		}
		extra := m.register(1, "math.add", addHandler)
		require.Equal(t, "math.add", extra.Procedure())
		caller := m.nodes[4]
		ctx := context.Background()
		key := routing.KeyFor(testRealm, routing.KindRPC, "math.add")
		owners := func() []security.NodeID {
			recs, err := caller.dir.Lookup(ctx, key)
			require.NoError(t, err)
			var ids []security.NodeID
			for _, r := range recs {
				ids = append(ids, r.Owner)
			}
			return ids
		}
		calls := func(n int) map[int]int {
			got := map[int]int{}
			for range n {
				rep, err := caller.svc.Call(ctx, "math.add", [2]int{1, 2}, WithPolicy(RoundRobin))
				require.NoError(t, err)
				got[m.index(rep.Provider)]++
			}
			return got
		}
		require.Equal(t, map[int]int{0: 10, 1: 10, 2: 10}, calls(30))
		require.Len(t, owners(), 3)

		// One of two local handlers goes: node 1 still provides.
		require.NoError(t, extra.Unregister())
		require.NoError(t, extra.Unregister(), "idempotent")
		time.Sleep(time.Second)
		require.Len(t, owners(), 3)
		require.Equal(t, map[int]int{0: 10, 1: 10, 2: 10}, calls(30))

		// The last one goes. Calls landing there before the watch tells
		// the caller fail over; then none reaches it.
		require.NoError(t, regs[1].Unregister())
		got := calls(30)
		require.Zero(t, got[1])
		time.Sleep(2 * oneWay) // the watch delay: one one-way trip from the storing nodes
		require.NotContains(t, owners(), m.nodes[1].ID())
		received := m.nodes[1].svc.Stats().Received
		require.Equal(t, map[int]int{0: 30, 2: 30}, calls(60))
		require.Equal(t, received, m.nodes[1].svc.Stats().Received, "no call reached the unregistered node")

		// Registering again brings it back.
		m.register(1, "math.add", addHandler)
		time.Sleep(2 * oneWay)
		require.Len(t, owners(), 3)
		require.Equal(t, map[int]int{0: 10, 1: 10, 2: 10}, calls(30))
	})
}

func TestMaxConcurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t, 3, meshConfig{})
		release := make(chan struct{})
		blocking := func(ctx context.Context, _ *Invocation) (any, error) {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return "done", nil
		}
		m.register(0, "work.one", blocking, WithMaxConcurrent(1))
		ctx := context.Background()
		caller := m.nodes[2].svc
		first := make(chan error, 1)
		go func() {
			_, err := caller.Call(ctx, "work.one", nil)
			first <- err
		}()
		time.Sleep(time.Second)
		_, err := caller.Call(ctx, "work.one", nil)
		var re *RemoteError
		require.ErrorAs(t, err, &re)
		require.Equal(t, "RATE_LIMITED", protocol.CodeName(re.Code))
		require.ErrorIs(t, err, ErrUnavailable)

		// A second provider takes the overflow.
		m.register(1, "work.one", func(context.Context, *Invocation) (any, error) { return "other", nil })
		time.Sleep(time.Second)
		for range 4 {
			rep, err := caller.Call(ctx, "work.one", nil)
			require.NoError(t, err)
			require.Equal(t, m.nodes[1].ID(), rep.Provider)
		}
		close(release)
		require.NoError(t, <-first)
	})
}

func TestCloseCancelsHandlers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t, 4, meshConfig{})
		started := make(chan struct{}, 2)
		handlerErr := make(chan error, 2)
		m.register(0, "work.wait", func(ctx context.Context, _ *Invocation) (any, error) {
			started <- struct{}{}
			<-ctx.Done()
			handlerErr <- ctx.Err()
			return nil, ctx.Err()
		})
		ctx := context.Background()
		caller := m.nodes[3].svc
		errc := make(chan error, 1)
		go func() {
			_, err := caller.Call(ctx, "work.wait", nil)
			errc <- err
		}()
		<-started
		time.Sleep(time.Second) // the caller has the RpcAccept
		require.NoError(t, m.nodes[0].svc.Close())
		require.ErrorIs(t, <-handlerErr, context.Canceled, "Close cancelled the running handler")
		err := <-errc
		require.ErrorIs(t, err, ErrProviderLost, "the call was accepted, so it is not retried")

		// Later calls to the closed node fail over; calls on it fail.
		m.register(1, "work.wait", func(context.Context, *Invocation) (any, error) { return "ok", nil })
		time.Sleep(time.Second)
		for range 4 {
			rep, err := caller.Call(ctx, "work.wait", nil, WithPolicy(RoundRobin))
			require.NoError(t, err)
			require.Equal(t, m.nodes[1].ID(), rep.Provider)
		}
		svc := m.nodes[0].svc
		_, err = svc.Call(ctx, "work.wait", nil)
		require.ErrorIs(t, err, ErrClosed)
		require.ErrorIs(t, svc.Cast(ctx, "work.wait", nil), ErrClosed)
		_, err = svc.CallTo(ctx, m.nodes[1].ID(), "work.wait", nil)
		require.ErrorIs(t, err, ErrClosed)
		_, err = svc.Register(ctx, "work.other", addHandler)
		require.ErrorIs(t, err, ErrClosed)
		require.NoError(t, svc.Close(), "idempotent")
	})
}

func TestIdempotentCallSurvivesProviderClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t, 4, meshConfig{})
		// Round-robin's first turn goes to the lower node ID.
		lo, hi := 0, 1
		if m.nodes[1].ID().Compare(m.nodes[0].ID()) < 0 {
			lo, hi = 1, 0
		}
		started := make(chan struct{})
		m.register(lo, "work.wait", func(ctx context.Context, _ *Invocation) (any, error) {
			close(started)
			<-ctx.Done()
			return nil, ctx.Err()
		})
		m.register(hi, "work.wait", func(context.Context, *Invocation) (any, error) { return "ok", nil })
		type result struct {
			rep *Reply
			err error
		}
		res := make(chan result, 1)
		go func() {
			rep, err := m.nodes[3].svc.Call(context.Background(), "work.wait", nil, WithPolicy(RoundRobin), WithIdempotent())
			res <- result{rep, err}
		}()
		<-started
		require.NoError(t, m.nodes[lo].svc.Close())
		r := <-res
		require.NoError(t, r.err)
		require.Equal(t, m.nodes[hi].ID(), r.rep.Provider, "retried on the other provider")
		require.Equal(t, uint64(1), m.nodes[3].svc.Stats().Failovers)
	})
}
