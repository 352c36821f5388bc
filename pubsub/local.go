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
	// matches caches, per topic, the subscriptions whose pattern sees
	// it; emptied by every add and remove.
	matches map[string]*topicSubs
}

// maxMatches bounds the topics whose subscriptions are cached.
const maxMatches = 1024

// topicSubs are the subscriptions that see one topic: those without a
// group, and the members of each group, in subscription order.
type topicSubs struct {
	plain  []*Subscription
	groups []groupSubs
}

type groupSubs struct {
	name    string
	members []*Subscription
}

func newRegistry() *registry {
	return &registry{groupRR: make(map[string]uint64), matches: make(map[string]*topicSubs)}
}

func (r *registry) add(s *Subscription) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.subs = append(r.subs, s)
	r.gen.Add(1)
	clear(r.matches)
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
	clear(r.matches)
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

// matchLocked returns the subscriptions that see t, from the cache when
// it has them. r.mu must be held.
func (r *registry) matchLocked(t string) *topicSubs {
	if m, ok := r.matches[t]; ok {
		return m
	}
	m := &topicSubs{}
	for _, s := range r.subs {
		if !sees(s.pattern, t) {
			continue
		}
		if s.group == "" {
			m.plain = append(m.plain, s)
			continue
		}
		i := slices.IndexFunc(m.groups, func(g groupSubs) bool { return g.name == s.group })
		if i < 0 {
			m.groups = append(m.groups, groupSubs{name: s.group})
			i = len(m.groups) - 1
		}
		m.groups[i].members = append(m.groups[i].members, s)
	}
	if len(r.matches) >= maxMatches {
		for k := range r.matches { // one at random
			delete(r.matches, k)
			break
		}
	}
	r.matches[t] = m
	return m
}

// localInterest returns the queue groups with a local member whose
// pattern sees t, and whether a subscription without a group sees it.
func (r *registry) localInterest(t string) (plain bool, groups []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.matchLocked(t)
	for _, g := range m.groups {
		groups = append(groups, g.name)
	}
	return len(m.plain) > 0, groups
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
	m := r.matchLocked(ev.Topic)
	chosen := m.plain
	if len(groups) > 0 && len(m.groups) > 0 {
		var buf [8]*Subscription
		chosen = append(buf[:0], m.plain...)
		for _, g := range m.groups {
			if !slices.Contains(groups, g.name) {
				continue
			}
			n := r.groupRR[g.name]
			r.groupRR[g.name] = n + 1
			chosen = append(chosen, g.members[n%uint64(len(g.members))])
		}
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
