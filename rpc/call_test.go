package rpc

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
)

const invalidArgument = protocol.CodeInvalidArgument

func TestCallsAcrossMesh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t, 30, meshConfig{})
		providers := map[security.NodeID]bool{}
		for _, i := range []int{0, 7, 23} {
			m.register(i, "math.add", addHandler)
			providers[m.nodes[i].ID()] = true
		}
		m.register(5, "math.mul", func(_ context.Context, inv *Invocation) (any, error) {
			var in [2]int
			if err := inv.Decode(&in); err != nil {
				return nil, err
			}
			return in[0] * in[1], nil
		})
		ctx := context.Background()
		for c := 10; c < 20; c++ {
			caller := m.nodes[c]
			for k := range 5 {
				a, b := c*100+k, k*7+1
				rep, err := caller.svc.Call(ctx, "math.add", [2]int{a, b})
				require.NoError(t, err, "caller %d", c)
				var sum int
				require.NoError(t, rep.Decode(&sum))
				require.Equal(t, a+b, sum)
				require.True(t, providers[rep.Provider], "answered by a provider")
				require.NotEqual(t, caller.ID(), rep.Provider)

				rep, err = caller.svc.Call(ctx, "math.mul", [2]int{a, b})
				require.NoError(t, err)
				var prod int
				require.NoError(t, rep.Decode(&prod))
				require.Equal(t, a*b, prod)
				require.Equal(t, m.nodes[5].ID(), rep.Provider)
			}
		}
		var received uint64
		for _, i := range []int{0, 7, 23} {
			received += m.nodes[i].svc.Stats().Received
		}
		require.Equal(t, uint64(50), received, "every add call crossed the network once")
		require.Equal(t, uint64(50), m.nodes[5].svc.Stats().Served)
		st := m.nodes[10].svc.Stats()
		require.Equal(t, uint64(10), st.Calls)
		require.Zero(t, st.Failed)
	})
}

func TestLocalFirstRunsInProcess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t, 4, meshConfig{})
		m.register(0, "math.add", addHandler)
		m.register(1, "math.add", addHandler)
		ctx := context.Background()
		for range 10 {
			rep, err := m.nodes[1].svc.Call(ctx, "math.add", [2]int{1, 2})
			require.NoError(t, err)
			require.Equal(t, m.nodes[1].ID(), rep.Provider)
		}
		require.Zero(t, m.nodes[0].svc.Stats().Received)
		require.Zero(t, m.nodes[1].svc.Stats().Received, "in process, no stream")
		require.Equal(t, uint64(10), m.nodes[1].svc.Stats().Served)

		// Another policy spreads the calls over both, this node included.
		seen := map[security.NodeID]int{}
		for range 10 {
			rep, err := m.nodes[1].svc.Call(ctx, "math.add", [2]int{1, 2}, WithPolicy(RoundRobin))
			require.NoError(t, err)
			seen[rep.Provider]++
		}
		require.Equal(t, map[security.NodeID]int{m.nodes[0].ID(): 5, m.nodes[1].ID(): 5}, seen)
	})
}

func TestNoProviderIsQuick(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t, 12, meshConfig{})
		m.register(3, "math.add", addHandler)
		ctx := context.Background()
		start := time.Now()
		_, err := m.nodes[11].svc.Call(ctx, "math.sub", [2]int{1, 2})
		elapsed := time.Since(start)
		require.ErrorIs(t, err, ErrNoProvider)
		require.Less(t, elapsed, time.Second, "no timeout wait")
		t.Logf("ErrNoProvider after %v of virtual time (first lookup of the key)", elapsed)

		start = time.Now()
		_, err = m.nodes[11].svc.Call(ctx, "math.sub", [2]int{1, 2})
		require.ErrorIs(t, err, ErrNoProvider)
		require.Zero(t, time.Since(start), "answered from the cache")
		require.ErrorIs(t, m.nodes[11].svc.Cast(ctx, "math.sub", nil), ErrNoProvider)

		// Reserved procedures are never looked up: only this node's.
		_, err = m.nodes[11].svc.Call(ctx, "_peer.nothing", nil)
		require.ErrorIs(t, err, ErrNoProvider)
	})
}

func TestPolicies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t, 5, meshConfig{})
		for i := range 3 {
			m.register(i, "math.add", addHandler)
		}
		ctx := context.Background()
		spread := func(caller int, n int, opts ...CallOption) map[int]int {
			got := map[int]int{}
			for range n {
				rep, err := m.nodes[caller].svc.Call(ctx, "math.add", [2]int{1, 1}, opts...)
				require.NoError(t, err)
				got[m.index(rep.Provider)]++
			}
			return got
		}
		// Round-robin spreads evenly.
		got := spread(4, 300, WithPolicy(RoundRobin))
		require.Len(t, got, 3)
		for i, n := range got {
			require.InDelta(t, 100, n, 10, "round-robin: provider %d", i)
		}
		// Local first, with no local handler, is round-robin.
		got = spread(3, 300)
		require.Len(t, got, 3)
		for i, n := range got {
			require.InDelta(t, 100, n, 10, "local first: provider %d", i)
		}
		// Random reaches every provider.
		got = spread(4, 300, WithPolicy(Random))
		require.Len(t, got, 3)
		for i, n := range got {
			require.Greater(t, n, 50, "random: provider %d", i)
		}
	})
}

func TestLeastLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// One-way latencies: providers 1, 10 and 40 ms, the caller 1 ms.
		lat := []time.Duration{time.Millisecond, 10 * time.Millisecond, 40 * time.Millisecond, time.Millisecond}
		m := newMesh(t, 4, meshConfig{latency: func(i int) time.Duration { return lat[i] }})
		for i := range 3 {
			m.register(i, "math.add", addHandler)
		}
		ctx := context.Background()
		caller := m.nodes[3].svc
		for i := range 3 { // connect, so that RTTs are measured
			_, err := caller.CallTo(ctx, m.nodes[i].ID(), "math.add", [2]int{1, 1})
			require.NoError(t, err)
		}
		// Each call draws a pair of the three providers at random and
		// takes the one with the lower RTT: provider 0 wins 2/3 of the
		// calls, provider 1 1/3. With 90 calls, provider 1 drew level with
		// provider 0 (45 to 45) once in a flake hunt, a chance of about
		// 6 in 10,000; with 300 calls (virtual time makes them cheap) it
		// needs 150 against an expected 100 with a standard deviation of
		// 8.2, a chance below 1 in 10^9.
		got := map[int]int{}
		for range 300 {
			rep, err := caller.Call(ctx, "math.add", [2]int{1, 1}, WithPolicy(LeastLatency))
			require.NoError(t, err)
			got[m.index(rep.Provider)]++
		}
		t.Logf("sequential calls per provider: %v", got)
		require.Zero(t, got[2], "the slowest provider loses every pair")
		require.Greater(t, got[0], got[1])
		require.Greater(t, got[1], 0, "the middle one wins its pair with the slowest")

		// With calls piling up in flight on the fastest provider, the
		// others take a share.
		block := make(chan struct{})
		m.register(0, "work.slow", func(ctx context.Context, _ *Invocation) (any, error) {
			<-block
			return "fast", nil
		})
		m.register(1, "work.slow", func(context.Context, *Invocation) (any, error) { return "mid", nil })
		_, err := caller.CallTo(ctx, m.nodes[1].ID(), "work.slow", nil)
		require.NoError(t, err)
		type res struct {
			who string
			err error
		}
		results := make(chan res, 40)
		for range 40 {
			go func() {
				rep, err := caller.Call(ctx, "work.slow", nil, WithPolicy(LeastLatency))
				var who string
				if err == nil {
					err = rep.Decode(&who)
				}
				results <- res{who, err}
			}()
			time.Sleep(5 * time.Millisecond)
		}
		close(block)
		count := map[string]int{}
		for range 40 {
			r := <-results
			require.NoError(t, r.err)
			count[r.who]++
		}
		t.Logf("calls while the fast provider is busy: %v", count)
		require.Greater(t, count["mid"], count["fast"], "in-flight calls count against the fast provider")
	})
}

func TestDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t, 3, meshConfig{})
		handlerErr := make(chan error, 1)
		m.register(0, "work.slow", func(ctx context.Context, _ *Invocation) (any, error) {
			<-ctx.Done()
			handlerErr <- ctx.Err()
			return nil, ctx.Err()
		})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := m.nodes[2].svc.Call(ctx, "work.slow", nil)
		require.Equal(t, 300*time.Millisecond, time.Since(start))
		require.ErrorIs(t, err, ErrTimeout)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		var ne interface{ Timeout() bool }
		require.ErrorAs(t, err, &ne)
		require.True(t, ne.Timeout())
		require.ErrorIs(t, <-handlerErr, context.DeadlineExceeded, "the handler ran with the caller's deadline")
		synctest.Wait()

		// The same in process.
		m.register(2, "work.slow", func(ctx context.Context, _ *Invocation) (any, error) {
			<-ctx.Done()
			handlerErr <- ctx.Err()
			return nil, ctx.Err()
		})
		ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err = m.nodes[2].svc.Call(ctx, "work.slow", nil)
		require.ErrorIs(t, err, ErrTimeout)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.ErrorIs(t, <-handlerErr, context.DeadlineExceeded)
	})
}

func TestCancelledCallerCancelsHandler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t, 3, meshConfig{})
		started := make(chan struct{})
		cancelled := make(chan error, 1)
		m.register(0, "work.wait", func(ctx context.Context, _ *Invocation) (any, error) {
			close(started)
			<-ctx.Done()
			cancelled <- ctx.Err()
			return nil, ctx.Err()
		})
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := m.nodes[1].svc.Call(ctx, "work.wait", nil)
			errc <- err
		}()
		<-started
		time.Sleep(time.Second)
		at := time.Now()
		cancel()
		err := <-errc
		require.ErrorIs(t, err, context.Canceled)
		require.NotErrorIs(t, err, ErrTimeout)
		require.ErrorIs(t, <-cancelled, context.Canceled, "the provider's handler saw the cancellation")
		require.Equal(t, oneWay, time.Since(at), "one one-way trip later")
	})
}

func TestHandlerErrorsAndPanics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t, 3, meshConfig{})
		h := func(_ context.Context, inv *Invocation) (any, error) {
			var what string
			if err := inv.Decode(&what); err != nil {
				return nil, err
			}
			switch what {
			case "panic":
				panic("boom")
			case "invalid":
				return nil, Errorf(invalidArgument, "no %s", what)
			case "plain":
				return nil, errors.New("disk full")
			case "unencodable":
				return make(chan int), nil
			}
			return "ok " + what, nil
		}
		m.register(0, "svc.remote", h)
		m.register(2, "svc.local", h)
		ctx := context.Background()
		for _, caller := range []int{1, 2} { // remote, then in process
			provider, procedure := m.nodes[0].ID(), "svc.remote"
			if caller == 2 {
				provider, procedure = m.nodes[2].ID(), "svc.local"
			}
			func() {
				svc := m.nodes[caller].svc
				call := func(what string) (string, error) {
					rep, err := svc.Call(ctx, procedure, what)
					if err != nil {
						return "", err
					}
					var s string
					require.NoError(t, rep.Decode(&s))
					return s, nil
				}
				_, err := call("panic")
				var re *RemoteError
				require.ErrorAs(t, err, &re)
				require.Equal(t, protocol.CodeInternal, re.Code)
				require.Equal(t, provider, re.Provider)
				got, err := call("after")
				require.NoError(t, err, "the provider keeps serving")
				require.Equal(t, "ok after", got)

				_, err = call("invalid")
				require.ErrorAs(t, err, &re)
				require.Equal(t, invalidArgument, re.Code)
				require.Equal(t, "no invalid", re.Message)
				require.ErrorIs(t, err, &RemoteError{Code: invalidArgument})
				require.ErrorIs(t, err, &protocol.CodeError{Code: invalidArgument})

				_, err = call("plain")
				require.ErrorAs(t, err, &re)
				require.Equal(t, protocol.CodeInternal, re.Code)
				require.Equal(t, "disk full", re.Message)

				_, err = call("unencodable")
				require.ErrorAs(t, err, &re)
				require.Equal(t, protocol.CodeInternal, re.Code)
			}()
		}
		st := m.nodes[0].svc.Stats()
		require.Equal(t, uint64(1), st.Panics)
		require.Equal(t, uint64(4), st.HandlerErrors)
		require.Equal(t, uint64(5), st.Served)
		require.Equal(t, uint64(1), m.nodes[2].svc.Stats().Panics)
		require.Equal(t, uint64(4), m.nodes[1].svc.Stats().Failed)
	})
}

func TestCast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t, 3, meshConfig{})
		got := make(chan string, 3)
		release := make(chan struct{})
		h := func(ctx context.Context, inv *Invocation) (any, error) {
			select {
			case <-release:
			case <-ctx.Done():
			}
			var s string
			_ = inv.Decode(&s)
			got <- fmt.Sprintf("%s cast=%v ctx=%v", s, inv.Cast, ctx.Err())
			return nil, errors.New("dropped")
		}
		m.register(0, "log.write", h)
		m.register(2, "log.write", h)
		ctx, cancel := context.WithCancel(context.Background())
		require.NoError(t, m.nodes[1].svc.Cast(ctx, "log.write", "first")) // connects and looks up
		start := time.Now()
		require.NoError(t, m.nodes[1].svc.Cast(ctx, "log.write", "remote"))
		require.Equal(t, 2*oneWay, time.Since(start), "returns once accepted, one round trip")
		require.NoError(t, m.nodes[2].svc.Cast(ctx, "log.write", "local"))
		cancel() // bounds the Cast only, not the handler
		time.Sleep(time.Second)
		close(release)
		require.ElementsMatch(t, []string{"first cast=true ctx=<nil>", "remote cast=true ctx=<nil>", "local cast=true ctx=<nil>"},
			[]string{<-got, <-got, <-got})
	})
}

func TestCallTo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t, 6, meshConfig{service: func(i int, cfg *Config) {
			if i == 5 {
				cfg.Resolve = func(ctx context.Context, id security.NodeID) ([]string, error) {
					return []string{"10.2.0.4:4433"}, nil // node 3's address
				}
			}
		}})
		for i := range 3 {
			m.register(i, "math.add", addHandler)
		}
		ctx := context.Background()
		caller := m.nodes[4].svc
		for i := range 3 {
			for range 3 {
				rep, err := caller.CallTo(ctx, m.nodes[i].ID(), "math.add", [2]int{i, 1})
				require.NoError(t, err)
				require.Equal(t, m.nodes[i].ID(), rep.Provider)
				var sum int
				require.NoError(t, rep.Decode(&sum))
				require.Equal(t, i+1, sum)
			}
		}
		// A node that does not serve the procedure says so.
		_, err := caller.CallTo(ctx, m.nodes[3].ID(), "math.add", [2]int{1, 1})
		require.ErrorIs(t, err, ErrNoProvider)
		var ce *CallError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, []security.NodeID{m.nodes[3].ID()}, ce.Tried)

		// The health of a node not connected, with no record to give its
		// address, needs Resolve.
		for _, i := range []int{4, 5} {
			_ = m.nodes[i].tr.Disconnect(m.nodes[3].ID(), protocol.CodeOK, "test")
			_ = m.nodes[3].tr.Disconnect(m.nodes[i].ID(), protocol.CodeOK, "test")
		}
		synctest.Wait()
		_, connected := m.nodes[4].tr.Peer(m.nodes[3].ID())
		require.False(t, connected)
		_, err = caller.CallTo(ctx, m.nodes[3].ID(), HealthProcedure, nil)
		require.ErrorIs(t, err, ErrUnavailable)
		rep, err := m.nodes[5].svc.CallTo(ctx, m.nodes[3].ID(), HealthProcedure, nil)
		require.NoError(t, err)
		var h Health
		require.NoError(t, rep.Decode(&h))
		require.Equal(t, m.nodes[3].ID(), h.NodeID)
	})
}

func TestHealth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// After 90 s idle the connection manager has closed the
		// connections: CallTo finds the target's address by Resolve, as a
		// Node does from membership.
		var m *testMesh
		resolve := func(_ context.Context, id security.NodeID) ([]string, error) {
			for _, nd := range m.nodes {
				if nd.id.ID() == id {
					return []string{nd.addr}, nil
				}
			}
			return nil, nil
		}
		m = newMesh(t, 3, meshConfig{service: func(i int, cfg *Config) {
			cfg.Version = fmt.Sprintf("test-%d", i)
			cfg.Resolve = resolve
		}})
		time.Sleep(90 * time.Second)
		ctx := context.Background()
		rep, err := m.nodes[1].svc.CallTo(ctx, m.nodes[2].ID(), HealthProcedure, nil)
		require.NoError(t, err)
		require.Equal(t, "application/json", rep.ContentType)
		var raw map[string]any
		require.NoError(t, rep.Decode(&raw))
		require.Equal(t, m.nodes[2].ID().String(), raw["node_id"])
		require.Equal(t, "test-2", raw["version"])
		require.Equal(t, testRealm, raw["realm"])
		require.GreaterOrEqual(t, raw["uptime"], 90.0)
		require.Less(t, raw["uptime"], 91.0)

		rep, err = m.nodes[1].svc.Call(ctx, HealthProcedure, nil)
		require.NoError(t, err)
		var h Health
		require.NoError(t, rep.Decode(&h))
		require.Equal(t, Health{NodeID: m.nodes[1].ID(), Version: "test-1", Uptime: h.Uptime, Realm: testRealm}, h)
		require.Equal(t, m.nodes[1].ID(), rep.Provider)
		require.Zero(t, m.nodes[1].svc.Stats().Received)
	})
}
