package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/org/macula/security"
)

// Connect returns the connection to the peer id, dialing its addrs
// ("host:port", tried in order) when there is none yet. Concurrent calls
// for one peer share one dial: separate dials would each make a
// connection, all but one would lose the duplicate rule, and the streams
// opened on the losers would fail. It fails with an error wrapping
// [ErrUnreachable] (and the dial errors) when no address works; ctx bounds
// the dials, and a caller's wait for another's dial.
func (t *Transport) Connect(ctx context.Context, id security.NodeID, addrs []string) (PeerInfo, error) {
	for {
		if pc := t.livePeer(id); pc != nil {
			return pc.info(), nil
		}
		d, leader := t.dials.join(id)
		if leader {
			d.info, d.err = t.connect(ctx, id, addrs)
			t.dials.done(id, d)
			return d.info, d.err
		}
		select {
		case <-d.finished:
		case <-ctx.Done():
			return PeerInfo{}, fmt.Errorf("%w: %s: %w", ErrUnreachable, id.Short(), ctx.Err())
		}
		if d.err == nil {
			return d.info, nil
		}
		// The leader's own context ended: dial with ours.
		if !errors.Is(d.err, context.Canceled) && !errors.Is(d.err, context.DeadlineExceeded) {
			return PeerInfo{}, d.err
		}
	}
}

// pendingDial is one Connect's dial, shared by the calls for the same peer
// that arrive meanwhile.
type pendingDial struct {
	finished chan struct{}
	info     PeerInfo
	err      error
}

// dialGroup tracks the dials in progress, by peer.
type dialGroup struct {
	mu      sync.Mutex
	pending map[security.NodeID]*pendingDial
}

// join returns the dial in progress to id, or a new one that the caller
// leads (leader true) and must end with done.
func (g *dialGroup) join(id security.NodeID) (*pendingDial, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if d, ok := g.pending[id]; ok {
		return d, false
	}
	if g.pending == nil {
		g.pending = make(map[security.NodeID]*pendingDial)
	}
	d := &pendingDial{finished: make(chan struct{})}
	g.pending[id] = d
	return d, true
}

// done ends the dial d to id, releasing its waiters.
func (g *dialGroup) done(id security.NodeID, d *pendingDial) {
	g.mu.Lock()
	delete(g.pending, id)
	g.mu.Unlock()
	close(d.finished)
}

// connect dials id at its addrs, in order, until one works.
func (t *Transport) connect(ctx context.Context, id security.NodeID, addrs []string) (PeerInfo, error) {
	var errs []error
	for _, a := range addrs {
		ap, err := netip.ParseAddrPort(a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		info, err := t.Dial(ctx, net.UDPAddrFromAddrPort(ap), id)
		if err == nil {
			return info, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil || errors.Is(err, ErrClosed) {
			break
		}
	}
	if len(errs) == 0 {
		return PeerInfo{}, fmt.Errorf("%w: %s: no address", ErrUnreachable, id.Short())
	}
	return PeerInfo{}, fmt.Errorf("%w: %s: %w", ErrUnreachable, id.Short(), errors.Join(errs...))
}
