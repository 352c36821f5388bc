package chaos

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// ciChecks is how many random scenarios TestChaosRandom runs unless
// -rapid.checks (or RAPID_CHECKS) says otherwise: make test's budget.
// make chaos-long runs as many as fit in its time.
const ciChecks = 12

// maxSteps bounds the faults of one random scenario.
const maxSteps = 4

// fault is one step of a random scenario: a fault held for a while,
// undone, then a quiet gap.
type fault struct {
	kind   string
	slot   int   // kill, stop, pause, slow
	side   []int // partition, flap: one side of the cut
	loss   float64
	delay  time.Duration // slow
	cycles int           // flap
	hold   time.Duration
	gap    time.Duration
}

func (f fault) String() string {
	var what string
	switch f.kind {
	case "partition":
		what = fmt.Sprintf("partition %v from the rest", f.side)
	case "flap":
		what = fmt.Sprintf("flap %v from the rest %d times (cut %v, whole %v)", f.side, f.cycles, f.hold, f.hold)
	case "loss":
		what = fmt.Sprintf("loss %.0f%%", 100*f.loss)
	case "slow":
		what = fmt.Sprintf("slow %d (%v one way)", f.slot, f.delay)
	default:
		what = fmt.Sprintf("%s %d", f.kind, f.slot)
	}
	if f.kind != "flap" {
		what += fmt.Sprintf(" for %v", f.hold)
	}
	return what + fmt.Sprintf(", then %v quiet", f.gap)
}

// faultGen draws one fault for a mesh of n members.
func faultGen(n int) *rapid.Generator[fault] {
	return rapid.Custom(func(t *rapid.T) fault {
		f := fault{kind: rapid.SampledFrom([]string{"partition", "flap", "loss", "kill", "stop", "pause", "slow"}).Draw(t, "kind")}
		secs := func(label string, lo, hi int) time.Duration {
			return time.Duration(rapid.IntRange(lo, hi).Draw(t, label)) * time.Second
		}
		switch f.kind {
		case "partition", "flap":
			mask := rapid.IntRange(1, 1<<n-2).Draw(t, "side") // neither no one nor everyone
			for i := range n {
				if mask&(1<<i) != 0 {
					f.side = append(f.side, i)
				}
			}
		case "loss":
			f.loss = float64(rapid.IntRange(1, 6).Draw(t, "loss5")) * 0.05 // 5 % to 30 %
		default:
			f.slot = rapid.IntRange(0, n-1).Draw(t, "slot")
		}
		switch f.kind {
		case "flap":
			f.cycles = rapid.IntRange(2, 8).Draw(t, "cycles")
			f.hold = secs("hold", 1, 3)
		case "pause":
			f.hold = time.Duration(rapid.IntRange(2, 100).Draw(t, "hold100ms")) * 100 * time.Millisecond
		case "slow":
			f.delay = time.Duration(rapid.IntRange(1, 8).Draw(t, "delay50ms")) * 50 * time.Millisecond
			f.hold = secs("hold", 5, 40)
		default:
			f.hold = secs("hold", 1, 45)
		}
		f.gap = secs("gap", 0, 10)
		return f
	})
}

// run injects f into w, holds it, undoes it and waits the gap.
func (f fault) run(w *world) {
	rest := func() []int {
		var out []int
		for i := range w.roles.nodes {
			if !containsInt(f.side, i) {
				out = append(out, i)
			}
		}
		return out
	}
	switch f.kind {
	case "partition":
		w.partition(f.side, rest())
		time.Sleep(f.hold)
		w.heal()
	case "flap":
		for range f.cycles {
			w.partition(f.side, rest())
			time.Sleep(f.hold)
			w.heal()
			time.Sleep(f.hold)
		}
	case "loss":
		w.setLoss(f.loss)
		time.Sleep(f.hold)
		w.setLoss(0)
	case "kill":
		w.kill(f.slot)
		time.Sleep(f.hold)
		w.restart(f.slot)
	case "stop":
		w.stopNode(f.slot)
		time.Sleep(f.hold)
		w.restart(f.slot)
	case "pause":
		w.pause(f.slot)
		time.Sleep(f.hold)
		w.resume(f.slot)
	case "slow":
		w.slow(f.slot, f.delay)
		time.Sleep(f.hold)
		w.slow(f.slot, -1)
	}
	time.Sleep(f.gap)
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestChaosRandom draws random scenarios of up to maxSteps faults
// (partitions, flapping links, 5-30 % loss, crashes, graceful stops,
// pauses, slow members; each held up to 45 s, then undone) and checks
// every invariant after each. A failing scenario is shrunk by rapid,
// which prints the -rapid.seed (and writes a fail file under
// testdata/rapid) that replays it: the plan and the mesh's seed are both
// drawn from it.
func TestChaosRandom(t *testing.T) {
	n := defaultRoles.nodes
	rapid.Check(t, func(rt *rapid.T) {
		seed := rapid.Uint64Range(1, math.MaxUint64).Draw(rt, "meshSeed")
		plan := rapid.SliceOfN(faultGen(n), 1, maxSteps).Draw(rt, "plan")
		lines := make([]string, len(plan))
		for i, f := range plan {
			lines[i] = fmt.Sprintf("  %d. %v", i+1, f)
		}
		t.Logf("chaos: random scenario, mesh seed %d:\n%s", seed, strings.Join(lines, "\n"))
		o := run(t, seed, func(w *world) {
			for _, f := range plan {
				f.run(w)
			}
		})
		for _, line := range o.checked {
			t.Log(line)
		}
		if len(o.violations) > 0 {
			rt.Fatalf("%d invariant violations in the scenario (mesh seed %d):\n%s\n%s",
				len(o.violations), seed, strings.Join(lines, "\n"), strings.Join(o.violations, "\n"))
		}
	})
}
