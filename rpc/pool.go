package rpc

import (
	"context"
	"sync"
	"time"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
	"github.com/org/macula/transport"
)

// idleStreamsPerPeer bounds the idle call streams a caller keeps to one
// provider. A provider counts each of them as a stream in its handler
// (transport.Config.MaxStreamsPerPeer, 512 by default), so this stays well
// below that limit.
const idleStreamsPerPeer = 64

// callStream is a caller's stream to one provider. It carries one call at a
// time and, after a clean answer, waits in the Service's pool for the next
// call to that provider. Its messages are reused from call to call.
type callStream struct {
	st        *transport.Stream
	peer      security.NodeID
	calls     int       // calls sent on the stream so far
	idleSince time.Time // when it went back to the pool

	call protocol.RpcCall
	body protocol.Envelope_RpcCall
	out  protocol.Envelope
	in   protocol.Envelope

	// abortCtx is the context of the call in flight; abort resets the
	// stream with the code telling the provider why abortCtx ended.
	abortCtx context.Context
	abort    func()
	// acceptTimer aborts the stream when the provider does not accept a
	// call in time.
	acceptTimer *time.Timer
}

// armAccept starts acceptTimer for d; stop it with acceptTimer.Stop.
func (cs *callStream) armAccept(d time.Duration) {
	if cs.acceptTimer == nil {
		cs.acceptTimer = time.AfterFunc(d, func() { cs.st.Abort(protocol.CodeCancelled) })
		return
	}
	cs.acceptTimer.Reset(d)
}

func newCallStream(st *transport.Stream, peer security.NodeID) *callStream {
	cs := &callStream{st: st, peer: peer}
	cs.abort = func() { cs.st.Abort(abortCode(cs.abortCtx)) }
	return cs
}

// streamPool keeps the idle call streams of a caller, per provider, and the
// streams of calls in flight, which Close aborts.
type streamPool struct {
	// maxIdle is how long a stream may stay idle and still be used: half
	// of Config.StreamIdleTimeout, after which a provider with the same
	// setting closes it.
	maxIdle time.Duration

	mu        sync.Mutex
	closed    bool
	idle      map[security.NodeID][]*callStream // oldest first
	busy      map[*callStream]struct{}
	lastSweep time.Time
}

func newStreamPool(maxIdle time.Duration) *streamPool {
	return &streamPool{
		maxIdle:   maxIdle,
		idle:      make(map[security.NodeID][]*callStream),
		busy:      make(map[*callStream]struct{}),
		lastSweep: time.Now(),
	}
}

// get takes the most recently used idle stream to peer, and marks it busy;
// nil when there is none fresh enough. Streams idle for longer than maxIdle
// are closed on the way.
func (p *streamPool) get(peer security.NodeID, now time.Time) *callStream {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.idle[peer]
	if len(list) == 0 {
		return nil
	}
	cs := list[len(list)-1]
	list[len(list)-1] = nil
	list = list[:len(list)-1]
	if now.Sub(cs.idleSince) >= p.maxIdle {
		// This one and every older one are stale.
		_ = cs.st.Close()
		for i, old := range list {
			_ = old.st.Close()
			list[i] = nil
		}
		delete(p.idle, peer)
		return nil
	}
	p.idle[peer] = list
	p.busy[cs] = struct{}{}
	return cs
}

// begin marks a new stream busy; false when the pool is closed, and the
// stream must not be used.
func (p *streamPool) begin(cs *callStream) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.busy[cs] = struct{}{}
	return true
}

// put ends cs's call. With reuse, cs goes back to the pool if there is room,
// and is closed otherwise; without, it is only forgotten (the caller closed
// or aborted it).
func (p *streamPool) put(cs *callStream, reuse bool, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.busy, cs)
	if !reuse {
		return
	}
	list := p.idle[cs.peer]
	if p.closed || len(list) >= idleStreamsPerPeer {
		_ = cs.st.Close()
		return
	}
	cs.idleSince = now
	p.idle[cs.peer] = append(list, cs)
	if now.Sub(p.lastSweep) >= p.maxIdle {
		p.sweep(now)
	}
}

// sweep closes the streams that have been idle for longer than maxIdle,
// so that streams to providers no longer called (or whose connection went)
// do not stay around.
func (p *streamPool) sweep(now time.Time) {
	p.lastSweep = now
	for peer, list := range p.idle {
		n := 0
		for n < len(list) && now.Sub(list[n].idleSince) >= p.maxIdle {
			_ = list[n].st.Close()
			list[n] = nil
			n++
		}
		if n == len(list) {
			delete(p.idle, peer)
		} else if n > 0 {
			p.idle[peer] = append(list[:0], list[n:]...)
		}
	}
}

// flush closes the idle streams to peer, after one of them failed: they
// run over the same connection, probably gone, or have idled as long.
func (p *streamPool) flush(peer security.NodeID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, cs := range p.idle[peer] {
		_ = cs.st.Close()
	}
	delete(p.idle, peer)
}

// close closes every idle stream and aborts the calls in flight; later
// streams are refused.
func (p *streamPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for peer, list := range p.idle {
		for _, cs := range list {
			_ = cs.st.Close()
		}
		delete(p.idle, peer)
	}
	for cs := range p.busy {
		cs.st.Abort(protocol.CodeShutdown)
	}
}

// idleCount returns the number of idle streams in the pool, for tests.
func (p *streamPool) idleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, list := range p.idle {
		n += len(list)
	}
	return n
}
