package macula_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/org/macula"
)

// benchMesh starts n nodes on real UDP sockets of 127.0.0.1, joined to
// node 0, and waits until every node knows all members.
func benchMesh(b *testing.B, n int) []*macula.Node {
	b.Helper()
	nodes := make([]*macula.Node, n)
	var err error
	nodes[0], err = macula.New(macula.WithListenAddr("127.0.0.1:0"))
	if err != nil {
		b.Fatal(err)
	}
	for i := 1; i < n; i++ {
		nodes[i], err = macula.New(macula.WithListenAddr("127.0.0.1:0"), macula.WithBootstrap(nodes[0].Addr().String()))
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() {
		var wg sync.WaitGroup
		for _, nd := range nodes {
			wg.Go(func() { _ = nd.Close() })
		}
		wg.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		for _, nd := range nodes {
			if len(nd.Members()) != n {
				ok = false
			}
		}
		if ok {
			return nodes
		}
		if time.Now().After(deadline) {
			b.Fatal("mesh did not converge")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// counter is a subscription handler that counts events and signals when
// a target count is reached.
type counter struct {
	n      atomic.Int64
	target atomic.Int64
	done   chan struct{}
	once   sync.Once
}

func newCounter() *counter { return &counter{done: make(chan struct{})} }

func (c *counter) handle(context.Context, *macula.Event) {
	if c.n.Add(1) == c.target.Load() {
		c.once.Do(func() { close(c.done) })
	}
}

// subscribeAndWarm subscribes every subscriber node and publishes until
// each has received an event, so the publisher's directory is warm.
func subscribeAndWarm(b *testing.B, pub *macula.Node, subs []*macula.Node, topic string) []*counter {
	b.Helper()
	ctx := context.Background()
	counters := make([]*counter, len(subs))
	for i, s := range subs {
		counters[i] = newCounter()
		if _, err := s.Subscribe(ctx, "bench.*", counters[i].handle, macula.WithBuffer(1<<20)); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := pub.Publish(ctx, topic, []byte("warm")); err != nil {
			b.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		warm := true
		for _, c := range counters {
			if c.n.Load() == 0 {
				warm = false
			}
		}
		if warm {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("subscribers never received")
		}
	}
	time.Sleep(50 * time.Millisecond)
	return counters
}

// runThroughput publishes b.N events of size bytes from pub and waits
// until every subscriber received them all; it reports events/s
// (delivered per second, summed over subscribers) and drops.
func runThroughput(b *testing.B, pub *macula.Node, counters []*counter, size int) {
	payload := make([]byte, size)
	ctx := context.Background()
	for _, c := range counters {
		c.target.Store(c.n.Load() + int64(b.N))
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if err := pub.Publish(ctx, "bench.data", payload); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range counters {
		select {
		case <-c.done:
		case <-time.After(time.Minute):
			b.Fatalf("delivered %d of %d", c.n.Load(), c.target.Load())
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N*len(counters))/elapsed.Seconds(), "events/s")
}

// BenchmarkPubSubThroughput: one publisher, one subscriber on another
// node, at-most-once; allocations per op cover both nodes (one process).
func BenchmarkPubSubThroughput(b *testing.B) {
	for _, size := range []int{128, 1024} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			nodes := benchMesh(b, 2)
			counters := subscribeAndWarm(b, nodes[0], nodes[1:], "bench.data")
			runThroughput(b, nodes[0], counters, size)
		})
	}
}

// BenchmarkPubSubFanOut10: one publisher, ten subscriber nodes, 128 B.
func BenchmarkPubSubFanOut10(b *testing.B) {
	nodes := benchMesh(b, 11)
	counters := subscribeAndWarm(b, nodes[0], nodes[1:], "bench.data")
	runThroughput(b, nodes[0], counters, 128)
}

// BenchmarkPubSubLatency measures publish-to-delivery time, one event at
// a time, 128 B, and reports its p50 and p99.
func BenchmarkPubSubLatency(b *testing.B) {
	nodes := benchMesh(b, 2)
	ctx := context.Background()
	arrived := make(chan time.Time, 1)
	if _, err := nodes[1].Subscribe(ctx, "lat.*", func(context.Context, *macula.Event) { arrived <- time.Now() }); err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 128)
	for {
		if err := nodes[0].Publish(ctx, "lat.x", payload); err != nil {
			b.Fatal(err)
		}
		select {
		case <-arrived:
		case <-time.After(50 * time.Millisecond):
			continue
		}
		break
	}
	var lat []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		if err := nodes[0].Publish(ctx, "lat.x", payload); err != nil {
			b.Fatal(err)
		}
		select {
		case at := <-arrived:
			lat = append(lat, at.Sub(start))
		case <-time.After(5 * time.Second):
			b.Fatal("event lost")
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
