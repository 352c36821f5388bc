package pubsub

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/org/macula/topic"
)

// registry holds this node's subscriptions and hands events to them. All
// enqueueing happens under mu, so the room checked for an at-least-once
// event is still there when it is enqueued.
type registry struct {
	mu      sync.Mutex
	subs    []*Subscription
	groupRR map[string]uint64
	gen     atomic.Uint64 // bumped by every add and remove, under mu
}

func newRegistry() *registry { return &registry{groupRR: make(map[string]uint64)} }

func (r *registry) add(s *Subscription) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.subs = append(r.subs, s)
	r.gen.Add(1)
}

func (r *registry) remove(s *Subscription) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := slices.Index(r.subs, s)
	if i < 0 {
		return false
	}
	r.subs = slices.Delete(r.subs, i, i+1)
	r.gen.Add(1)
	return true
}

// generation changes whenever a subscription is added or removed.
func (r *registry) generation() uint64 { return r.gen.Load() }

func (r *registry) all() []*Subscription {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.subs)
}

// sees reports whether pattern may receive events on t: reserved topics
// only reach patterns that start with the reserved character.
func sees(pattern, t string) bool {
	if topic.IsReserved(t) && !strings.HasPrefix(pattern, "_") {
		return false
	}
	return topic.Match(pattern, t)
}

// localGroups returns the queue groups with a local member whose pattern
// matches t, and whether a subscription without a group matches.
func (r *registry) localInterest(t string) (plain bool, groups []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.subs {
		if !sees(s.pattern, t) {
			continue
		}
		if s.group == "" {
			plain = true
		} else if !slices.Contains(groups, s.group) {
			groups = append(groups, s.group)
		}
	}
	return plain, groups
}

// deliver hands ev to every matching subscription without a group and to
// one matching member of each of the given groups. With done (an
// at-least-once event) it first checks that every chosen queue has room
// and refuses the whole event (returns false) if one has none; done is
// called once every chosen handler has returned, and never if none
// matched (the caller decides what that means). Without done, a full
// queue drops the event for that subscription and counts it. It returns
// how many subscriptions got it.
func (r *registry) deliver(ev *Event, groups []string, done func()) (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var chosen []*Subscription
	var members map[string][]*Subscription
	for _, s := range r.subs {
		if !sees(s.pattern, ev.Topic) {
			continue
		}
		switch {
		case s.group == "":
			chosen = append(chosen, s)
		case slices.Contains(groups, s.group):
			if members == nil {
				members = make(map[string][]*Subscription)
			}
			members[s.group] = append(members[s.group], s)
		}
	}
	for g, ms := range members {
		n := r.groupRR[g]
		r.groupRR[g] = n + 1
		chosen = append(chosen, ms[n%uint64(len(ms))])
	}
	if done == nil {
		for _, s := range chosen {
			select {
			case s.queue <- delivery{ev: ev}:
			default:
				s.dropped.Add(1)
			}
		}
		return len(chosen), true
	}
	for _, s := range chosen {
		if len(s.queue) >= cap(s.queue) {
			return 0, false
		}
	}
	if len(chosen) == 0 {
		return 0, true
	}
	c := &completion{fn: done}
	c.left.Store(int32(len(chosen)))
	for _, s := range chosen {
		s.queue <- delivery{ev: ev, done: c}
	}
	return len(chosen), true
}
