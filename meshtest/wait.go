package meshtest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/org/macula"
)

// pollInterval is how often the waits check their condition: virtual
// time on simnet.
const pollInterval = 10 * time.Millisecond

// WaitFor checks cond every 10 ms until it holds or timeout passes, and
// reports whether it held. On simnet the time is virtual.
func (m *Mesh) WaitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(pollInterval)
	}
}

// WaitConverged waits until membership has converged: every live member
// (running and not paused) sees every other live member alive. Killed,
// stopped and paused members are not waited for, whatever the others
// think of them. It returns nil once converged, or, when ctx ends first,
// an error that wraps ctx's and names what some members still miss. Give
// ctx a deadline: a mesh partitioned for good never converges.
func (m *Mesh) WaitConverged(ctx context.Context) error {
	for {
		lag := m.lagging()
		if lag == "" {
			return nil
		}
		t := time.NewTimer(pollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("meshtest: not converged: %s: %w", lag, ctx.Err())
		case <-t.C:
		}
	}
}

// lagging describes the first few views that miss a live member alive,
// or returns "" if there are none.
func (m *Mesh) lagging() string {
	type live struct {
		index int
		node  *macula.Node
	}
	var nodes []live
	m.mu.Lock()
	for _, mem := range m.members {
		if mem.node != nil && !mem.paused {
			nodes = append(nodes, live{mem.Index, mem.node})
		}
	}
	m.mu.Unlock()
	var missing []string
	total := 0
	for _, a := range nodes {
		for _, b := range nodes {
			if a.index == b.index {
				continue
			}
			mem, ok := a.node.Member(b.node.ID())
			if ok && mem.State == macula.MemberAlive {
				continue
			}
			total++
			if len(missing) < 5 {
				state := "unknown"
				if ok {
					state = mem.State.String()
				}
				missing = append(missing, fmt.Sprintf("member %d sees member %d %s", a.index, b.index, state))
			}
		}
	}
	if total == 0 {
		return ""
	}
	return fmt.Sprintf("%d views of %d live members lag (%s)", total, len(nodes), strings.Join(missing, "; "))
}
