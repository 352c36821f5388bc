// Command benchscale starts N full nodes on loopback QUIC in one process
// and prints how the mesh formed, what it costs per node, how pub/sub and
// RPC fare across it, and how long Close takes (make bench-scale N=...).
// The last line is a row of the docs/BENCHMARKS.md "Mesh scale" table,
// extended by the columns of scale.MarkdownHeader.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/org/macula"
	"github.com/org/macula/internal/scale"
)

func main() {
	n := flag.Int("n", 200, "nodes")
	converge := flag.Duration("converge", 2*time.Minute, "longest wait for convergence")
	idle := flag.Duration("idle", 10*time.Second, "idle time before counting connections and memory")
	closeReps := flag.Int("close-reps", 3, "two-node meshes per Close measurement (graceful, peer crashed)")
	seed := flag.Uint64("seed", 0, "seed of the random choices (join targets, subscribers, publisher, provider, callers)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	slowJoinDump := flag.String("slow-join-dump", "", "write every goroutine's stack to this file when a join has run 10 s (once)")
	gossipInterval := flag.Duration("gossip-interval", 0, "membership gossip interval (0: the default)")
	gossipNodes := flag.Int("gossip-nodes", 0, "members each gossip round goes to (0: the default)")
	flag.Parse()
	// stopProfile ends the CPU profile, if any: on return, and before
	// os.Exit, which skips deferred calls.
	stopProfile := func() {}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		stopProfile = func() {
			pprof.StopCPUProfile()
			_ = f.Close()
		}
	}
	defer stopProfile()
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var opts []macula.Option
	if *gossipInterval > 0 || *gossipNodes > 0 {
		var mc macula.MembershipConfig // zero fields take the defaults
		if *gossipInterval > 0 {
			mc.GossipInterval = *gossipInterval
		}
		if *gossipNodes > 0 {
			mc.GossipNodes = *gossipNodes
		}
		opts = append(opts, macula.WithMembershipConfig(mc))
	}
	var onSlowJoin func(int)
	if *slowJoinDump != "" {
		var once sync.Once
		onSlowJoin = func(i int) {
			once.Do(func() {
				f, err := os.Create(*slowJoinDump)
				if err != nil {
					fmt.Println("slow-join dump:", err)
					return
				}
				defer f.Close()
				fmt.Printf("node %d: join still running after 10 s; goroutines written to %s\n", i, *slowJoinDump)
				_ = pprof.Lookup("goroutine").WriteTo(f, 2)
			})
		}
	}
	if err := run(ctx, *n, *converge, *idle, *closeReps, *seed, opts, onSlowJoin); err != nil {
		fmt.Println("error:", err)
		stop()
		stopProfile()
		os.Exit(1)
	}
}

func run(ctx context.Context, n int, converge, idle time.Duration, closeReps int, seed uint64, opts []macula.Option, onSlowJoin func(int)) error {
	logf := func(f string, a ...any) { fmt.Printf(f+"\n", a...) }
	m, res, err := scale.Start(ctx, scale.Config{Nodes: n, Converge: converge, Seed: seed, Log: logf, Options: opts, OnSlowJoin: onSlowJoin})
	fmt.Printf("start+join: %v, convergence: %v (converged %v)\n", res.StartTook.Round(time.Millisecond), res.ConvergeTook.Round(time.Millisecond), res.Converged)
	if err != nil {
		m.Close()
		return err
	}
	idleFrom := time.Now()
	cpuFrom, cpuErr := scale.ProcessCPU()
	select {
	case <-ctx.Done():
		m.Close()
		return ctx.Err()
	case <-time.After(idle):
	}
	if cpuTo, err := scale.ProcessCPU(); err == nil && cpuErr == nil {
		busy := float64(cpuTo-cpuFrom) / float64(time.Since(idleFrom))
		fmt.Printf("CPU while idle: %.2f cores busy (%.0f µs per node per second)\n", busy, busy*1e6/float64(n))
	}
	m.Measure(&res)
	fmt.Printf("connections per node after %v idle: min %d median %d max %d\n", idle, res.ConnMin, res.ConnMedian, res.ConnMax)
	fmt.Printf("per node: Go heap %.2f MB, RSS %.2f MB (peak %.2f MB), goroutines %.1f\n",
		float64(res.HeapPerNode)/1e6, float64(res.RSSPerNode)/1e6, float64(res.PeakRSSPerNode)/1e6, res.GoroutinesPerNode)

	// Messaging runs after the counts above, which it would change (the
	// publisher and callers dial the nodes they reach).
	msgErr := m.Messaging(ctx, &res)
	fmt.Printf("pub/sub: %d subscriber nodes, %d at-least-once events: %d of %d deliveries in %v, %d duplicates, %d publish errors, %d probes before publishing\n",
		res.PubSubSubscribers, res.PubSubEvents, res.PubSubDelivered, res.PubSubExpected, res.PubSubTook.Round(time.Millisecond),
		res.PubSubDuplicates, res.PubSubPublishErrors, res.PubSubProbes)
	fmt.Printf("rpc: %d of %d calls answered, latency median %v, max %v\n",
		res.RPCOK, res.RPCCalls, res.RPCMedian.Round(time.Microsecond), res.RPCMax.Round(time.Microsecond))
	am := res.AfterMessaging
	fmt.Printf("right after messaging: connections per node min %d median %d max %d; per node: Go heap %.2f MB, RSS %.2f MB, goroutines %.1f\n",
		am.ConnMin, am.ConnMedian, am.ConnMax, float64(am.HeapPerNode)/1e6, float64(am.RSSPerNode)/1e6, am.GoroutinesPerNode)
	if msgErr != nil {
		fmt.Println("messaging error:", msgErr)
	}

	res.CloseAll = m.Close()
	fmt.Printf("close all: %v\n", res.CloseAll.Round(time.Millisecond))

	// After the mesh is gone, so that its nodes do not slow these down.
	res.Close, err = scale.MeasureClose(ctx, closeReps)
	fmt.Printf("Close in a 2-node mesh: graceful %v, once the crashed peer is suspected %v\n", res.Close.Graceful, res.Close.AfterCrash)
	if err != nil {
		return err
	}
	// The peak after the idle period can be below the run's: messaging and
	// closing allocate too.
	if _, peak, err := scale.ProcessRSS(); err == nil {
		fmt.Printf("process peak RSS over the whole run: %.1f MB\n", float64(peak)/1e6)
	}
	fmt.Println()
	fmt.Println(scale.MarkdownHeader)
	fmt.Println(res.MarkdownRow())
	return msgErr
}
