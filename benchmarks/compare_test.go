package benchmarks

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	_ = os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	goleak.VerifyTestMain(m)
}

// smokeConfig runs every workload once with tiny counts.
func smokeConfig(t *testing.T, bin string) Config {
	return Config{
		Reps:               1,
		PubSubMsgs128:      500,
		PubSubMsgs1K:       300,
		FanOutSubs:         10,
		FanOutMsgs:         100,
		RPCCalls:           50,
		RPCCallers:         8,
		RPCConcurrentCalls: 200,
		QUICMsgs128:        2000,
		QUICMsgs1K:         1000,
		QUICEchoCalls:      50,
		RunTimeout:         time.Minute,
		NATSServer:         bin,
		CPUProfile:         filepath.Join(t.TempDir(), "cpu.pprof"),
		Log:                testLog{t},
	}
}

// TestCompareSmoke runs the whole comparison once with tiny counts, on
// Macula, a real nats-server with and without TLS, and raw quic-go, and
// checks that every message was delivered, every latency is positive and
// the table has every row. It fails (does not skip) without nats-server.
func TestCompareSmoke(t *testing.T) {
	bin, err := LookNATSServer()
	if err != nil {
		t.Fatalf("%v (CI installs it in .ci/run)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := smokeConfig(t, bin)
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}

	want := map[string][]System{
		KeyPubSub128:     {Macula, NATSTLS, NATSPlain, RawQUIC},
		KeyPubSub1K:      {Macula, NATSTLS, NATSPlain, RawQUIC},
		KeyFanOut:        {Macula, NATSTLS, NATSPlain},
		KeyRPCLatency:    {Macula, NATSTLS, NATSPlain, RawQUIC},
		KeyRPCConcurrent: {Macula, NATSTLS, NATSPlain},
	}
	if len(rep.Workloads) != len(want) {
		t.Fatalf("%d workloads, want %d", len(rep.Workloads), len(want))
	}
	for _, w := range rep.Workloads {
		res := rep.Results[w.Key]
		for sys := range numSystems {
			if len(res[sys]) > 0 && !contains(want[w.Key], sys) {
				t.Errorf("%s: unexpected results for %s", w.Title, sys)
			}
		}
		for _, sys := range want[w.Key] {
			if len(res[sys]) != cfg.Reps {
				t.Fatalf("%s, %s: %d results, want %d", w.Title, sys, len(res[sys]), cfg.Reps)
			}
			r := res[sys][0]
			if r.Expected == 0 || r.Delivered != r.Expected || r.Dropped != 0 {
				t.Errorf("%s, %s: delivered %d of %d, dropped %d", w.Title, sys, r.Delivered, r.Expected, r.Dropped)
			}
			if r.Elapsed <= 0 || r.Rate() <= 0 {
				t.Errorf("%s, %s: elapsed %v, rate %v", w.Title, sys, r.Elapsed, r.Rate())
			}
			if r.Mallocs == 0 {
				t.Errorf("%s, %s: no allocations counted", w.Title, sys)
			}
			if w.Latency {
				if int64(len(r.Latencies)) != r.Delivered {
					t.Errorf("%s, %s: %d latencies for %d calls", w.Title, sys, len(r.Latencies), r.Delivered)
				}
				for _, l := range r.Latencies {
					if l <= 0 {
						t.Fatalf("%s, %s: latency %v", w.Title, sys, l)
					}
				}
				if p50, p999 := r.Percentile(0.5), r.Percentile(0.999); p50 <= 0 || p999 < p50 {
					t.Errorf("%s, %s: p50 %v, p99.9 %v", w.Title, sys, p50, p999)
				}
			}
		}
	}
	if fi, err := os.Stat(cfg.CPUProfile); err != nil || fi.Size() == 0 {
		t.Errorf("CPU profile not written: %v", err)
	}

	table := Table(rep)
	for _, s := range []string{
		"| pub/sub 1 → 1, 128 B (msg/s) |", "| pub/sub 1 → 1, 1 KiB (msg/s) |",
		"| fan-out 1 → 10, 128 B (deliveries/s) |",
		"| request/reply 128 B, sequential, p50 (µs) |", "| request/reply 128 B, sequential, p99.9 (µs) |",
		"| request/reply 128 B, 8 concurrent callers (calls/s) |",
		"nats-server: v", rep.Machine.GoVersion, "Macula ÷ NATS TLS",
	} {
		if !strings.Contains(table, s) {
			t.Errorf("table lacks %q:\n%s", s, table)
		}
	}
	t.Logf("\n%s", table)
}

// TestFindNATSServerMissing checks the error when nats-server is not on
// PATH and installing is not allowed.
func TestFindNATSServerMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	saved := natsServerFallbacks
	natsServerFallbacks = nil
	t.Cleanup(func() { natsServerFallbacks = saved })
	_, err := FindNATSServer(context.Background(), false, testLog{t})
	if !errors.Is(err, ErrNoNATSServer) || !strings.Contains(err.Error(), "apt-get install -y nats-server") {
		t.Fatalf("got %v, want ErrNoNATSServer with install advice", err)
	}
}

func TestSummaryAndPercentile(t *testing.T) {
	s := summarize([]float64{5, 1, 3, 4, 2})
	if s.Median != 3 || s.Min != 1 || s.Max != 5 || s.N != 5 {
		t.Errorf("summarize odd: %+v", s)
	}
	if s := summarize([]float64{4, 1, 3, 2}); s.Median != 2.5 {
		t.Errorf("summarize even: median %v, want 2.5", s.Median)
	}
	lat := make([]time.Duration, 1000)
	for i := range lat {
		lat[i] = time.Duration(i+1) * time.Microsecond
	}
	r := Result{Latencies: lat}
	for q, want := range map[float64]time.Duration{0.5: 500 * time.Microsecond, 0.99: 990 * time.Microsecond, 0.999: 999 * time.Microsecond, 1: 1000 * time.Microsecond} {
		if got := r.Percentile(q); got != want {
			t.Errorf("p%v = %v, want %v", q*100, got, want)
		}
	}
}

func contains(ss []System, s System) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// testLog writes progress lines to the test log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
