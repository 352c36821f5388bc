package routing

import (
	"fmt"
	"sync"
	"time"

	"github.com/org/macula/security"
)

// store holds the records other nodes (and this one) asked this node to
// keep: per key, at most one record per owner. It trusts its callers to
// have verified the records. Safe for concurrent use.
type store struct {
	maxPerKey   int
	maxPerOwner int

	mu       sync.Mutex
	keys     map[Key]map[security.NodeID]*Record
	perOwner map[security.NodeID]int
}

func newStore(maxPerKey, maxPerOwner int) *store {
	return &store{
		maxPerKey:   maxPerKey,
		maxPerOwner: maxPerOwner,
		keys:        make(map[Key]map[security.NodeID]*Record),
		perOwner:    make(map[security.NodeID]int),
	}
}

// put keeps rec unless the store holds a record of the same owner under
// the same key that rec does not supersede. It reports whether rec was
// kept. Storing an identical copy again is not an error; an older one
// fails with ErrStale, and a new owner beyond the limits with ErrLimit.
// The store keeps rec itself: the caller must not modify it afterwards.
func (s *store) put(rec *Record) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	owners := s.keys[rec.Key]
	if old, ok := owners[rec.Owner]; ok {
		if rec.supersedes(old) {
			owners[rec.Owner] = rec
			return true, nil
		}
		if rec.Seq == old.Seq && rec.Expires.Equal(old.Expires) {
			return false, nil
		}
		return false, fmt.Errorf("%w: have seq %d, got seq %d from %s", ErrStale, old.Seq, rec.Seq, rec.Owner.Short())
	}
	if len(owners) >= s.maxPerKey {
		return false, fmt.Errorf("%w: key %s already has %d records", ErrLimit, rec.Key, len(owners))
	}
	if n := s.perOwner[rec.Owner]; n >= s.maxPerOwner {
		return false, fmt.Errorf("%w: owner %s already has %d records", ErrLimit, rec.Owner.Short(), n)
	}
	if owners == nil {
		owners = make(map[security.NodeID]*Record)
		s.keys[rec.Key] = owners
	}
	owners[rec.Owner] = rec
	s.perOwner[rec.Owner]++
	return true, nil
}

// get returns the records under key that are live at now, tombstones
// included. The records are shared: callers must not modify them.
func (s *store) get(key Key, now time.Time) []*Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	owners := s.keys[key]
	if len(owners) == 0 {
		return nil
	}
	out := make([]*Record, 0, len(owners))
	for _, r := range owners {
		if now.Before(r.Expires) {
			out = append(out, r)
		}
	}
	return out
}

// sweep drops every record expired at now and returns how many.
func (s *store) sweep(now time.Time) int {
	n, _ := s.sweepKeys(now)
	return n
}

// sweepKeys drops every record expired at now and returns how many, and
// the keys they were under.
func (s *store) sweepKeys(now time.Time) (int, []Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	var keys []Key
	for key, owners := range s.keys {
		dropped := false
		for owner, r := range owners {
			if now.Before(r.Expires) {
				continue
			}
			delete(owners, owner)
			n++
			dropped = true
			if s.perOwner[owner]--; s.perOwner[owner] <= 0 {
				delete(s.perOwner, owner)
			}
		}
		if dropped {
			keys = append(keys, key)
		}
		if len(owners) == 0 {
			delete(s.keys, key)
		}
	}
	return n, keys
}

// storedKeys returns every key with at least one record.
func (s *store) storedKeys() []Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Key, 0, len(s.keys))
	for k := range s.keys {
		out = append(out, k)
	}
	return out
}

// len returns the number of records held, expired ones not yet swept
// included.
func (s *store) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, owners := range s.keys {
		n += len(owners)
	}
	return n
}
