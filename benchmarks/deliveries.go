package benchmarks

import (
	"context"
	"sync/atomic"
	"time"
)

// stallTimeout ends a throughput run whose subscribers have received
// nothing for this long: the missing messages are reported, not waited for.
const stallTimeout = 3 * time.Second

// counter counts one subscriber's deliveries of the measured payload size
// (warm-up messages are shorter and do not count) and notes when the
// target count was reached.
type counter struct {
	size   int
	target int64
	n      atomic.Int64
	doneAt atomic.Int64 // unix nanoseconds of the target-th delivery
	done   chan struct{}
}

func newCounter(size int, target int64) *counter {
	return &counter{size: size, target: target, done: make(chan struct{})}
}

// add counts one delivery of a payload of n bytes; it is called from the
// subscriber's handler.
func (c *counter) add(n int) {
	if n != c.size {
		return
	}
	if c.n.Add(1) == c.target {
		c.doneAt.Store(time.Now().UnixNano())
		close(c.done)
	}
}

// waitDeliveries waits until every counter has reached its target, or
// has received plus dropped (as dropped reports, summed over the
// subscribers) all it expects, or nothing moved for stallTimeout. It
// returns the deliveries and drops summed over the counters and the time
// of the last delivery (observed to within the poll interval when a
// counter fell short).
func waitDeliveries(ctx context.Context, counters []*counter, dropped func() int64) (delivered, drops int64, end time.Time, err error) {
	var expected int64
	for _, c := range counters {
		expected += c.target
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	sum := func() int64 {
		var s int64
		for _, c := range counters {
			s += c.n.Load()
		}
		return s
	}
	lastSum, lastMove := int64(-1), time.Now()
	for {
		allDone := true
		for _, c := range counters {
			select {
			case <-c.done:
			default:
				allDone = false
			}
		}
		if allDone {
			for _, c := range counters {
				if t := time.Unix(0, c.doneAt.Load()); t.After(end) {
					end = t
				}
			}
			return sum(), dropped(), end, nil
		}
		s := sum()
		if s != lastSum {
			lastSum, lastMove = s, time.Now()
		}
		d := dropped()
		if s+d >= expected || time.Since(lastMove) > stallTimeout {
			return s, d, lastMove, nil
		}
		select {
		case <-ctx.Done():
			return s, d, lastMove, ctx.Err()
		case <-tick.C:
		}
	}
}
