package chaos

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/org/macula/meshtest"
)

// settle is how long the workload runs on after the mesh converged again,
// before it stops and the invariants are checked.
const settle = 5 * time.Second

// run runs one scenario in a synctest bubble: the mesh and its workload
// start, faults injects the faults, every fault then ends, convergence is
// measured, the workload stops, and every invariant is checked. It
// returns what the checks found; the caller decides how to fail.
func run(t *testing.T, seed uint64, faults func(w *world)) outcome {
	var o outcome
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, defaultRoles, seed)
		t.Logf("chaos: mesh seed %d (replay the losses and identities with %s=%d)", w.m.Seed(), meshtest.SeedEnv, w.m.Seed())
		faults(w)
		healed := w.calm()
		conv := w.converge(healed)
		time.Sleep(settle)
		w.note("workload stops")
		w.stopWorkload()
		o = w.checkAll(conv)
		if len(o.violations) > 0 {
			w.logTimeline()
		}
	})
	return o
}

// scripted runs a fixed scenario and fails t on any violation.
func scripted(t *testing.T, faults func(w *world)) {
	o := run(t, 0, faults)
	for _, line := range o.checked {
		t.Log(line)
	}
	for _, v := range o.violations {
		t.Error(v)
	}
}

// TestChaosPartitionAndHeal cuts the mesh in two for 10 s, heals it, then
// cuts it along another line for longer than SWIM's detection bound, so
// that each side declares the other dead; the end of the scenario heals
// it.
func TestChaosPartitionAndHeal(t *testing.T) {
	scripted(t, func(w *world) {
		time.Sleep(5 * time.Second)
		w.partition([]int{0, 1, 2}, []int{3, 4, 5})
		time.Sleep(10 * time.Second)
		w.heal()
		time.Sleep(10 * time.Second)
		w.partition([]int{0, 2, 3}, []int{1, 4, 5})
		time.Sleep(45 * time.Second)
	})
}

// TestChaosLoss loses 10 % of all packets for a minute, then 20 % and 30 %
// for 20 s each.
func TestChaosLoss(t *testing.T) {
	scripted(t, func(w *world) {
		w.setLoss(0.10)
		time.Sleep(time.Minute)
		w.setLoss(0.20)
		time.Sleep(20 * time.Second)
		w.setLoss(0.30)
		time.Sleep(20 * time.Second)
	})
}

// TestChaosCrashAndRestart crashes subscribers and providers (members 3 and
// 4 are both) one after the other, and a provider-only and a
// subscriber-only member together, and restarts each.
func TestChaosCrashAndRestart(t *testing.T) {
	scripted(t, func(w *world) {
		time.Sleep(3 * time.Second)
		w.kill(3)
		time.Sleep(10 * time.Second)
		w.restart(3)
		time.Sleep(5 * time.Second)
		w.kill(4)
		time.Sleep(2 * time.Second) // back before SWIM notices
		w.restart(4)
		time.Sleep(10 * time.Second)
		w.kill(2)
		w.kill(5)
		time.Sleep(40 * time.Second) // declared dead everywhere
		w.restart(2)
		w.restart(5)
		time.Sleep(10 * time.Second)
	})
}

// TestChaosRollingRestart restarts every member in turn, gracefully (stop,
// then start again two seconds later), ten seconds apart.
func TestChaosRollingRestart(t *testing.T) {
	scripted(t, func(w *world) {
		for i := range w.roles.nodes {
			time.Sleep(8 * time.Second)
			w.stopNode(i)
			time.Sleep(2 * time.Second)
			w.restart(i)
		}
		time.Sleep(5 * time.Second)
	})
}

// TestChaosFlappingLinks cuts and heals the mesh again and again, along a
// different line each time: 2 s cut, 3 s whole, 12 times, and ends cut.
func TestChaosFlappingLinks(t *testing.T) {
	cuts := [][2][]int{
		{{0, 1, 2}, {3, 4, 5}},
		{{0, 3}, {1, 2, 4, 5}},
		{{2}, {0, 1, 3, 4, 5}},
		{{0, 4, 5}, {1, 2, 3}},
	}
	scripted(t, func(w *world) {
		for i := range 12 {
			c := cuts[i%len(cuts)]
			w.partition(c[0], c[1])
			time.Sleep(2 * time.Second)
			w.heal()
			time.Sleep(3 * time.Second)
		}
		w.partition(cuts[0][0], cuts[0][1])
		time.Sleep(2 * time.Second)
	})
}

// TestChaosSlowNode makes the packets to one subscriber and provider take
// 300 ms (below SWIM's 500 ms probe timeout: slow, not unreachable) for
// 40 s, then pauses another in bursts (800 ms of every 3 s, as a process
// stalled by GC or a noisy neighbour) for 30 s, while the first is slow
// again.
func TestChaosSlowNode(t *testing.T) {
	scripted(t, func(w *world) {
		w.slow(4, 300*time.Millisecond)
		time.Sleep(40 * time.Second)
		w.slow(4, -1)
		time.Sleep(5 * time.Second)
		w.slow(4, 300*time.Millisecond)
		for range 10 {
			w.pause(3)
			time.Sleep(800 * time.Millisecond)
			w.resume(3)
			time.Sleep(2200 * time.Millisecond)
		}
	})
}
