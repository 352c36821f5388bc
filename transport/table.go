package transport

import (
	"context"
	"sync"

	"github.com/org/macula/security"
)

// peerTable holds the one current connection per peer.
type peerTable struct {
	mu      sync.Mutex
	conns   map[security.NodeID]*peerConn
	closed  bool
	changed chan struct{} // closed and replaced on every change
}

func newPeerTable() *peerTable {
	return &peerTable{conns: make(map[security.NodeID]*peerConn), changed: make(chan struct{})}
}

// notifyLocked wakes everyone waiting for a change. Callers hold mu.
func (tb *peerTable) notifyLocked() {
	close(tb.changed)
	tb.changed = make(chan struct{})
}

// add makes pc the peer's connection unless a better one exists. It returns
// the connection that is kept and the one that must be closed (nil if none).
// It returns ok=false, keeping nothing, once the table is closed.
func (tb *peerTable) add(pc *peerConn) (winner, loser *peerConn, ok bool) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if tb.closed {
		return nil, pc, false
	}
	existing := tb.conns[pc.id]
	if existing != nil && !preferred(pc, existing) {
		return existing, pc, true
	}
	tb.conns[pc.id] = pc
	tb.notifyLocked()
	return pc, existing, true
}

// preferred reports whether connection a should be kept over b, for two
// connections to the same peer. Both ends of the two connections apply the
// same rule to the same facts, so both keep the same connection:
//   - a newer instance of the peer (it restarted) beats the old one;
//   - otherwise the connection dialed by the lower NodeID wins;
//   - for two dials by the same node, its later dial wins.
func preferred(a, b *peerConn) bool {
	if a.remoteInstance != b.remoteInstance {
		return a.remoteInstance > b.remoteInstance
	}
	if a.dialer != b.dialer {
		return a.dialer.Compare(b.dialer) < 0
	}
	return a.dialSeq > b.dialSeq
}

// remove drops pc if it is still the peer's current connection and reports
// whether it was.
func (tb *peerTable) remove(pc *peerConn) bool {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if tb.conns[pc.id] != pc {
		return false
	}
	delete(tb.conns, pc.id)
	tb.notifyLocked()
	return true
}

func (tb *peerTable) get(id security.NodeID) *peerConn {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return tb.conns[id]
}

func (tb *peerTable) list() []*peerConn {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	out := make([]*peerConn, 0, len(tb.conns))
	for _, pc := range tb.conns {
		out = append(out, pc)
	}
	return out
}

// wait returns the peer's connection once there is one, or ctx's error.
func (tb *peerTable) wait(ctx context.Context, id security.NodeID) (*peerConn, error) {
	for {
		tb.mu.Lock()
		pc, changed, closed := tb.conns[id], tb.changed, tb.closed
		tb.mu.Unlock()
		if pc != nil {
			return pc, nil
		}
		if closed {
			return nil, ErrClosed
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// closeAll marks the table closed and returns every connection it held.
func (tb *peerTable) closeAll() []*peerConn {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.closed = true
	out := make([]*peerConn, 0, len(tb.conns))
	for _, pc := range tb.conns {
		out = append(out, pc)
	}
	tb.notifyLocked()
	return out
}
