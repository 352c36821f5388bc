// Package scale starts many full nodes in one process on real loopback
// QUIC and measures how the mesh forms: convergence time, connections,
// memory and goroutines per node, messaging across the mesh, and Close
// times. The root package's scale test and `make bench-scale` use it.
package scale

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/org/macula"
)

// Config says what to run.
type Config struct {
	// Nodes is how many nodes start; each joins a random earlier one.
	Nodes int
	// Realm is the nodes' realm (default "org.example.scale").
	Realm string
	// Converge bounds the wait for every node to see every other alive.
	Converge time.Duration
	// Seed seeds the choice of join targets.
	Seed uint64
	// Options are added to every node's options.
	Options []macula.Option
	// Log, if set, receives progress lines.
	Log func(format string, args ...any)
	// Subscribers, Events and Calls size Mesh.Messaging: Subscribers
	// nodes (default 10, at most Nodes-1) each receive Events
	// at-least-once events (default 100) from one other node, and Calls
	// calls (default 50) reach a procedure on one node from random others.
	Subscribers, Events, Calls int
	// OnSlowJoin, if set, is called (on its own goroutine) when a join
	// has taken 10 s and is still running, with the joining node's index:
	// a hook for diagnostics such as a goroutine dump.
	OnSlowJoin func(i int)
	// OpTimeout bounds each Subscribe, Publish, Register and Call of
	// Messaging, and the wait for missing deliveries (default
	// DefaultOpTimeout). Generous: the harness measures, and a loaded
	// two-core machine running hundreds of nodes is slow.
	OpTimeout time.Duration
}

// Result is what a run measured.
type Result struct {
	Nodes        int           // nodes started
	StartTook    time.Duration // starting and joining every node
	ConvergeTook time.Duration // from the last join until all see all alive
	Converged    bool          // every node saw every node alive in time
	// Footprint is read by Measure, after the idle period.
	Footprint

	// Pub/sub across the mesh (Mesh.Messaging): PubSubSubscribers nodes
	// each subscribe, one other node publishes PubSubEvents at-least-once
	// events, and PubSubExpected = subscribers × events deliveries are
	// due. PubSubDelivered counts distinct (subscriber, event) pairs
	// delivered; PubSubDuplicates the handler calls beyond the first of a
	// pair. PubSubProbes is how many probe events the publisher sent
	// before every subscriber had seen one (1 when the subscriptions were
	// known to it at once); PubSubPublishErrors the publishes that failed.
	// PubSubTook runs from the first publish to the last distinct
	// delivery (to giving up when deliveries are missing).
	PubSubSubscribers, PubSubEvents, PubSubExpected int           // the plan
	PubSubDelivered, PubSubDuplicates               int           // what arrived
	PubSubProbes, PubSubPublishErrors               int           // what it took
	PubSubTook                                      time.Duration // how long

	// AfterMessaging is read at the end of Messaging, without idling: a
	// node that publishes or calls watches the topic's or procedure's
	// DHT records on the nodes storing them, over connections that stay
	// while the watch does.
	AfterMessaging Footprint

	// RPC (Mesh.Messaging): RPCCalls sequential calls from random nodes
	// to a procedure registered on one other node, RPCOK of them answered
	// by that node with the arguments echoed; the median (upper, for an
	// even count) and largest latency of the successful ones.
	RPCCalls, RPCOK   int           // calls made, calls answered
	RPCMedian, RPCMax time.Duration // latencies

	// CloseAll is how long Mesh.Close took for every node at once; the
	// caller sets it from Close's return value.
	CloseAll time.Duration
	// Close is filled by MeasureClose (two-node meshes), not by Start.
	Close CloseTimes
}

// Footprint is what the mesh holds at one moment.
type Footprint struct {
	// Connections per node: min, median, max.
	ConnMin, ConnMedian, ConnMax int
	// HeapPerNode (Go heap in use) and GoroutinesPerNode are the
	// process's totals divided by the node count.
	HeapPerNode       uint64  // bytes
	GoroutinesPerNode float64 // goroutines
	// RSSPerNode and PeakRSSPerNode are the process's resident set
	// (VmRSS) and its peak so far (VmHWM) divided by the node count:
	// unlike the Go heap they include stacks, runtime overhead and memory
	// the runtime has not returned. Zero where /proc/self/status cannot
	// be read.
	RSSPerNode, PeakRSSPerNode uint64
}

// Mesh is a running set of nodes. Messaging draws on the mesh's seeded
// random source, so two calls must not overlap.
type Mesh struct {
	Nodes []*macula.Node // in the order they started

	cfg  Config
	rng  *rand.Rand
	logf func(format string, args ...any)
}

// Close closes every node concurrently and returns how long it took.
func (m *Mesh) Close() time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	for _, n := range m.Nodes {
		wg.Go(func() { _ = n.Close() })
	}
	wg.Wait()
	return time.Since(start)
}

// Start starts cfg.Nodes nodes, each joining a random earlier one, and
// waits for every node to see all of them alive (up to cfg.Converge).
// The caller closes the returned Mesh, also on error.
func Start(ctx context.Context, cfg Config) (*Mesh, Result, error) {
	if cfg.Realm == "" {
		cfg.Realm = "org.example.scale"
	}
	if cfg.Subscribers <= 0 {
		cfg.Subscribers = 10
	}
	// The publisher is a node of its own.
	cfg.Subscribers = min(cfg.Subscribers, cfg.Nodes-1)
	if cfg.Events <= 0 {
		cfg.Events = 100
	}
	if cfg.Calls <= 0 {
		cfg.Calls = 50
	}
	if cfg.OpTimeout <= 0 {
		cfg.OpTimeout = DefaultOpTimeout
	}
	logf := cfg.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 1))
	m := &Mesh{cfg: cfg, rng: rng, logf: logf}
	res := Result{Nodes: cfg.Nodes}
	start := time.Now()
	// Progress every 100 nodes, with the cores the process kept busy
	// since the last report: joins slow down when that nears the machine's
	// core count.
	lastAt := start
	lastCPU, _ := ProcessCPU()
	for i := range cfg.Nodes {
		opts := append([]macula.Option{macula.WithRealm(cfg.Realm), macula.WithListenAddr("127.0.0.1:0")}, cfg.Options...)
		n, err := macula.New(opts...)
		if err != nil {
			return m, res, fmt.Errorf("node %d: %w", i, err)
		}
		m.Nodes = append(m.Nodes, n)
		if i == 0 {
			continue
		}
		target := m.Nodes[rng.IntN(i)]
		// Generous: the harness measures; a join slower than a second is
		// logged.
		jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		jstart := time.Now()
		var slow *time.Timer
		if cfg.OnSlowJoin != nil {
			slow = time.AfterFunc(10*time.Second, func() { cfg.OnSlowJoin(i) })
		}
		err = n.Join(jctx, target.Addr().String())
		cancel()
		if slow != nil {
			slow.Stop()
		}
		if d := time.Since(jstart); d > time.Second {
			logf("node %d: join took %v", i, d)
		}
		if err != nil {
			return m, res, fmt.Errorf("node %d joining node %s: %w", i, target.ID().Short(), err)
		}
		if (i+1)%100 == 0 {
			now := time.Now()
			cpu, _ := ProcessCPU()
			logf("%d nodes started (%v; last 100 in %v, %.2f cores busy)", i+1, now.Sub(start).Round(time.Millisecond),
				now.Sub(lastAt).Round(time.Millisecond), float64(cpu-lastCPU)/float64(now.Sub(lastAt)))
			lastAt, lastCPU = now, cpu
		}
	}
	res.StartTook = time.Since(start)
	joined := time.Now()
	deadline := joined.Add(cfg.Converge)
	// Reading every node's member list costs N² member copies, which at
	// 1,000 nodes is a garbage-collection load of its own; so each poll
	// walks only up to the first node still missing members, and a full
	// pass confirms convergence (or finds the node to wait on next).
	next := 0
	for {
		for next < len(m.Nodes) && alive(m.Nodes[next]) == cfg.Nodes {
			next++
		}
		if next == len(m.Nodes) {
			next = slices.IndexFunc(m.Nodes, func(n *macula.Node) bool { return alive(n) < cfg.Nodes })
			if next < 0 {
				res.Converged = true
				break
			}
		}
		if time.Now().After(deadline) {
			lagging := 0
			for _, n := range m.Nodes {
				if alive(n) < cfg.Nodes {
					lagging++
				}
			}
			logf("%d nodes still miss members after %v", lagging, cfg.Converge)
			break
		}
		select {
		case <-ctx.Done():
			return m, res, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	res.ConvergeTook = time.Since(joined)
	if !res.Converged {
		return m, res, errors.New("scale: the mesh did not converge")
	}
	return m, res, nil
}

// alive counts the members n sees alive, itself included.
func alive(n *macula.Node) int {
	c := 0
	for _, mem := range n.Members() {
		if mem.State == macula.MemberAlive {
			c++
		}
	}
	return c
}

// Measure fills the connection, memory and goroutine figures of res
// (res.Footprint).
func (m *Mesh) Measure(res *Result) { res.Footprint = m.footprint() }

// footprint reads the connections, memory and goroutines now.
func (m *Mesh) footprint() Footprint {
	var f Footprint
	counts := make([]int, len(m.Nodes))
	for i, n := range m.Nodes {
		counts[i] = len(n.Peers())
	}
	slices.Sort(counts)
	f.ConnMin, f.ConnMedian, f.ConnMax = counts[0], counts[len(counts)/2], counts[len(counts)-1]
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	f.HeapPerNode = ms.HeapInuse / uint64(len(m.Nodes))
	f.GoroutinesPerNode = float64(runtime.NumGoroutine()) / float64(len(m.Nodes))
	if rss, peak, err := ProcessRSS(); err == nil {
		f.RSSPerNode, f.PeakRSSPerNode = rss/uint64(len(m.Nodes)), peak/uint64(len(m.Nodes))
	} else {
		m.logf("no RSS: %v", err)
	}
	return f
}
