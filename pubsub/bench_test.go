package pubsub

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/internal/stacktest"
)

// udpPair starts two nodes on plain UDP sockets of 127.0.0.1 (real
// quic-go, DHT, directory and Service each); node 1 subscribes to
// "bench.*" with a handler counting events, and node 0 has published
// until node 1 received one. Both run in the benchmark's process, so
// allocs/op counts both ends.
func udpPair(b *testing.B) (pub *Service, received *atomic.Int64) {
	b.Helper()
	b.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	nodes := services(b, stacktest.New(b, 2, stacktest.Config{Realm: testRealm, Loopback: true}))
	ctx := context.Background()
	received = new(atomic.Int64)
	_, err := nodes[1].ps.Subscribe(ctx, "bench.*", func(context.Context, *Event) { received.Add(1) }, WithBuffer(1<<16))
	require.NoError(b, err)
	deadline := time.Now().Add(10 * time.Second)
	for received.Load() == 0 {
		require.NoError(b, nodes[0].ps.Publish(ctx, "bench.data", []byte("warm")))
		require.True(b, time.Now().Before(deadline), "the subscriber never received")
		time.Sleep(10 * time.Millisecond)
	}
	return nodes[0].ps, received
}

// BenchmarkPublish publishes 128-byte events from one node to another
// over real QUIC: at most once (each op queues one event; the run ends
// when all arrived) and at least once with 1 and 16 concurrent
// publishers (each op is one acknowledged event).
func BenchmarkPublish(b *testing.B) {
	payload := make([]byte, 128)
	b.Run("AtMostOnce", func(b *testing.B) {
		pub, received := udpPair(b)
		ctx := context.Background()
		target := received.Load() + int64(b.N)
		b.ReportAllocs()
		b.ResetTimer()
		// Not b.Loop, which stops the timer when it ends: the time and
		// allocations of delivering the events count too.
		for range b.N {
			if err := pub.Publish(ctx, "bench.data", payload); err != nil {
				b.Fatal(err)
			}
		}
		deadline := time.Now().Add(time.Minute)
		for received.Load() < target {
			if time.Now().After(deadline) {
				b.Fatalf("received %d of %d", received.Load(), target)
			}
			time.Sleep(time.Millisecond)
		}
	})
	for _, conc := range []int{1, 16} {
		name := "AtLeastOnce"
		if conc > 1 {
			name += "Concurrent16"
		}
		b.Run(name, func(b *testing.B) {
			pub, _ := udpPair(b)
			ctx := context.Background()
			b.ReportAllocs()
			b.SetParallelism((conc + 1) / 2) // 2 cores here
			if conc == 1 {
				for b.Loop() {
					if err := pub.Publish(ctx, "bench.data", payload, WithQoS(AtLeastOnce)); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := pub.Publish(ctx, "bench.data", payload, WithQoS(AtLeastOnce)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
