package macula_test

import (
	"context"
	"testing"
	"time"

	"github.com/org/macula/meshtest"
)

// closePair starts two nodes on loopback UDP, node 1 bootstrapping from
// node 0, and waits until both see both alive.
func closePair(tb testing.TB) *meshtest.Mesh {
	tb.Helper()
	m := meshtest.New(tb, 2, meshtest.OverUDP(), meshtest.WithBootstrapTo(0))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.WaitConverged(ctx); err != nil {
		tb.Fatal(err)
	}
	return m
}

// BenchmarkCloseTwoNodeMesh: Close of one node of a 2-node mesh on real
// loopback UDP, the other alive (ms/close is the mean).
func BenchmarkCloseTwoNodeMesh(b *testing.B) {
	var total time.Duration
	for range b.N {
		b.StopTimer()
		m := closePair(b)
		time.Sleep(1500 * time.Millisecond) // probes run both ways
		b.StartTimer()
		start := time.Now()
		if err := m.Stop(1); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		m.Close()
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/close")
}

// BenchmarkCloseAfterPeerCrash: Close of a node whose only peer went
// silent (paused: it neither sends nor reads) 3 s earlier, long enough for
// the node to be probing it and to suspect it.
func BenchmarkCloseAfterPeerCrash(b *testing.B) {
	var total time.Duration
	for range b.N {
		b.StopTimer()
		m := closePair(b)
		m.Pause(1)
		time.Sleep(3 * time.Second)
		b.StartTimer()
		start := time.Now()
		if err := m.Stop(0); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		m.Close()
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/close")
}
