package benchmarks

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"sync"
	"time"
)

// System is one of the compared systems.
type System int

// The compared systems, in the order each repetition runs them.
const (
	// Macula is Macula nodes in this process over QUIC on 127.0.0.1.
	Macula System = iota
	// NATSTLS is nats.go connections to a nats-server child with TLS.
	NATSTLS
	// NATSPlain is nats.go connections to a nats-server child without TLS.
	NATSPlain
	// RawQUIC is bare quic-go with TLS: the ceiling for Macula.
	RawQUIC
	numSystems
)

// String names the system as the table does.
func (s System) String() string {
	switch s {
	case Macula:
		return "Macula"
	case NATSTLS:
		return "NATS (TLS)"
	case NATSPlain:
		return "NATS (plain)"
	case RawQUIC:
		return "raw quic-go"
	}
	return fmt.Sprintf("System(%d)", int(s))
}

// Config sets the sizes of a comparison. Counts are per repetition.
type Config struct {
	// Reps is how many times each workload runs on each system.
	Reps int
	// PubSubMsgs128 and PubSubMsgs1K are the messages published in the
	// 1 -> 1 pub/sub runs at 128 B and 1 KiB.
	PubSubMsgs128, PubSubMsgs1K int
	// FanOutSubs and FanOutMsgs are the subscribers and the messages
	// published (each delivered FanOutSubs times) of the fan-out run.
	FanOutSubs, FanOutMsgs int
	// RPCCalls is the number of sequential calls of the latency run.
	RPCCalls int
	// RPCCallers and RPCConcurrentCalls are the concurrent callers and
	// their calls in all of the request/reply throughput run.
	RPCCallers, RPCConcurrentCalls int
	// QUICMsgs128 and QUICMsgs1K are the messages of the raw quic-go
	// stream runs; QUICEchoCalls the echoes of its latency run.
	QUICMsgs128, QUICMsgs1K, QUICEchoCalls int
	// RunTimeout bounds each single run, set-up included.
	RunTimeout time.Duration
	// NATSServer is the nats-server binary; empty: found on PATH (see
	// InstallNATS).
	NATSServer string
	// InstallNATS lets Run install nats-server with apt-get when it is
	// missing and this process runs as root.
	InstallNATS bool
	// CPUProfile, when set, is where a CPU profile of one extra Macula
	// pub/sub 128 B run (not counted in the results) is written; it covers
	// the publishing and delivery only, not the set-up.
	CPUProfile string
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// DefaultConfig is the configuration of make bench-compare: about three
// to five minutes on a 2-core machine.
func DefaultConfig() Config {
	return Config{
		Reps:               5,
		PubSubMsgs128:      300_000,
		PubSubMsgs1K:       200_000,
		FanOutSubs:         10,
		FanOutMsgs:         30_000,
		RPCCalls:           5_000,
		RPCCallers:         64,
		RPCConcurrentCalls: 20_000,
		QUICMsgs128:        1_000_000,
		QUICMsgs1K:         300_000,
		QUICEchoCalls:      5_000,
		RunTimeout:         2 * time.Minute,
		InstallNATS:        true,
	}
}

// Workload describes one compared workload.
type Workload struct {
	// Key identifies it in Report.Results.
	Key string
	// Title is its name in the table.
	Title string
	// Unit is what its rate counts per second (rate workloads).
	Unit string
	// Latency marks a latency workload, reported as percentiles.
	Latency bool
	// OpName is what one operation is in the allocation table.
	OpName string
}

// Keys of the workloads.
const (
	KeyPubSub128     = "pubsub-128"
	KeyPubSub1K      = "pubsub-1k"
	KeyFanOut        = "fanout"
	KeyRPCLatency    = "rpc-latency"
	KeyRPCConcurrent = "rpc-concurrent"
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

// Report is the outcome of Run.
type Report struct {
	// Config is the configuration it ran with.
	Config Config
	// Machine is where it ran.
	Machine Machine
	// Command is the command line to show in the table's header.
	Command string
	// Workloads are the workloads, in table order.
	Workloads []Workload
	// Results holds every run: Results[workload key][system], one per
	// repetition. Systems without a run for a workload have none.
	Results map[string][numSystems][]Result
	// Duration is the wall time of the whole comparison.
	Duration time.Duration
	// LoadAvgEnd is /proc/loadavg when it ended.
	LoadAvgEnd string
}

// Run runs every workload cfg.Reps times on every system, alternating
// the systems within each repetition (Macula, NATS with TLS, NATS
// without, raw quic-go; then the next workload). It starts two
// nats-server children (with and without TLS) and kills them before it
// returns, also when ctx is cancelled.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	began := time.Now()
	log := cfg.Log
	if log == nil {
		log = io.Discard
	}
	if cfg.Reps < 1 {
		return nil, fmt.Errorf("reps must be at least 1, got %d", cfg.Reps)
	}
	if cfg.RunTimeout <= 0 {
		cfg.RunTimeout = DefaultConfig().RunTimeout
	}
	bin := cfg.NATSServer
	if bin == "" {
		var err error
		if bin, err = FindNATSServer(ctx, cfg.InstallNATS, log); err != nil {
			return nil, err
		}
	}
	rep := &Report{Config: cfg, Machine: DescribeMachine(), Results: make(map[string][numSystems][]Result)}
	var err error
	if rep.Machine.NATSServer, err = NATSServerVersion(ctx, bin); err != nil {
		return nil, err
	}

	dir, err := os.MkdirTemp("", "macula-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	e := &env{cfg: cfg}
	if e.cert, err = newTestCert(dir); err != nil {
		return nil, err
	}
	if e.natsTLS, err = startNATSServer(ctx, bin, e.cert); err != nil {
		return nil, err
	}
	defer e.natsTLS.Close()
	if e.natsTCP, err = startNATSServer(ctx, bin, nil); err != nil {
		return nil, err
	}
	defer e.natsTCP.Close()
	defer e.close()
	fmt.Fprintf(log, "nats-server %s: %s (TLS) and %s (plain)\n", rep.Machine.NATSServer, e.natsTLS.url, e.natsTCP.url)

	ws := workloads(cfg)
	for _, w := range ws {
		rep.Workloads = append(rep.Workloads, w.Workload)
	}
	for r := 1; r <= cfg.Reps; r++ {
		for _, w := range ws {
			for sys := range numSystems {
				run := w.runs[sys]
				if run == nil {
					continue
				}
				res, err := runOnce(ctx, cfg.RunTimeout, run, e)
				if err != nil {
					return nil, fmt.Errorf("rep %d, %s, %s: %w%s", r, w.Title, sys, err, serverLog(e, sys))
				}
				all := rep.Results[w.Key]
				all[sys] = append(all[sys], res)
				rep.Results[w.Key] = all
				fmt.Fprintf(log, "rep %d/%d  %-42s %-12s %s\n", r, cfg.Reps, w.Title, sys, describe(w.Workload, res))
			}
		}
	}
	if cfg.CPUProfile != "" {
		if err := profileMaculaPubSub(ctx, cfg, e, log); err != nil {
			return nil, err
		}
	}
	rep.Duration = time.Since(began)
	rep.LoadAvgEnd = loadAvg()
	return rep, nil
}

func runOnce(ctx context.Context, timeout time.Duration, run runFunc, e *env) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return run(ctx, e)
}

// serverLog is the output of the nats-server a failed NATS run used.
func serverLog(e *env, sys System) string {
	var s *natsServer
	switch sys {
	case NATSTLS:
		s = e.natsTLS
	case NATSPlain:
		s = e.natsTCP
	default:
		return ""
	}
	if out := s.out.String(); out != "" {
		return "\nnats-server and nats.go output:\n" + out
	}
	return ""
}

// profileMaculaPubSub runs Macula pub/sub 1 -> 1 at 128 B once more with
// the CPU profiler on during publishing and delivery.
func profileMaculaPubSub(ctx context.Context, cfg Config, e *env, log io.Writer) error {
	f, err := os.Create(cfg.CPUProfile)
	if err != nil {
		return err
	}
	e.profiled = f
	res, err := runOnce(ctx, cfg.RunTimeout, func(ctx context.Context, e *env) (Result, error) {
		return e.maculaPubSub(ctx, &e.pair, 2, 128, cfg.PubSubMsgs128)
	}, e)
	e.profiled = nil
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("profiled Macula pub/sub run: %w", err)
	}
	fmt.Fprintf(log, "profiled Macula pub/sub 128 B run (not counted): %s; CPU profile in %s\n", describe(Workload{Unit: "msg/s"}, res), cfg.CPUProfile)
	return nil
}

// startProfile starts the CPU profiler writing to w, when w is not nil,
// and returns the function that stops it.
func startProfile(w io.Writer) (stop func(), err error) {
	if w == nil {
		return func() {}, nil
	}
	if err := pprof.StartCPUProfile(w); err != nil {
		return nil, err
	}
	return pprof.StopCPUProfile, nil
}

// describe is a progress line's summary of one result.
func describe(w Workload, r Result) string {
	if w.Latency {
		return fmt.Sprintf("p50 %s  p99 %s  p999 %s  (%d calls, %.1f allocs/call)",
			fmtMicros(r.Percentile(0.50)), fmtMicros(r.Percentile(0.99)), fmtMicros(r.Percentile(0.999)), r.Delivered, r.AllocsPerOp())
	}
	s := fmt.Sprintf("%s %s  (%d/%d in %.2f s, %.1f allocs/op)", fmtRate(r.Rate()), w.Unit, r.Delivered, r.Expected, r.Elapsed.Seconds(), r.AllocsPerOp())
	if r.Dropped > 0 || r.Delivered+r.Dropped < r.Expected {
		s += fmt.Sprintf("  DROPPED %d, MISSING %d", r.Dropped, r.Expected-r.Delivered-r.Dropped)
	}
	return s
}
