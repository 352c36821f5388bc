package pubsub

import (
	"sync"

	"github.com/org/macula/security"
)

// seenState is what a subscriber node knows of an at-least-once event.
type seenState uint8

const (
	seenNone    seenState = iota
	seenPending           // handed to the handlers, not yet acknowledged
	seenAcked             // every handler returned; acknowledged
)

// dedup remembers, per publisher, the last window at-least-once events a
// subscriber node accepted, so that a resent event is acknowledged again
// instead of handled twice.
type dedup struct {
	mu     sync.Mutex
	window int
	pubs   map[security.NodeID]*seenWindow
}

// seenWindow is one publisher's remembered events, oldest evicted first.
type seenWindow struct {
	state map[uint64]seenState
	order []uint64
	next  int
}

func newDedup(window int) *dedup {
	return &dedup{window: window, pubs: make(map[security.NodeID]*seenWindow)}
}

// get returns what is known of (pub, seq).
func (d *dedup) get(pub security.NodeID, seq uint64) seenState {
	d.mu.Lock()
	defer d.mu.Unlock()
	if w := d.pubs[pub]; w != nil {
		return w.state[seq]
	}
	return seenNone
}

// set records (pub, seq) as st; seenNone forgets it.
func (d *dedup) set(pub security.NodeID, seq uint64, st seenState) {
	d.mu.Lock()
	defer d.mu.Unlock()
	w := d.pubs[pub]
	if w == nil {
		w = &seenWindow{state: make(map[uint64]seenState)}
		d.pubs[pub] = w
	}
	if st == seenNone {
		delete(w.state, seq)
		return
	}
	if _, known := w.state[seq]; !known {
		if len(w.order) < d.window {
			w.order = append(w.order, seq)
		} else {
			delete(w.state, w.order[w.next])
			w.order[w.next] = seq
			w.next = (w.next + 1) % d.window
		}
	}
	w.state[seq] = st
}
