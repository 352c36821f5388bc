package macula_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/org/macula"
	"github.com/org/macula/routing"
	"github.com/org/macula/security"
)

// BenchmarkRPCUnderFlood measures an honest node's RPC latency to a
// victim node, first unloaded, then while a third member floods the
// victim with DHT queries at a hundred times its query rate and keeps
// flooding (dialing again) whatever the answers. The victim and the
// honest node run in this process, on loopback UDP. It reports the p50
// and p99 of both phases, the ratio of the p99s (the acceptance:
// within 2x) and the flood's rate. b.N calls are made in each phase: run
// it with -benchtime=20000x or so.
//
// What is flooded:
//   - limits: the victim, with banning off, so the flooder stays
//     connected and what is measured is the cost of refusing its queries;
//   - ban: the victim, with the default strikes, so the flooder is banned
//     within a fraction of a second and its dials are refused from then
//     on;
//   - bystander: the control, a fourth node that the calls do not touch,
//     so the victim refuses nothing: this ratio is the flooder's CPU,
//     and the bystander's, competing with the call path for the cores.
//
// Where the flooder runs:
//   - inproc: in this process, competing for the same cores at the same
//     priority, as no remote flooder would;
//   - idle: in a child process in Linux's idle scheduling class (chrt
//     --idle; without chrt the child runs at normal priority and the
//     flooder-idle metric is 0), so that it takes only CPU the victim and
//     the honest node leave, as a flooder on another machine would take
//     none of theirs. The victim's own work on the flood is unchanged.
func BenchmarkRPCUnderFlood(b *testing.B) {
	const queryRate = 20 // per second; the flood is 100x that
	for _, where := range []string{"inproc", "idle"} {
		for _, bc := range []struct {
			name      string
			strikes   int
			bystander bool
		}{
			{"limits", macula.NoLimit, false},
			{"ban", 0, false},
			{"bystander", 0, true},
		} {
			b.Run(where+"/"+bc.name, func(b *testing.B) {
				benchmarkRPCUnderFlood(b, queryRate, bc.strikes, bc.bystander, where == "idle")
			})
		}
	}
}

func benchmarkRPCUnderFlood(b *testing.B, queryRate float64, strikes int, bystander, child bool) {
	ctx := context.Background()
	limits := macula.WithLimits(macula.Limits{QueryRate: queryRate, QueryBurst: int(queryRate), StrikeLimit: strikes})
	victim := startNode(b, limits)
	if _, err := victim.Register(ctx, "svc.echo", func(_ context.Context, inv *macula.Invocation) (any, error) {
		return append([]byte(nil), inv.Args...), nil
	}); err != nil {
		b.Fatal(err)
	}
	honest := startNode(b)
	if err := honest.Join(ctx, victim.URI()); err != nil {
		b.Fatal(err)
	}
	target := victim
	if bystander {
		target = startNode(b, limits)
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
		_, err := honest.Call(ctx, "svc.echo", payload)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
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

	floodStart := time.Now()
	var stop func() int64
	idle := 0.0
	if child {
		c := startFloodChild(b, target, 100*queryRate, 16)
		stop = c.stop
		if c.idle {
			idle = 1
		}
	} else {
		f := newFlooder(b)
		floodCtx, stopFlood := context.WithCancel(ctx)
		counts := make(chan *floodCounts, 1)
		go func() { counts <- f.flood(floodCtx, target, 100*queryRate, 16, false) }()
		stop = func() int64 { stopFlood(); return (<-counts).sent.Load() }
	}
	time.Sleep(200 * time.Millisecond) // the flood is under way (and, with bans, the ban is near)
	flooded := make([]time.Duration, b.N)
	for i := range flooded {
		flooded[i] = call()
	}
	sent := stop()
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
	b.ReportMetric(float64(sent)/floodTime.Seconds(), "flood-req/s")
	abuse := target.AbuseStats()
	b.ReportMetric(float64(abuse.QueriesRefused), "refused")
	b.ReportMetric(float64(abuse.Limits.Bans), "bans")
	if child {
		b.ReportMetric(idle, "flooder-idle")
	}
}

// floodChildEnv, set in a child process of the test binary, makes
// TestMain run a flooder instead of the tests; its value says whom to
// flood: "<node-id> <host:port> <queries per second> <workers>".
const floodChildEnv = "MACULA_FLOOD_CHILD"

// floodChild is a flooder in a child process of the test binary.
type floodChild struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   bytes.Buffer
	idle  bool // in the idle scheduling class
}

// startFloodChild starts a child process flooding target, in the idle
// scheduling class when chrt is installed. It is stopped by stop, or at
// the end of the benchmark.
func startFloodChild(b *testing.B, target *macula.Node, perSecond float64, workers int) *floodChild {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	c := &floodChild{}
	args := []string{exe}
	if chrt, err := exec.LookPath("chrt"); err == nil {
		args, c.idle = append([]string{chrt, "--idle", "0"}, args...), true
	}
	c.cmd = exec.Command(args[0], args[1:]...)
	c.cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %g %d", floodChildEnv, target.ID(), target.Addr(), perSecond, workers))
	c.cmd.Stdout, c.cmd.Stderr = &c.out, os.Stderr
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		b.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			_ = c.cmd.Wait()
		}
	})
	return c
}

// stop ends the flood (the child stops at the end of its stdin) and
// returns how many queries the child sent.
func (c *floodChild) stop() int64 {
	_ = c.stdin.Close()
	if err := c.cmd.Wait(); err != nil {
		panic(fmt.Sprintf("flood child: %v: %s", err, c.out.String()))
	}
	n, err := strconv.ParseInt(strings.TrimSpace(c.out.String()), 10, 64)
	if err != nil {
		panic(fmt.Sprintf("flood child printed %q", c.out.String()))
	}
	return n
}

// runFloodChild is the main of a flood child (see floodChildEnv): it
// floods until its stdin ends, then prints how many queries it sent.
func runFloodChild(spec string) int {
	var idText, addr string
	var perSecond float64
	var workers int
	if _, err := fmt.Sscan(spec, &idText, &addr, &perSecond, &workers); err != nil {
		fmt.Fprintln(os.Stderr, "flood child:", err)
		return 2
	}
	id, err := security.ParseNodeID(idText)
	if err != nil {
		fmt.Fprintln(os.Stderr, "flood child:", err)
		return 2
	}
	f, err := startFlooder()
	if err != nil {
		fmt.Fprintln(os.Stderr, "flood child:", err)
		return 1
	}
	defer f.tr.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	c := f.floodContact(ctx, routing.Contact{ID: id, Addrs: []string{addr}}, perSecond, workers, false)
	fmt.Println(c.sent.Load())
	return 0
}
