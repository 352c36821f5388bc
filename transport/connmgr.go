package transport

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
)

// Connection manager defaults: see [Config.ConnLowWater],
// [Config.ConnHighWater], [Config.ConnIdleTimeout] and
// [Config.ConnGracePeriod].
const (
	DefaultConnLowWater    = 32
	DefaultConnHighWater   = 64
	DefaultConnIdleTimeout = 5 * time.Second
	DefaultConnGracePeriod = 2 * time.Second
)

// connUse is what the connection manager knows of a connection's use.
type connUse struct {
	// users counts the streams in flight on the connection (opened here
	// and not yet closed or aborted, or opened by the peer and still in
	// their handler); -1 once the manager retired the connection, after
	// which no stream starts on it.
	users atomic.Int64
	// lastUsed is when a stream last started or ended (Unix nanos).
	lastUsed atomic.Int64
}

// acquire counts one more stream in flight, unless the connection was
// retired.
func (pc *peerConn) acquire() bool {
	for {
		n := pc.use.users.Load()
		if n < 0 {
			return false
		}
		if pc.use.users.CompareAndSwap(n, n+1) {
			pc.touch()
			return true
		}
	}
}

// release ends the count of a stream counted by acquire.
func (pc *peerConn) release() {
	pc.use.users.Add(-1)
	pc.touch()
}

func (pc *peerConn) touch() { pc.use.lastUsed.Store(time.Now().UnixNano()) }

// idleFor is how long the connection has had no stream in flight (zero
// while one is).
func (pc *peerConn) idleFor(now time.Time) time.Duration {
	if pc.use.users.Load() != 0 {
		return 0
	}
	return now.Sub(time.Unix(0, pc.use.lastUsed.Load()))
}

// retire marks an idle connection as closing, so that no stream starts on
// it; it fails if a stream is in flight.
func (pc *peerConn) retire() bool { return pc.use.users.CompareAndSwap(0, -1) }

// protections are the tags that keep peers' connections from being
// trimmed, by peer; they outlive the connections.
type protections struct {
	mu   sync.Mutex
	tags map[security.NodeID][]string
}

// Protect keeps the connection to peer id (now or once made) open whatever
// its use, under tag, until Unprotect(id, tag): the overlay protects its
// links, a joining node its bootstrap peer. Protecting twice under one tag
// is the same as once.
func (t *Transport) Protect(id security.NodeID, tag string) {
	p := &t.protected
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tags == nil {
		p.tags = make(map[security.NodeID][]string)
	}
	if !slices.Contains(p.tags[id], tag) {
		p.tags[id] = append(p.tags[id], tag)
	}
}

// Unprotect removes the protection tag from peer id; the connection may be
// trimmed once no tag is left.
func (t *Transport) Unprotect(id security.NodeID, tag string) {
	p := &t.protected
	p.mu.Lock()
	defer p.mu.Unlock()
	tags := slices.DeleteFunc(p.tags[id], func(s string) bool { return s == tag })
	if len(tags) == 0 {
		delete(p.tags, id)
		return
	}
	p.tags[id] = tags
}

// protectedBy returns the tags protecting peer id.
func (t *Transport) protectedBy(id security.NodeID) []string {
	p := &t.protected
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.tags[id])
}

// trimLoop runs the connection manager, and forgets the limit state that
// is the same as none, until the Transport closes.
func (t *Transport) trimLoop() {
	trim := t.cfg.ConnIdleTimeout != NoLimitDuration || t.cfg.ConnHighWater != NoLimit
	tick := time.NewTicker(t.cfg.trimInterval())
	defer tick.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return
		case now := <-tick.C:
			if trim {
				t.Trim(now)
			}
			t.sweepLimits(now)
		}
	}
}

// Trim runs the connection manager once, as it does on its own every
// second or so, and returns how many connections it closed. It never
// closes a protected connection or one with a stream in flight. Of the
// rest, it closes those idle for ConnIdleTimeout, and, while more than
// ConnHighWater connections are open, the least recently used ones idle
// for at least ConnGracePeriod until ConnLowWater remain.
func (t *Transport) Trim(now time.Time) int {
	conns := t.peers.list()
	type candidate struct {
		pc   *peerConn
		idle time.Duration
	}
	var idle []candidate
	for _, pc := range conns {
		if len(t.protectedBy(pc.id)) > 0 {
			continue
		}
		if d := pc.idleFor(now); d >= t.cfg.ConnGracePeriod {
			idle = append(idle, candidate{pc, d})
		}
	}
	slices.SortFunc(idle, func(a, b candidate) int { return int(b.idle - a.idle) })
	excess := 0
	if t.cfg.ConnHighWater != NoLimit && len(conns) > t.cfg.ConnHighWater {
		excess = len(conns) - t.cfg.ConnLowWater
	}
	closed := 0
	for _, c := range idle {
		expired := t.cfg.ConnIdleTimeout != NoLimitDuration && c.idle >= t.cfg.ConnIdleTimeout
		if !expired && closed >= excess {
			continue
		}
		if !c.pc.retire() {
			continue // a stream started meanwhile
		}
		t.log.Debug("closing idle connection", zap.Stringer("peer", c.pc.id), zap.Duration("idle", c.idle))
		t.dropConn(c.pc, protocol.CodeOK, "idle")
		closed++
	}
	return closed
}

// dropConn removes pc from the peers, reports it gone and closes it.
func (t *Transport) dropConn(pc *peerConn, code protocol.ErrorCode, reason string) {
	if t.peers.remove(pc) && t.cfg.OnPeerChange != nil {
		t.cfg.OnPeerChange(PeerEvent{Peer: pc.info(), Connected: false, Err: ErrIdleClosed})
	}
	pc.closeWith(code, reason)
}
