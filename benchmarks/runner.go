package benchmarks

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"time"
)

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
