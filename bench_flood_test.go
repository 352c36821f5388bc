package macula_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/org/macula"
)

// BenchmarkRPCUnderFlood measures an honest node's RPC latency to a
// victim node, first unloaded, then while a third member floods the
// victim with DHT queries at a hundred times its query rate, and keeps
// flooding (dialing again) whatever the answers. All of it runs in this
// process, on loopback UDP. It reports the p50 and p99 of both phases and
// the ratio of the p99s (the acceptance: within 2x), and the
// flood's rate. b.N calls are made in each phase: run it with
// -benchtime=20000x or so.
//
//   - limits: banning off, so the flooder stays connected and what is
//     measured is the cost of refusing its queries;
//   - ban: the default strikes, so the flooder is banned within a
//     fraction of a second, and its dials are refused from then on;
//   - bystander: the control. The same flood goes to a fourth node that
//     the calls do not touch, so the victim refuses nothing: what this
//     ratio shows is the flooder's own CPU, and the other node's,
//     competing with the call path on the machine's cores, which a
//     flooder elsewhere would not.
func BenchmarkRPCUnderFlood(b *testing.B) {
	const queryRate = 20 // per second; the flood is 100x that
	for _, bc := range []struct {
		name      string
		strikes   int
		bystander bool
	}{
		{"limits", macula.NoLimit, false},
		{"ban", 0, false},
		{"bystander", 0, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			victim := startNode(b, macula.WithLimits(macula.Limits{
				QueryRate: queryRate, QueryBurst: queryRate, StrikeLimit: bc.strikes,
			}))
			if _, err := victim.Register(ctx, "svc.echo", func(_ context.Context, inv *macula.Invocation) (any, error) {
				return append([]byte(nil), inv.Args...), nil
			}); err != nil {
				b.Fatal(err)
			}
			honest := startNode(b)
			if err := honest.Join(ctx, victim.URI()); err != nil {
				b.Fatal(err)
			}
			payload := make([]byte, 128)
			call := func() time.Duration {
				start := time.Now()
				if _, err := honest.Call(ctx, "svc.echo", payload); err != nil {
					b.Fatal(err)
				}
				return time.Since(start)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				if _, err := honest.Call(ctx, "svc.echo", payload); err == nil {
					break
				} else if time.Now().After(deadline) {
					b.Fatal(err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			for range 200 { // warm up: pooled streams, directory
				call()
			}

			b.ResetTimer()
			unloaded := make([]time.Duration, b.N)
			for i := range unloaded {
				unloaded[i] = call()
			}

			f := newFlooder(b)
			floodCtx, stopFlood := context.WithCancel(ctx)
			floodStart := time.Now()
			counts := make(chan *floodCounts, 1)
			target := victim
			if bc.bystander {
				target = startNode(b, macula.WithLimits(macula.Limits{QueryRate: queryRate, QueryBurst: queryRate, StrikeLimit: bc.strikes}))
			}
			go func() { counts <- f.flood(floodCtx, target, 100*queryRate, 16, false) }()
			time.Sleep(200 * time.Millisecond) // the flood is under way (and, with bans, the ban is near)
			flooded := make([]time.Duration, b.N)
			for i := range flooded {
				flooded[i] = call()
			}
			stopFlood()
			c := <-counts
			floodTime := time.Since(floodStart)
			b.StopTimer()

			p := func(d []time.Duration, q float64) float64 {
				slices.Sort(d)
				return float64(d[int(float64(len(d)-1)*q)].Microseconds())
			}
			b.ReportMetric(p(unloaded, 0.5), "p50-unloaded-µs")
			b.ReportMetric(p(unloaded, 0.99), "p99-unloaded-µs")
			b.ReportMetric(p(flooded, 0.5), "p50-flood-µs")
			b.ReportMetric(p(flooded, 0.99), "p99-flood-µs")
			b.ReportMetric(p(flooded, 0.99)/p(unloaded, 0.99), "p99-ratio")
			b.ReportMetric(float64(c.sent.Load())/floodTime.Seconds(), "flood-req/s")
			abuse := victim.AbuseStats()
			b.ReportMetric(float64(abuse.QueriesRefused), "refused")
			b.ReportMetric(float64(abuse.Limits.Bans), "bans")
		})
	}
}
