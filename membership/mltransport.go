package membership

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"go.uber.org/zap"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
	"github.com/org/macula/transport"
)

// Markers sent first on a membership stream.
const (
	markerStream byte = 1 // a memberlist stream (push/pull, fallback ping)
	markerPacket byte = 2 // one memberlist packet too large for a datagram
)

const (
	maxPacketSize     = 64 << 10 // memberlist packets sent over a stream
	maxPendingPackets = 64       // held per address while dialing
	packetQueue       = 1024
)

// quicTransport implements memberlist.NodeAwareTransport over the node's
// verified QUIC connections.
type quicTransport struct {
	nw          Network
	advertise   netip.AddrPort
	dialTimeout time.Duration
	log         *zap.Logger

	packetCh chan *memberlist.Packet
	streamCh chan net.Conn

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	pending map[string]*pendingDial // by address

	// onContact is called for every packet from a connected peer; the
	// Membership uses it to learn peers it has not heard of.
	onContact func(from transport.PeerInfo)

	// lastActivity is when a packet last went out or came in (Unix nanos).
	// memberlist's probe goroutines wait up to a probe interval after that.
	lastActivity atomic.Int64
}

// pendingDial holds packets for an address while it is being dialed.
type pendingDial struct {
	packets [][]byte
}

var _ memberlist.NodeAwareTransport = (*quicTransport)(nil)

func newQUICTransport(nw Network, advertise netip.AddrPort, dialTimeout time.Duration, log *zap.Logger) *quicTransport {
	ctx, cancel := context.WithCancel(context.Background())
	t := &quicTransport{
		nw: nw, advertise: advertise, dialTimeout: dialTimeout, log: log,
		packetCh: make(chan *memberlist.Packet, packetQueue),
		streamCh: make(chan net.Conn),
		ctx:      ctx, cancel: cancel,
		pending: make(map[string]*pendingDial),
	}
	nw.HandleDatagram(protocol.StreamMembership, t.handleDatagram)
	nw.Handle(protocol.StreamMembership, t.handleStream)
	return t
}

// goFunc runs f on a goroutine owned by t unless it is shut down.
func (t *quicTransport) goFunc(f func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Go(f)
	return true
}

// FinalAdvertiseAddr implements memberlist.Transport: the node's QUIC address.
func (t *quicTransport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return net.IP(t.advertise.Addr().AsSlice()), int(t.advertise.Port()), nil
}

// WriteTo implements memberlist.Transport.
func (t *quicTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress implements memberlist.NodeAwareTransport. It never blocks:
// a packet to a connected node goes out as a datagram; one to a node not
// yet connected is held while the connection is dialed in the background.
func (t *quicTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	now := time.Now()
	// Refuse once shut down, so a probe memberlist starts after Shutdown
	// ends at once; record activity under the same lock, so Close sees
	// every packet that did go out.
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return now, ErrClosed
	}
	t.lastActivity.Store(now.UnixNano())
	t.mu.Unlock()
	id, ok := t.idFor(a)
	if ok {
		err := t.sendPacket(id, b)
		if err == nil || !errors.Is(err, transport.ErrNotConnected) {
			return now, err
		}
	}
	t.holdAndDial(a.Addr, id, b)
	return now, nil
}

// idFor finds the node an address names: by its memberlist name (our node
// ID in hex), or else by a connection to that address.
func (t *quicTransport) idFor(a memberlist.Address) (security.NodeID, bool) {
	if a.Name != "" {
		if id, err := security.ParseNodeID(a.Name); err == nil {
			return id, true
		}
	}
	if p, ok := t.nw.PeerByAddr(a.Addr); ok {
		return p.ID, true
	}
	return security.NodeID{}, false
}

// sendPacket sends one memberlist packet to a connected node.
func (t *quicTransport) sendPacket(id security.NodeID, b []byte) error {
	err := t.nw.SendDatagram(id, protocol.StreamMembership, b)
	if !errors.Is(err, transport.ErrDatagramTooLarge) {
		return err
	}
	pkt := append([]byte{markerPacket}, b...)
	t.goFunc(func() {
		ctx, cancel := context.WithTimeout(t.ctx, t.dialTimeout)
		defer cancel()
		s, err := t.nw.OpenStream(ctx, id, protocol.StreamMembership)
		if err != nil {
			return
		}
		_ = s.SetWriteDeadline(time.Now().Add(t.dialTimeout))
		_, _ = s.Write(pkt)
		_ = s.CloseWrite()
	})
	return nil
}

// holdAndDial keeps b for addr and makes sure one dial to addr is running;
// when it connects, the held packets are sent.
func (t *quicTransport) holdAndDial(addr string, expected security.NodeID, b []byte) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	p, dialing := t.pending[addr]
	if !dialing {
		p = &pendingDial{}
		t.pending[addr] = p
	}
	if len(p.packets) < maxPendingPackets {
		p.packets = append(p.packets, append([]byte(nil), b...))
	}
	if !dialing {
		t.wg.Go(func() { t.dialAndFlush(addr, expected) })
	}
	t.mu.Unlock()
}

func (t *quicTransport) dialAndFlush(addr string, expected security.NodeID) {
	ctx, cancel := context.WithTimeout(t.ctx, t.dialTimeout)
	defer cancel()
	info, err := t.dial(ctx, addr, expected)
	t.mu.Lock()
	p := t.pending[addr]
	delete(t.pending, addr)
	t.mu.Unlock()
	if err != nil {
		t.log.Debug("membership dial failed", zap.String("addr", addr), zap.Error(err))
		return
	}
	for _, pkt := range p.packets {
		if err := t.sendPacket(info.ID, pkt); err != nil {
			t.log.Debug("membership packet not sent", zap.Stringer("peer", info.ID), zap.Error(err))
		}
	}
}

func (t *quicTransport) dial(ctx context.Context, addr string, expected security.NodeID) (transport.PeerInfo, error) {
	if !expected.IsZero() {
		if p, ok := t.nw.Peer(expected); ok {
			return p, nil
		}
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return transport.PeerInfo{}, fmt.Errorf("membership address %q: %w", addr, err)
	}
	return t.nw.Dial(ctx, net.UDPAddrFromAddrPort(ap), expected)
}

// PacketCh implements memberlist.Transport.
func (t *quicTransport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

// StreamCh implements memberlist.Transport.
func (t *quicTransport) StreamCh() <-chan net.Conn { return t.streamCh }

// DialTimeout implements memberlist.Transport.
func (t *quicTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout implements memberlist.NodeAwareTransport: a QUIC stream
// to the node, dialing it first if needed.
func (t *quicTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(t.ctx, timeout)
	defer cancel()
	id, _ := t.idFor(a)
	info, err := t.dial(ctx, a.Addr, id)
	if err != nil {
		return nil, err
	}
	s, err := t.nw.OpenStream(ctx, info.ID, protocol.StreamMembership)
	if err != nil {
		return nil, err
	}
	if _, err := s.Write([]byte{markerStream}); err != nil {
		s.Abort(protocol.CodeInternal)
		return nil, err
	}
	return newStreamConn(s), nil
}

// handleDatagram passes a peer's datagram to memberlist. If memberlist is
// behind, the packet is dropped, as UDP would.
func (t *quicTransport) handleDatagram(from transport.PeerInfo, payload []byte) {
	t.deliver(from.RemoteAddr, append([]byte(nil), payload...))
	if t.onContact != nil {
		t.onContact(from)
	}
}

func (t *quicTransport) deliver(from net.Addr, b []byte) {
	t.lastActivity.Store(time.Now().UnixNano())
	select {
	case t.packetCh <- &memberlist.Packet{Buf: b, From: from, Timestamp: time.Now()}:
	default:
		t.log.Debug("membership packet queue full, dropping a packet")
	}
}

// handleStream serves a membership stream a peer opened.
func (t *quicTransport) handleStream(ctx context.Context, s *transport.Stream) {
	var marker [1]byte
	_ = s.SetReadDeadline(time.Now().Add(t.dialTimeout))
	if _, err := io.ReadFull(s, marker[:]); err != nil {
		return
	}
	_ = s.SetReadDeadline(time.Time{})
	switch marker[0] {
	case markerStream:
		c := newStreamConn(s)
		select {
		case t.streamCh <- c:
		case <-t.ctx.Done():
			return
		case <-ctx.Done():
			return
		}
		// memberlist owns the conn now; keep the stream until it closes it.
		select {
		case <-c.closed:
		case <-t.ctx.Done():
		case <-ctx.Done():
		}
	case markerPacket:
		_ = s.SetReadDeadline(time.Now().Add(t.dialTimeout))
		b, err := io.ReadAll(io.LimitReader(s, maxPacketSize+1))
		if err != nil || len(b) > maxPacketSize {
			s.Abort(protocol.CodeFrameTooLarge)
			return
		}
		t.deliver(s.RemoteAddr(), b)
	default:
		s.Abort(protocol.CodeProtocol)
	}
}

// Shutdown implements memberlist.Transport: it stops every goroutine.
func (t *quicTransport) Shutdown() error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.cancel()
	t.nw.HandleDatagram(protocol.StreamMembership, nil)
	t.nw.Handle(protocol.StreamMembership, nil)
	t.wg.Wait()
	return nil
}
