// Command compare runs the Macula vs NATS comparison and prints it as a
// Markdown table: pub/sub 1 -> 1 at 128 B and 1 KiB, fan-out 1 -> 10,
// request/reply latency and throughput, each on Macula (nodes in this
// process over QUIC on 127.0.0.1), on nats-server with and without TLS
// (child processes, nats.go clients), and on raw quic-go as the ceiling.
//
//	cd benchmarks && go run ./cmd/compare            # what make bench-compare runs
//	go run ./cmd/compare -reps 3 -out table.md -cpuprofile macula-pubsub.pprof
//
// It needs nats-server on PATH; as root it installs Debian's package with
// apt-get when it is missing. Ctrl-C stops it and kills the servers.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/org/macula/benchmarks"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg := benchmarks.DefaultConfig()
	flag.IntVar(&cfg.Reps, "reps", cfg.Reps, "repetitions of each workload on each system")
	flag.IntVar(&cfg.PubSubMsgs128, "msgs-128", cfg.PubSubMsgs128, "messages per pub/sub 1 -> 1 run at 128 B")
	flag.IntVar(&cfg.PubSubMsgs1K, "msgs-1k", cfg.PubSubMsgs1K, "messages per pub/sub 1 -> 1 run at 1 KiB")
	flag.IntVar(&cfg.FanOutSubs, "fanout-subs", cfg.FanOutSubs, "subscribers of the fan-out run")
	flag.IntVar(&cfg.FanOutMsgs, "fanout-msgs", cfg.FanOutMsgs, "messages published per fan-out run (each delivered to every subscriber)")
	flag.IntVar(&cfg.RPCCalls, "rpc-calls", cfg.RPCCalls, "sequential calls per request/reply latency run")
	flag.IntVar(&cfg.RPCCallers, "rpc-callers", cfg.RPCCallers, "concurrent callers of the request/reply throughput run")
	flag.IntVar(&cfg.RPCConcurrentCalls, "rpc-concurrent-calls", cfg.RPCConcurrentCalls, "calls per request/reply throughput run")
	flag.IntVar(&cfg.QUICMsgs128, "quic-msgs-128", cfg.QUICMsgs128, "messages per raw quic-go stream run at 128 B")
	flag.IntVar(&cfg.QUICMsgs1K, "quic-msgs-1k", cfg.QUICMsgs1K, "messages per raw quic-go stream run at 1 KiB")
	flag.IntVar(&cfg.QUICEchoCalls, "quic-echo-calls", cfg.QUICEchoCalls, "echoes per raw quic-go latency run")
	flag.DurationVar(&cfg.RunTimeout, "run-timeout", cfg.RunTimeout, "bound on each single run, set-up included")
	flag.StringVar(&cfg.NATSServer, "nats-server", "", "nats-server binary (default: the one on PATH)")
	flag.BoolVar(&cfg.InstallNATS, "install", cfg.InstallNATS, "install nats-server with apt-get when missing and running as root")
	flag.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of one extra Macula pub/sub 128 B run to this file")
	out := flag.String("out", "", "also write the table to this file")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(flag.Args(), " "))
	}
	cfg.Log = os.Stderr

	// quic-go warns on the standard logger when it cannot get its UDP
	// buffers (as non-root); the figures are what they are either way.
	_ = os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")

	// The first Ctrl-C (or SIGTERM) cancels the runs, and Run's deferred
	// cleanup closes the nodes and kills the nats-servers; a second one
	// kills this process at once (the servers die with it: Pdeathsig).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()

	rep, err := benchmarks.Run(ctx, cfg)
	if err != nil {
		return err
	}
	rep.Command = command()
	table := benchmarks.Table(rep)
	fmt.Print(table)
	if *out != "" {
		if err := os.WriteFile(*out, []byte(table), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// command is this run's command line as one types it in benchmarks/,
// and the make target when it is the default.
func command() string {
	args := os.Args[1:]
	cmd := "cd benchmarks && go run ./cmd/compare"
	if len(args) > 0 {
		cmd += " " + strings.Join(args, " ")
	}
	if os.Getenv("MACULA_BENCH_VIA_MAKE") != "" {
		cmd = "make bench-compare  (" + cmd + ")"
	}
	return cmd
}
