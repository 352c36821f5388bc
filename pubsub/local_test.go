package pubsub

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// benchRegistry returns a registry with n subscriptions without a group,
// one in ten matching "orders.eu.created", with queues that never fill.
func benchRegistry(b *testing.B, n int) *registry {
	r := newRegistry()
	for i := range n {
		pattern := fmt.Sprintf("other%d.*", i)
		if i%10 == 0 {
			pattern = "orders.*.created"
		}
		r.add(&Subscription{pattern: pattern, queue: make(chan delivery, 1)})
	}
	return r
}

func BenchmarkDeliver(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			r := benchRegistry(b, n)
			ev := &Event{Topic: "orders.eu.created"}
			b.ReportAllocs()
			for b.Loop() {
				r.deliver(ev, nil, nil)
				for i := 0; i < len(r.subs); i += 10 { // the matching ones
					<-r.subs[i].queue
				}
			}
		})
	}
}

func TestRegistryCacheFollowsSubscriptions(t *testing.T) {
	r := newRegistry()
	sub := func(pattern, group string) *Subscription {
		s := &Subscription{pattern: pattern, group: group, queue: make(chan delivery, 100)}
		r.add(s)
		return s
	}
	ev := &Event{Topic: "a.b"}
	a := sub("a.*", "")
	n, ok := r.deliver(ev, nil, nil)
	require.True(t, ok)
	require.Equal(t, 1, n)

	// Added after the topic was cached: seen at once.
	b := sub("#", "")
	sub("x.*", "")
	g1, g2 := sub("a.b", "g"), sub("a.#", "g")
	sub("a.b", "h")
	plain, groups := r.localInterest("a.b")
	require.True(t, plain)
	require.ElementsMatch(t, []string{"g", "h"}, groups)
	for range 4 {
		n, _ = r.deliver(ev, []string{"g"}, nil) // not chosen for h
		require.Equal(t, 3, n)
	}
	require.Len(t, a.queue, 5)
	require.Len(t, b.queue, 4)
	require.Len(t, g1.queue, 2, "one member of g per event, in turn")
	require.Len(t, g2.queue, 2)

	// Removed: gone at once.
	require.True(t, r.remove(a))
	n, _ = r.deliver(ev, nil, nil)
	require.Equal(t, 1, n)
	require.Len(t, a.queue, 5)

	// At least once, a full queue refuses the whole event.
	full := sub("a.b", "")
	for len(full.queue) < cap(full.queue) {
		full.queue <- delivery{}
	}
	n, ok = r.deliver(ev, nil, func() {})
	require.False(t, ok)
	require.Zero(t, n)

	// The cache is bounded.
	for i := range 2 * maxMatches {
		r.deliver(&Event{Topic: fmt.Sprintf("t%d", i)}, nil, nil)
	}
	require.LessOrEqual(t, len(r.matches), maxMatches)
}
