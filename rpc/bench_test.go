package rpc

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/internal/stacktest"
)

// udpPair starts two nodes on plain UDP sockets of 127.0.0.1, with real
// quic-go, DHT, directory and Service each; node 1 serves "bench.echo",
// which returns its arguments, and node 0 has called it once. It returns
// the caller.
func udpPair(b *testing.B) *Service {
	b.Helper()
	b.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	nodes := services(b, stacktest.New(b, 2, stacktest.Config{Realm: testRealm, Loopback: true}), meshConfig{})
	ctx := context.Background()
	_, err := nodes[1].svc.Register(ctx, "bench.echo", func(_ context.Context, inv *Invocation) (any, error) {
		return inv.Args, nil
	})
	require.NoError(b, err)
	rep, err := nodes[0].svc.Call(ctx, "bench.echo", make([]byte, 128))
	require.NoError(b, err)
	require.Equal(b, nodes[1].ID(), rep.Provider)
	return nodes[0].svc
}

// BenchmarkCallLatency measures one call at a time from one node to
// another over real QUIC on 127.0.0.1, with 128-byte arguments echoed
// back: each op is a full call (stream open, RpcCall, RpcAccept,
// RpcResult). Both ends run in the benchmark's process, so allocs/op
// counts both. p50-us and p99-us are the latency percentiles.
func BenchmarkCallLatency(b *testing.B) {
	caller := udpPair(b)
	ctx := context.Background()
	args := make([]byte, 128)
	lat := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		if _, err := caller.Call(ctx, "bench.echo", args); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(pct(0.50), "p50-us")
	b.ReportMetric(pct(0.99), "p99-us")
}

// BenchmarkCallConcurrent64 measures throughput with 64 callers on one
// node calling the other at once, 128-byte arguments echoed back; calls/s
// is the rate.
func BenchmarkCallConcurrent64(b *testing.B) {
	caller := udpPair(b)
	ctx := context.Background()
	const callers = 64
	b.ReportAllocs()
	b.ResetTimer()
	var (
		wg    sync.WaitGroup
		calls atomic.Int64
		errs  = make(chan error, callers)
	)
	for range callers {
		wg.Go(func() {
			args := make([]byte, 128)
			for calls.Add(1) <= int64(b.N) {
				if _, err := caller.Call(ctx, "bench.echo", args); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}
