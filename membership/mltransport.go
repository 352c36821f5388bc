package membership

import (
	"context"
	"encoding/binary"
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

// markerStream is sent first on a membership stream (a memberlist stream:
// push/pull state exchange or fallback ping); the keyrings follow.
const markerStream byte = 1

// noticeLeaving starts a sealed packet that is Macula's, not memberlist's
// (whose message types are small numbers, and 244 for a label): a member's
// notice, sent straight to every member, that it is leaving gracefully,
// followed by its node ID.
const noticeLeaving byte = 0xe0

const (
	packetQueue = 1024
	// packetBudget is memberlist's largest packet before sealing: sealed,
	// it fits a 1500-byte Ethernet frame with IPv6 and UDP headers.
	packetBudget = 1400 - sealOverhead
	// refusedLogInterval spaces the log lines about packets that did not
	// open.
	refusedLogInterval = 10 * time.Second
)

// PacketStats counts membership's gossip packets.
type PacketStats struct {
	// Sent and Received count sealed packets out and opened packets in.
	Sent, Received uint64
	// Refused counts packets that arrived on the socket but did not open
	// with any installed key (a foreign or removed key, a tampered or
	// replayed-into-another-realm packet, or noise): dropped unread.
	Refused uint64
	// Dropped counts opened packets dropped because memberlist was behind.
	Dropped uint64
	// Nudges counts suspicions sent straight to the suspect, and
	// Refutations this node's alive messages sent straight to members
	// that accused it (see docs/ARCHITECTURE.md, "Refutations that reach
	// the accuser"). Both are included in Sent.
	Nudges, Refutations uint64
}

// udpTransport implements memberlist.NodeAwareTransport: packets as raw
// UDP on the node's own socket (sealed with the keyring), streams as QUIC
// streams on the node's verified connections.
type udpTransport struct {
	nw          Network
	keys        *keyring
	advertise   netip.AddrPort
	dialTimeout time.Duration
	log         *zap.Logger

	packetCh chan *memberlist.Packet
	streamCh chan net.Conn

	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	closed  bool
	streams map[*streamConn]struct{} // open, to abort at Shutdown

	// onRefused is called with the source of a packet that did not open.
	onRefused func(from net.Addr)
	// onLeaving is called with a leaving notice: the member, its
	// incarnation if the notice carries one (hasInc), and the sender.
	onLeaving func(id security.NodeID, inc uint32, hasInc bool, from net.Addr)
	// onLiveness is called with every alive, suspect and dead message
	// that comes in from a peer, or goes out (from is nil).
	// The view points into the packet and is valid only during the call.
	onLiveness func(msg swimMessage, l livenessView, from net.Addr)

	// probeWindow is the longest memberlist waits for a probe's acks
	// (the probe interval scaled by the worst health score).
	probeWindow time.Duration
	// pings are this node's pings in flight: sequence number to when it
	// was sent. Close acknowledges them itself (see beginClose).
	pings map[uint32]time.Time
	// closing: Close has begun; no packet goes out or comes in, and
	// pings are answered here.
	closing bool
	// injected are the acks handed to memberlist while closing, and
	// lastInjected when the last was; ackLost: one found the queue full.
	injected     map[*memberlist.Packet]struct{}
	lastInjected time.Time
	ackLost      bool

	sent, received, refused, dropped atomic.Uint64
	nudges, refutations              atomic.Uint64
	lastRefusedLog                   atomic.Int64 // Unix nanos
	refusedSinceLog                  atomic.Uint64
}

var _ memberlist.NodeAwareTransport = (*udpTransport)(nil)

func newUDPTransport(nw Network, keys *keyring, advertise netip.AddrPort, dialTimeout, probeWindow time.Duration, log *zap.Logger) *udpTransport {
	ctx, cancel := context.WithCancel(context.Background())
	t := &udpTransport{
		nw: nw, keys: keys, advertise: advertise, dialTimeout: dialTimeout, log: log,
		probeWindow: probeWindow,
		packetCh:    make(chan *memberlist.Packet, packetQueue),
		streamCh:    make(chan net.Conn),
		ctx:         ctx, cancel: cancel,
		streams:  make(map[*streamConn]struct{}),
		pings:    make(map[uint32]time.Time),
		injected: make(map[*memberlist.Packet]struct{}),
	}
	nw.HandlePackets(t.handlePacket)
	nw.Handle(protocol.StreamMembership, t.handleStream)
	return t
}

// stats returns the packet counters.
func (t *udpTransport) stats() PacketStats {
	return PacketStats{
		Sent: t.sent.Load(), Received: t.received.Load(), Refused: t.refused.Load(), Dropped: t.dropped.Load(),
		Nudges: t.nudges.Load(), Refutations: t.refutations.Load(),
	}
}

// FinalAdvertiseAddr implements memberlist.Transport: the node's socket
// address, shared with QUIC.
func (t *udpTransport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return net.IP(t.advertise.Addr().AsSlice()), int(t.advertise.Port()), nil
}

// WriteTo implements memberlist.Transport.
func (t *udpTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress implements memberlist.NodeAwareTransport: b goes out
// sealed, as one UDP datagram from the node's socket. It never waits for
// a connection.
func (t *udpTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	now := time.Now()
	pings := t.observe(b, nil)
	// Refuse once shut down, so a probe memberlist starts after Shutdown
	// ends at once. While closing, send nothing and answer this node's
	// own pings here, so that its probe ends now instead of when its ack
	// timer fires.
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return now, ErrClosed
	}
	if t.closing {
		for _, seq := range pings {
			t.injectAckLocked(seq)
		}
		t.mu.Unlock()
		return now, nil
	}
	for _, seq := range pings {
		t.pings[seq] = now
	}
	t.prunePingsLocked(now)
	t.mu.Unlock()
	ap, err := netip.ParseAddrPort(a.Addr)
	if err != nil {
		return now, fmt.Errorf("membership address %q: %w", a.Addr, err)
	}
	if err := t.nw.WritePacket(t.keys.seal(b), net.UDPAddrFromAddrPort(ap)); err != nil {
		return now, err
	}
	t.sent.Add(1)
	return now, nil
}

// observe reads a memberlist packet coming in from a peer, or going out
// (from is nil): it reports liveness messages and returns the sequence
// numbers of pings going out or acks coming in.
func (t *udpTransport) observe(p []byte, from net.Addr) (seqs []uint32) {
	out := from == nil
	eachSWIMMessage(p, func(msg swimMessage) {
		switch msg.typ {
		case swimAlive, swimSuspect, swimDead:
			if t.onLiveness == nil {
				return
			}
			if l, ok := scanLiveness(msg.body); ok {
				t.onLiveness(msg, l, from)
			}
		case swimPing, swimAck:
			if (msg.typ == swimPing) != out {
				return
			}
			if seq, ok := scanSeqNo(msg.body); ok {
				seqs = append(seqs, seq)
			}
		}
	})
	return seqs
}

// prunePingsLocked forgets pings older than any probe could wait for.
func (t *udpTransport) prunePingsLocked(now time.Time) {
	if len(t.pings) < 64 {
		return
	}
	for seq, sent := range t.pings {
		if now.Sub(sent) > t.probeWindow {
			delete(t.pings, seq)
		}
	}
}

// injectAckLocked hands memberlist an ack for its ping seq, as if from
// the pinged member, if there is room in the queue.
func (t *udpTransport) injectAckLocked(seq uint32) {
	p := &memberlist.Packet{
		Buf:       encodeSWIM(swimAck, swimAckMsg{SeqNo: seq}),
		From:      net.UDPAddrFromAddrPort(t.advertise),
		Timestamp: time.Now(),
	}
	t.lastInjected = p.Timestamp
	select {
	case t.packetCh <- p:
		t.injected[p] = struct{}{}
	default:
		// Full: the probe ends when its timer fires; Close waits for it.
		t.ackLost = true
	}
}

// beginClose stops all traffic and acknowledges this node's pings in
// flight, so that memberlist's probe (and a relayed ping's nack timer)
// ends at once: memberlist does not stop them on Shutdown, and Close
// waits for every goroutine. A node that is closing has said goodbye
// with its leaving notice, so it vouches for no one and suspects no one.
func (t *udpTransport) beginClose() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closing = true
	for seq := range t.pings {
		t.injectAckLocked(seq)
	}
	clear(t.pings)
}

// awaitTaken waits until memberlist has taken every queued packet, or
// until limit passes.
func (t *udpTransport) awaitTaken(limit time.Duration) {
	deadline := time.Now().Add(limit)
	for len(t.packetCh) > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

// untakenAckSince drains the packet queue after memberlist has shut down.
// If an ack this node injected is still there (or could not be queued),
// a probe is still waiting for its timer: it returns when that ack was
// made, and true.
func (t *udpTransport) untakenAckSince() (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	untaken := t.ackLost
	for {
		select {
		case p := <-t.packetCh:
			if _, ok := t.injected[p]; ok {
				untaken = true
			}
			continue
		default:
		}
		break
	}
	return t.lastInjected, untaken
}

// sendMessage sends one memberlist message, sealed, to addr, outside
// memberlist (see Membership.refuteTo and nudge). It never waits.
func (t *udpTransport) sendMessage(msg []byte, addr string) error {
	t.mu.Lock()
	quiet := t.closing || t.closed
	t.mu.Unlock()
	if quiet {
		return ErrClosed
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return fmt.Errorf("membership address %q: %w", addr, err)
	}
	if err := t.nw.WritePacket(t.keys.seal(msg), net.UDPAddrFromAddrPort(ap)); err != nil {
		return err
	}
	t.sent.Add(1)
	return nil
}

// sendLeaving sends this node's leaving notice, with its incarnation, to
// addr. It never waits.
func (t *udpTransport) sendLeaving(self security.NodeID, inc uint32, addr string) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return fmt.Errorf("membership address %q: %w", addr, err)
	}
	msg := append([]byte{noticeLeaving}, self[:]...)
	msg = binary.BigEndian.AppendUint32(msg, inc)
	return t.nw.WritePacket(t.keys.seal(msg), net.UDPAddrFromAddrPort(ap))
}

// deliverLeft hands memberlist the dead message a member that leaves
// sends about itself (Node = From), which marks it left at once.
func (t *udpTransport) deliverLeft(id security.NodeID, inc uint32, from net.Addr) {
	msg := encodeSWIM(swimDead, swimLiveness{Incarnation: inc, Node: id.String(), From: id.String()})
	t.deliver(msg, from)
}

// handlePacket opens a raw packet from the socket and passes it to
// memberlist; one that does not open is counted and dropped. It runs on
// the transport's packet goroutine and never blocks: if memberlist is
// behind, the packet is dropped, as a full socket buffer would.
func (t *udpTransport) handlePacket(p []byte, from net.Addr) {
	b, ok := t.keys.open(p)
	if !ok {
		t.refused.Add(1)
		t.logRefused(from)
		if t.onRefused != nil {
			t.onRefused(from)
		}
		return
	}
	t.mu.Lock()
	closing := t.closing || t.closed
	t.mu.Unlock()
	if closing {
		return
	}
	const idLen = len(security.NodeID{})
	if len(b) > 0 && b[0] == noticeLeaving {
		if t.onLeaving == nil {
			return
		}
		switch len(b) {
		case 1 + idLen:
			t.onLeaving(security.NodeID(b[1:]), 0, false, from)
		case 1 + idLen + 4:
			t.onLeaving(security.NodeID(b[1:1+idLen]), binary.BigEndian.Uint32(b[1+idLen:]), true, from)
		}
		return
	}
	t.deliver(b, from)
}

// deliver passes an opened packet to memberlist, then reads it. It never
// blocks: if memberlist is behind, the packet is dropped, as a full socket
// buffer would, and not read: this node's view of the members must follow
// memberlist's. A refutation read here but dropped would end this node's
// nudges (see tendSuspicions) while memberlist's suspicion ran on to a
// false death.
func (t *udpTransport) deliver(b []byte, from net.Addr) {
	select {
	case t.packetCh <- &memberlist.Packet{Buf: b, From: from, Timestamp: time.Now()}:
		t.received.Add(1)
	default:
		t.dropped.Add(1)
		return
	}
	if acks := t.observe(b, from); len(acks) > 0 {
		t.mu.Lock()
		for _, seq := range acks {
			delete(t.pings, seq)
		}
		t.mu.Unlock()
	}
}

// logRefused logs refused packets at most once per refusedLogInterval,
// with the count since the last line, so a flood cannot flood the log.
func (t *udpTransport) logRefused(from net.Addr) {
	n := t.refusedSinceLog.Add(1)
	last := t.lastRefusedLog.Load()
	now := time.Now().UnixNano()
	if now-last < int64(refusedLogInterval) || !t.lastRefusedLog.CompareAndSwap(last, now) {
		return
	}
	t.refusedSinceLog.Add(-n)
	t.log.Warn("gossip packets refused: not sealed with a key of this realm's keyring",
		zap.Uint64("count", n), zap.Stringer("last_from", from))
}

// PacketCh implements memberlist.Transport.
func (t *udpTransport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

// StreamCh implements memberlist.Transport.
func (t *udpTransport) StreamCh() <-chan net.Conn { return t.streamCh }

// DialTimeout implements memberlist.Transport.
func (t *udpTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout implements memberlist.NodeAwareTransport: a QUIC stream
// to the node, dialing it first if needed. The two keyrings are exchanged
// and merged before memberlist uses the stream.
func (t *udpTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
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
	deadline, _ := ctx.Deadline()
	_ = s.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = s.SetDeadline(time.Now()) })
	defer stop()
	err = t.sendKeyring(s, markerStream)
	if err == nil {
		err = t.receiveKeyring(s)
	}
	if err != nil {
		s.Abort(protocol.CodeProtocol)
		return nil, fmt.Errorf("membership stream to %s: %w", info.ID.Short(), err)
	}
	_ = s.SetDeadline(time.Time{})
	return t.track(s)
}

// track wraps s for memberlist and keeps it until it is closed, so that
// Shutdown can abort it: memberlist's state exchanges would otherwise
// wait out their 10 s deadline on a dead peer.
func (t *udpTransport) track(s *transport.Stream) (*streamConn, error) {
	c := newStreamConn(s)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		s.Abort(protocol.CodeShutdown)
		return nil, ErrClosed
	}
	t.streams[c] = struct{}{}
	c.onClose = func() {
		t.mu.Lock()
		delete(t.streams, c)
		t.mu.Unlock()
	}
	return c, nil
}

// idFor finds the node an address names: by its memberlist name (our node
// ID in hex), or else by a connection to that address.
func (t *udpTransport) idFor(a memberlist.Address) (security.NodeID, bool) {
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

func (t *udpTransport) dial(ctx context.Context, addr string, expected security.NodeID) (transport.PeerInfo, error) {
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

// sendKeyring writes prefix (if any), then this node's keyring, length
// first.
func (t *udpTransport) sendKeyring(w io.Writer, prefix ...byte) error {
	msg := t.keys.encode()
	b := append(prefix, binary.BigEndian.AppendUint16(nil, uint16(len(msg)))...)
	_, err := w.Write(append(b, msg...))
	return err
}

// receiveKeyring reads a peer's keyring and merges it into this node's.
func (t *udpTransport) receiveKeyring(r io.Reader) error {
	var n [2]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return err
	}
	size := int(binary.BigEndian.Uint16(n[:]))
	if size > maxKeyringMessage {
		return fmt.Errorf("%w: %d bytes", ErrInvalidKeyring, size)
	}
	msg := make([]byte, size)
	if _, err := io.ReadFull(r, msg); err != nil {
		return err
	}
	remote, err := decodeKeyring(msg)
	if err != nil {
		return err
	}
	if t.keys.merge(remote) {
		t.log.Info("gossip key changed to the realm's current primary")
	}
	return nil
}

// handleStream serves a membership stream a peer opened: keyrings first,
// then memberlist's exchange.
func (t *udpTransport) handleStream(ctx context.Context, s *transport.Stream) {
	var marker [1]byte
	_ = s.SetDeadline(time.Now().Add(t.dialTimeout))
	stop := context.AfterFunc(t.ctx, func() { _ = s.SetDeadline(time.Now()) })
	defer stop()
	if _, err := io.ReadFull(s, marker[:]); err != nil {
		return
	}
	if marker[0] != markerStream {
		s.Abort(protocol.CodeProtocol)
		return
	}
	if err := t.receiveKeyring(s); err != nil {
		t.log.Debug("membership stream refused", zap.Stringer("peer", s.Peer()), zap.Error(err))
		s.Abort(protocol.CodeProtocol)
		return
	}
	if err := t.sendKeyring(s); err != nil {
		return
	}
	if !stop() {
		return // shutting down
	}
	_ = s.SetDeadline(time.Time{})
	c, err := t.track(s)
	if err != nil {
		return
	}
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
}

// Shutdown implements memberlist.Transport: it stops every goroutine.
func (t *udpTransport) Shutdown() error {
	t.mu.Lock()
	t.closed = true
	streams := make([]*streamConn, 0, len(t.streams))
	for c := range t.streams {
		streams = append(streams, c)
	}
	t.mu.Unlock()
	t.cancel()
	for _, c := range streams {
		c.abort()
	}
	t.nw.HandlePackets(nil)
	t.nw.Handle(protocol.StreamMembership, nil)
	return nil
}
