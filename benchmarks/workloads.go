package benchmarks

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// runFunc runs one workload once on one system.
type runFunc func(ctx context.Context, e *env) (Result, error)

// env is what the runs share: the configuration, the certificate and the
// two nats-servers.
type env struct {
	cfg      Config
	cert     *testCert
	natsTLS  *natsServer
	natsTCP  *natsServer
	pair     *maculaMesh // 2 nodes, started on first use
	fan      *maculaMesh // 1 + FanOutSubs nodes, started on first use
	topics   int
	profiled io.Writer // non-nil only for the profiling run
}

// mesh returns *m, starting a mesh of n nodes into it on first use.
func (e *env) mesh(ctx context.Context, m **maculaMesh, n int) (*maculaMesh, error) {
	if *m == nil {
		mesh, err := startMaculaMesh(ctx, n)
		if err != nil {
			return nil, err
		}
		*m = mesh
	}
	return *m, nil
}

// topic returns a topic no earlier run used, so that no subscription of
// an earlier run matches.
func (e *env) topic() string {
	e.topics++
	return fmt.Sprintf("bench.run%d", e.topics)
}

// close closes the Macula meshes, both at once.
func (e *env) close() {
	var wg sync.WaitGroup
	for _, m := range []*maculaMesh{e.pair, e.fan} {
		if m != nil {
			wg.Go(m.Close)
		}
	}
	wg.Wait()
}

// maculaPubSub runs the pub/sub workload on the mesh *m of n nodes.
func (e *env) maculaPubSub(ctx context.Context, m **maculaMesh, n, size, msgs int) (Result, error) {
	mesh, err := e.mesh(ctx, m, n)
	if err != nil {
		return Result{}, err
	}
	return maculaPubSub(ctx, mesh, e.topic(), size, msgs, e.profiled)
}

type workload struct {
	Workload
	runs [numSystems]runFunc
}

// workloads lists the comparison's workloads with each system's run.
func workloads(cfg Config) []workload {
	nats := func(f func(context.Context, *natsServer) (Result, error)) (tlsRun, plainRun runFunc) {
		return func(ctx context.Context, e *env) (Result, error) { return f(ctx, e.natsTLS) },
			func(ctx context.Context, e *env) (Result, error) { return f(ctx, e.natsTCP) }
	}
	var ws []workload
	for _, ps := range []struct {
		key, title string
		size       int
		msgs, raw  int
	}{
		{KeyPubSub128, "pub/sub 1 → 1, 128 B", 128, cfg.PubSubMsgs128, cfg.QUICMsgs128},
		{KeyPubSub1K, "pub/sub 1 → 1, 1 KiB", 1024, cfg.PubSubMsgs1K, cfg.QUICMsgs1K},
	} {
		w := workload{Workload: Workload{Key: ps.key, Title: ps.title, Unit: "msg/s", OpName: "delivered event"}}
		w.runs[Macula] = func(ctx context.Context, e *env) (Result, error) {
			return e.maculaPubSub(ctx, &e.pair, 2, ps.size, ps.msgs)
		}
		w.runs[NATSTLS], w.runs[NATSPlain] = nats(func(ctx context.Context, s *natsServer) (Result, error) {
			return natsPubSub(ctx, s, 1, ps.size, ps.msgs)
		})
		w.runs[RawQUIC] = func(ctx context.Context, e *env) (Result, error) {
			return quicThroughput(ctx, e.cert, ps.size, ps.raw)
		}
		ws = append(ws, w)
	}

	fan := workload{Workload: Workload{
		Key: KeyFanOut, Title: fmt.Sprintf("fan-out 1 → %d, 128 B", cfg.FanOutSubs),
		Unit: "deliveries/s", OpName: "delivery",
	}}
	fan.runs[Macula] = func(ctx context.Context, e *env) (Result, error) {
		return e.maculaPubSub(ctx, &e.fan, cfg.FanOutSubs+1, 128, cfg.FanOutMsgs)
	}
	fan.runs[NATSTLS], fan.runs[NATSPlain] = nats(func(ctx context.Context, s *natsServer) (Result, error) {
		return natsPubSub(ctx, s, cfg.FanOutSubs, 128, cfg.FanOutMsgs)
	})
	ws = append(ws, fan)

	lat := workload{Workload: Workload{Key: KeyRPCLatency, Title: "request/reply 128 B, sequential", Latency: true, OpName: "call"}}
	lat.runs[Macula] = func(ctx context.Context, e *env) (Result, error) {
		mesh, err := e.mesh(ctx, &e.pair, 2)
		if err != nil {
			return Result{}, err
		}
		return maculaRequestLatency(ctx, mesh, 128, cfg.RPCCalls)
	}
	lat.runs[NATSTLS], lat.runs[NATSPlain] = nats(func(ctx context.Context, s *natsServer) (Result, error) {
		return natsRequestLatency(ctx, s, 128, cfg.RPCCalls)
	})
	lat.runs[RawQUIC] = func(ctx context.Context, e *env) (Result, error) {
		return quicEchoLatency(ctx, e.cert, 128, cfg.QUICEchoCalls)
	}
	ws = append(ws, lat)

	conc := workload{Workload: Workload{
		Key: KeyRPCConcurrent, Title: fmt.Sprintf("request/reply 128 B, %d concurrent callers", cfg.RPCCallers),
		Unit: "calls/s", OpName: "call",
	}}
	conc.runs[Macula] = func(ctx context.Context, e *env) (Result, error) {
		mesh, err := e.mesh(ctx, &e.pair, 2)
		if err != nil {
			return Result{}, err
		}
		return maculaRequestConcurrent(ctx, mesh, 128, cfg.RPCCallers, cfg.RPCConcurrentCalls)
	}
	conc.runs[NATSTLS], conc.runs[NATSPlain] = nats(func(ctx context.Context, s *natsServer) (Result, error) {
		return natsRequestConcurrent(ctx, s, 128, cfg.RPCCallers, cfg.RPCConcurrentCalls)
	})
	ws = append(ws, conc)
	return ws
}

// measureSequential makes calls calls one after the other and records
// each one's latency, with the rate and allocations of the whole run.
func measureSequential(calls int, call func() error) (Result, error) {
	lat := make([]time.Duration, 0, calls)
	allocs := startAllocs()
	start := time.Now()
	for range calls {
		t0 := time.Now()
		if err := call(); err != nil {
			return Result{}, err
		}
		lat = append(lat, time.Since(t0))
	}
	elapsed := time.Since(start)
	return Result{
		Expected: int64(calls), Delivered: int64(calls), Elapsed: elapsed,
		Mallocs: allocs.stop(), Latencies: sortLatencies(lat),
	}, nil
}

// measureConcurrent makes calls calls from callers goroutines (see
// concurrently) and measures their rate and allocations.
func measureConcurrent(ctx context.Context, callers, calls, size int, call func(context.Context, []byte) error) (Result, error) {
	allocs := startAllocs()
	start := time.Now()
	done, err := concurrently(ctx, callers, calls, call, size)
	elapsed := time.Since(start)
	mallocs := allocs.stop()
	if err != nil {
		return Result{}, err
	}
	return Result{Expected: int64(calls), Delivered: done, Elapsed: elapsed, Mallocs: mallocs}, nil
}

// concurrently runs call calls times from callers goroutines, each with
// its own argument buffer of size bytes, and returns how many succeeded
// and the first error.
func concurrently(ctx context.Context, callers, calls int, call func(context.Context, []byte) error, size int) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		next     atomic.Int64
		done     atomic.Int64
		firstErr error
		errOnce  sync.Once
	)
	for range callers {
		wg.Go(func() {
			args := make([]byte, size)
			for next.Add(1) <= int64(calls) {
				if err := call(ctx, args); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	return done.Load(), firstErr
}
