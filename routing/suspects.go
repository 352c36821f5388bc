package routing

import (
	"sync"
	"time"

	"github.com/org/macula/security"
)

// Suspicion of nodes that failed a query.
const (
	// suspectFor is how long a node that failed a query is not re-learned
	// from other nodes' answers, whose tables may still hold it. Hearing
	// from the node itself (a query from it, an answer, AddPeer) clears
	// the suspicion at once.
	suspectFor = 5 * time.Minute
	// maxSuspects bounds the memory of suspects; when it is full,
	// suspicions older than half of suspectFor are forgotten.
	maxSuspects = 4096
)

// suspects remembers nodes that recently failed a query. Safe for
// concurrent use.
type suspects struct {
	mu sync.Mutex
	at map[security.NodeID]time.Time
}

func newSuspects() *suspects {
	return &suspects{at: make(map[security.NodeID]time.Time)}
}

// add suspects id from now on.
func (s *suspects) add(id security.NodeID, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.at) >= maxSuspects {
		s.pruneLocked(now)
		if len(s.at) > maxSuspects*3/4 {
			// Forget what is older than half the period.
			s.pruneLocked(now.Add(suspectFor / 2))
		}
	}
	s.at[id] = now
}

// has reports whether id failed less than suspectFor before now.
func (s *suspects) has(id security.NodeID, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.at[id]
	if ok && now.Sub(t) >= suspectFor {
		delete(s.at, id)
		return false
	}
	return ok
}

// clear forgets id.
func (s *suspects) clear(id security.NodeID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.at, id)
}

// prune forgets suspicions older than suspectFor at now.
func (s *suspects) prune(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneLocked(now)
}

func (s *suspects) pruneLocked(now time.Time) {
	for id, t := range s.at {
		if now.Sub(t) >= suspectFor {
			delete(s.at, id)
		}
	}
}
