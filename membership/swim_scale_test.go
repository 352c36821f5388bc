package membership_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/membership"
	"github.com/org/macula/security"
)

// swimWave is how many members join at once (see swimMesh.joinAll): no
// more than quic-go queues for a listener. A connection whose handshake
// completes while 32 others wait to be accepted is refused
// (CONNECTION_REFUSED); with waves of 64, the first of which all join
// member 0, 3 of 30 runs failed a join that way. A macula.Node retries its
// bootstrap; these joins do not.
const swimWave = 32

// convergeTimeout bounds, in virtual time, how long after the last join n
// members may take until every member sees every other alive. Gossip
// alone usually does it in seconds, but each member forwards an alive
// message to only 4*ceil(log10(n+1)) random members, so now and then a
// pair of members never hear of each other by gossip (in 5 of 12 runs at
// 50 members, 22 of 67 at 200). Such a pair waits for memberlist's periodic
// full state exchange, in which both sides merge the other's whole view:
// every member starts its first within a random stagger of up to 30 s
// plus the interval, which memberlist scales beyond 32 members (60 s at
// 50, 120 s at 200, 300 s at 10,000). At 200 members those runs converged
// 65 to 149 s after the last join, the others in 6 to 7 s. The bound
// allows the stagger and two intervals, so a member whose first partner
// did not know the missing member either still has a second exchange.
func convergeTimeout(n int) time.Duration {
	cfg := membership.DefaultConfig()
	interval := cfg.PushPullInterval
	if n > 32 {
		interval *= time.Duration(math.Ceil(math.Log2(float64(n)/32)) + 1)
	}
	return cfg.PushPullInterval + 2*interval
}

// startConverged starts n members, joins them and waits until all see all
// alive.
func startConverged(t *testing.T, n int, cfg membership.Config, trace *traceLog) *swimMesh {
	t.Helper()
	sm := newSwimMesh(t, n, cfg, trace)
	sm.joinAll(swimWave)
	var why string
	require.True(t, waitFor(convergeTimeout(n), 100*time.Millisecond, func() bool {
		var ok bool
		ok, why = sm.converged()
		return ok
	}), "not converged: %s", why)
	return sm
}

// spread picks k member indexes spread over n, none of them member 0 (the
// first seed, so the test does not depend on which member that is).
func spread(n, k int) []int {
	out := make([]int, k)
	for i := range out {
		out[i] = i*n/k + n/(2*k)
	}
	return out
}

// TestKilledMembersAreDeadEverywhereAtScale is the 5-of-50 test of
// mesh_test.go at 200 members (swimSize): 5 members crash without leaving,
// and every survivor marks all 5 dead within Config.DetectionBound, and
// not before the shortest suspicion timeout.
func TestKilledMembersAreDeadEverywhereAtScale(t *testing.T) {
	n := swimSize(t)
	synctest.Test(t, func(t *testing.T) {
		cfg := membership.DefaultConfig()
		sm := startConverged(t, n, cfg, nil)

		// DetectionBound: up to n probe intervals until a member's
		// round-robin probe reaches a victim, the longest suspicion
		// timeout (SuspicionMaxTimeoutMult*SuspicionMult*log10(n) probe
		// intervals), and one interval for the death to be gossiped:
		// 256 s at 200 members.
		bound := cfg.DetectionBound(n)
		// A suspect is declared dead no sooner than SuspicionMult*log10(n)
		// probe intervals after the suspicion starts (9.2 s at 200).
		minSuspicion := time.Duration(float64(cfg.SuspicionMult) * math.Log10(float64(n)) * float64(cfg.ProbeInterval))

		victims := spread(n, 5)
		killed := time.Now()
		dead := sm.kill(victims...)
		require.True(t, waitFor(bound, 10*time.Millisecond, func() bool { return sm.allSee(dead, membership.StateDead) }),
			"every survivor marks the 5 killed members dead within %v", bound)
		took := time.Since(killed)
		t.Logf("%d members: all %d survivors saw all 5 dead after %v (virtual); bound %v, shortest suspicion %v",
			n, n-5, took, bound, minSuspicion)
		require.GreaterOrEqual(t, took, minSuspicion)

		var alive []security.NodeID
		for _, nd := range sm.live() {
			alive = append(alive, nd.id)
		}
		require.True(t, sm.allSee(alive, membership.StateAlive), "no survivor is taken for dead or suspect")
		ok, why := sm.converged()
		require.True(t, ok, why)
	})
}

// TestNoFalseDeathsAtScaleUnderTenPercentLoss runs 200 members (swimSize)
// for 5 minutes of virtual time with 10 % of all packets lost, QUIC's
// included: no member may declare a live member dead. Lost probes raise
// suspicions; the suspect must hear of them and refute them in time.
func TestNoFalseDeathsAtScaleUnderTenPercentLoss(t *testing.T) {
	n := swimSize(t)
	synctest.Test(t, func(t *testing.T) {
		cfg := membership.DefaultConfig()
		// Every member's suspicions, refutations and nudges are traced:
		// a failure prints those about the member declared dead.
		trace := newTraceLog()
		sm := startConverged(t, n, cfg, trace)

		ctx, cancel := context.WithCancel(t.Context())
		var (
			mu      sync.Mutex
			fails   []string
			victims = make(map[string]time.Duration) // first declared dead, since the trace began
			events  = make(map[string]int)
		)
		start := time.Now()
		for _, nd := range sm.live() {
			ch := nd.m.Watch(ctx)
			go func() {
				for ev := range ch {
					mu.Lock()
					events[ev.Type.String()]++
					if ev.Type == membership.EventFail {
						fails = append(fails, fmt.Sprintf("member %d declared %s dead after %v", nd.index, ev.Member.ID.Short(), time.Since(start)))
						if _, ok := victims[ev.Member.ID.String()]; !ok {
							victims[ev.Member.ID.String()] = time.Since(trace.start)
						}
					}
					mu.Unlock()
				}
			}()
		}
		before := sm.net.Stats()
		loss := 0.10
		if v := os.Getenv("MACULA_SWIM_LOSS"); v != "" { // to explore the tail
			var err error
			loss, err = strconv.ParseFloat(v, 64)
			require.NoError(t, err)
		}
		sm.net.SetLoss(loss)
		time.Sleep(5 * time.Minute)
		sm.net.SetLoss(0)
		after := sm.net.Stats()
		sent, lost := after.Sent-before.Sent, after.Lost-before.Lost
		// A suspicion raised just before the loss stopped ends, refuted
		// or in a death, within the longest suspicion timeout: keep
		// counting until then (55 s at 200 members).
		time.Sleep(time.Duration(float64(cfg.SuspicionMaxTimeoutMult*cfg.SuspicionMult)*math.Log10(float64(n))*float64(cfg.ProbeInterval)) +
			cfg.ProbeInterval)
		cancel()
		synctest.Wait()

		mu.Lock()
		defer mu.Unlock()
		ps := sm.packetStats()
		t.Logf("%d members, 5 min at %.0f%% loss: %d packets, %d lost (%.2f%%); events %v; %d suspicions sent to the suspect, %d refutations sent to accusers, %d packets dropped as memberlist was behind",
			n, 100*loss, sent, lost, 100*float64(lost)/float64(sent), events, ps.Nudges, ps.Refutations, ps.Dropped)
		require.InDelta(t, loss, float64(lost)/float64(sent), 0.01, "the loss was applied")
		for v, at := range victims {
			words := []string{v}
			for _, nd := range sm.live() {
				if nd.id.String() == v {
					words = append(words, fmt.Sprintf(" m%d ", nd.index))
				}
			}
			t.Logf("trace of %s (member %q), declared dead at %v: the last 400 lines of the 60 s before and 1 s after (members as m<index>, addresses 10.0.x.y are member 256x+y-1):", v[:8], words[1:], at)
			var lines []string
			for _, line := range trace.about(at-time.Minute, at+time.Second, maxTraceLines, words...) {
				if len(words) > 1 && strings.Contains(line, words[1]+"member ") {
					continue // the victim's view of others
				}
				lines = append(lines, line)
			}
			if path := os.Getenv("MACULA_SWIM_TRACE"); path != "" { // the whole window
				require.NoError(t, os.WriteFile(fmt.Sprintf("%s.%s", path, v[:8]), []byte(strings.Join(lines, "\n")+"\n"), 0o644))
			}
			for _, line := range lines[max(0, len(lines)-400):] {
				t.Log(line)
			}
		}
		require.Empty(t, fails, "no live member may be declared dead")
		var everyone []security.NodeID
		for _, nd := range sm.live() {
			everyone = append(everyone, nd.id)
		}
		require.True(t, sm.allSee(everyone, membership.StateAlive), "every member sees every member alive")
	})
}

// TestSWIMConvergenceAtScale joins swimSize members (200; 50 under the race
// detector) and measures until every member sees every member alive: the
// virtual time of the joins and of the convergence after the last join,
// the wall time of each, and the memory. `make sim-scale` runs it with
// MACULA_MEMBERSHIP_NODES set to thousands of members (docs/BENCHMARKS.md);
// MACULA_MEMBERSHIP_HEAPPROFILE=file writes a heap profile once converged.
func TestSWIMConvergenceAtScale(t *testing.T) {
	n := swimSize(t)
	synctest.Test(t, func(t *testing.T) {
		wall0 := wallNow()
		sm := newSwimMesh(t, n, membership.DefaultConfig(), nil)
		wall1, virt1 := wallNow(), time.Now()
		sm.joinAll(swimWave)
		wall2, virt2 := wallNow(), time.Now()
		timeout := convergeTimeout(n)
		var why string
		converged := waitFor(timeout, 100*time.Millisecond, func() bool {
			var ok bool
			ok, why = sm.converged()
			return ok
		})
		wall3, virt3 := wallNow(), time.Now()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if path := os.Getenv("MACULA_MEMBERSHIP_HEAPPROFILE"); path != "" {
			f, err := os.Create(path)
			require.NoError(t, err)
			require.NoError(t, pprof.WriteHeapProfile(f))
			require.NoError(t, f.Close())
		}
		stats := sm.net.Stats()
		sent, delivered := stats.Sent, stats.NonQUIC
		ps := sm.packetStats()
		read := sm.rawRead()
		t.Logf("%d members: start %v wall; joins %v virtual, %v wall; converged %v (virtual) after the last join, %v wall",
			n, wall1.Sub(wall0).Round(time.Millisecond), virt2.Sub(virt1), wall2.Sub(wall1).Round(time.Millisecond),
			virt3.Sub(virt2), wall3.Sub(wall2).Round(time.Millisecond))
		t.Logf("%d members: peak RSS %.2f GB, heap in use %.2f GB (%.0f bytes per member per member), %d goroutines",
			n, float64(peakRSS())/1e9, float64(ms.HeapInuse)/1e9, float64(ms.HeapInuse)/float64(n)/float64(n), runtime.NumGoroutine())
		// Gossip that reaches a socket but not membership was dropped by
		// quic-go's queue of 32 raw packets per socket: the receiving
		// node's reader did not get the CPU in time.
		t.Logf("%d members: %d packets on the network; gossip sent %d, delivered to sockets %d, read %d, taken by memberlist %d "+
			"(%d dropped as memberlist was behind)", n, sent, ps.Sent, delivered, read, ps.Received, ps.Dropped)
		require.True(t, converged, "not converged %v after the last join: %s", timeout, why)
	})
}

// TestBuiltRefutationIsMemberlistsAliveMessage checks the alive message a
// member builds to send its refutation straight to its accusers
// (liveness.go) against the one memberlist itself sent about the member:
// decoded and encoded again at the same incarnation, with the member's
// metadata, it is the same bytes.
func TestBuiltRefutationIsMemberlistsAliveMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sm := startConverged(t, 3, membership.DefaultConfig(), nil)
		for _, nd := range sm.live() {
			// Members may converge by state exchange before a member's
			// own alive message has gone out by gossip.
			var sent, rebuilt []byte
			require.True(t, waitFor(10*time.Second, 100*time.Millisecond, func() bool {
				sent, rebuilt = membership.RebuiltSelfAliveForTest(nd.m)
				return len(sent) > 0
			}), "member %d sends an alive message about itself after it joins", nd.index)
			require.Equal(t, sent, rebuilt, "member %d", nd.index)
		}
	})
}
