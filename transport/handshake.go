package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/quic-go/quic-go"
	"go.uber.org/zap"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
)

// Software is sent in the Hello to name this implementation.
const Software = "macula-go/0.1"

// Dial connects to the node at addr, verifies it, exchanges Hellos and
// returns the connected peer. If expected is non-zero the peer must have
// that ID. If a connection to the peer exists already, or a simultaneous
// connection from the peer wins, Dial returns that peer instead. ctx bounds
// the dial; HandshakeTimeout bounds it too.
func (t *Transport) Dial(ctx context.Context, addr net.Addr, expected security.NodeID) (PeerInfo, error) {
	if err := t.unusable(); err != nil {
		return PeerInfo{}, err
	}
	if !expected.IsZero() {
		if pc := t.peers.get(expected); pc != nil {
			return pc.info(), nil
		}
		if until, banned := t.refuseBanned(expected); banned {
			return PeerInfo{}, fmt.Errorf("dial %s: %w", addr, &BannedError{Peer: expected, Until: until})
		}
	}
	ctx, cancel := context.WithTimeout(ctx, t.cfg.HandshakeTimeout)
	defer cancel()
	stop := context.AfterFunc(t.ctx, cancel)
	defer stop()

	res := &verifyResult{}
	conn, err := t.qt.Dial(ctx, addr, t.clientTLS(addr, expected, res), t.quicConf)
	if err != nil {
		if verr := res.get(); verr != nil {
			return PeerInfo{}, fmt.Errorf("dial %s: %w", addr, verr)
		}
		return PeerInfo{}, fmt.Errorf("dial %s: %w", addr, classifyConnErr(t, err))
	}
	id, err := peerIDFromState(conn.ConnectionState().TLS, t.verifyOptions(expected))
	if err != nil { // cannot happen after a verified handshake; refuse anyway
		_ = conn.CloseWithError(quic.ApplicationErrorCode(protocol.CodeIdentityMismatch), err.Error())
		return PeerInfo{}, fmt.Errorf("dial %s: %w", addr, err)
	}
	if id == t.ID() {
		_ = conn.CloseWithError(quic.ApplicationErrorCode(protocol.CodeOK), ErrSelfConnection.Error())
		return PeerInfo{}, fmt.Errorf("dial %s: %w", addr, ErrSelfConnection)
	}
	if until, banned := t.refuseBanned(id); banned {
		_ = conn.CloseWithError(quic.ApplicationErrorCode(protocol.CodeRateLimited), banReason(until))
		return PeerInfo{}, fmt.Errorf("dial %s: %w", addr, &BannedError{Peer: id, Until: until})
	}
	pc, err := t.helloAsDialer(ctx, conn, id)
	if err != nil {
		code, _ := StreamCode(err)
		if code == protocol.CodeDuplicateConnection {
			// The peer kept a connection it dialed to us: use that one.
			if winner, werr := t.peers.wait(ctx, id); werr == nil {
				return winner.info(), nil
			}
		}
		_ = conn.CloseWithError(quic.ApplicationErrorCode(codeOf(err)), "hello failed")
		return PeerInfo{}, fmt.Errorf("dial %s: %w", addr, classifyConnErr(t, err))
	}
	if until, banned := t.refuseBanned(id); banned { // banned during the Hello exchange
		_ = conn.CloseWithError(quic.ApplicationErrorCode(protocol.CodeRateLimited), banReason(until))
		return PeerInfo{}, fmt.Errorf("dial %s: %w", addr, &BannedError{Peer: id, Until: until})
	}
	winner, ok := t.register(pc)
	if !ok {
		return PeerInfo{}, ErrClosed
	}
	return winner.info(), nil
}

// classifyConnErr turns quic-go's handshake and close errors into ours.
// A connection the peer refused before any handshake
// (CONNECTION_REFUSED: over its handshake rate, or its accept queue is
// full) is rate limited; one it closed with CodeRateLimited is banned.
func classifyConnErr(t *Transport, err error) error {
	var te *quic.TransportError
	if errors.As(err, &te) && te.Remote && te.ErrorCode.IsCryptoError() {
		return fmt.Errorf("%w: %w", ErrPeerRefused, err)
	}
	if errors.As(err, &te) && te.Remote && te.ErrorCode == quic.ConnectionRefused {
		return fmt.Errorf("%w: %w", ErrRateLimited, err)
	}
	var ae *quic.ApplicationError
	if errors.As(err, &ae) && ae.Remote && protocol.ErrorCode(ae.ErrorCode) == protocol.CodeRateLimited {
		// Only a ban closes a connection with this code while it is
		// being set up (see refuseIfBanned).
		return fmt.Errorf("%w: %w", ErrBanned, err)
	}
	if errors.As(err, &ae) && ae.Remote {
		if s := sentinelFor(protocol.ErrorCode(ae.ErrorCode)); s != nil {
			return fmt.Errorf("%w: %w", s, err)
		}
	}
	if t.isClosing() {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return err
}

// helloAsDialer opens the control stream, sends our Hello and reads the
// peer's.
func (t *Transport) helloAsDialer(ctx context.Context, conn *quic.Conn, id security.NodeID) (*peerConn, error) {
	ctrl, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	_ = ctrl.SetDeadline(deadline)
	// Cancelling ctx (the Transport or the caller closing) ends the
	// exchange at once, not at the deadline.
	defer context.AfterFunc(ctx, func() { _ = ctrl.SetDeadline(time.Now()) })()
	seq := t.dialSeq.Add(1)
	frame, err := protocol.AppendFrame([]byte{byte(protocol.StreamControl)}, t.hello(seq), t.cfg.MaxFrameSize)
	if err != nil {
		return nil, err
	}
	if _, err := ctrl.Write(frame); err != nil {
		return nil, err
	}
	reader := protocol.NewFrameReader(ctrl, t.cfg.MaxFrameSize)
	hello, err := t.readHello(reader, id)
	if err != nil {
		return nil, err
	}
	_ = ctrl.SetDeadline(time.Time{})
	return t.newPeerConn(conn, ctrl, reader, id, hello, true, t.ID(), seq), nil
}

// serveInbound runs the Hello exchange on an accepted connection.
func (t *Transport) serveInbound(conn *quic.Conn) {
	remote := conn.RemoteAddr()
	fail := func(err error) {
		t.handshakeFailed(remote, err)
		_ = conn.CloseWithError(quic.ApplicationErrorCode(codeOf(err)), err.Error())
	}
	id, err := peerIDFromState(conn.ConnectionState().TLS, t.verifyOptions(security.NodeID{}))
	if err != nil {
		fail(err)
		return
	}
	if id == t.ID() {
		// Our own dial looping back; the dialing side reports it.
		_ = conn.CloseWithError(quic.ApplicationErrorCode(protocol.CodeOK), ErrSelfConnection.Error())
		return
	}
	if t.refuseIfBanned(conn, id) {
		return
	}
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.HandshakeTimeout)
	defer cancel()
	ctrl, err := conn.AcceptStream(ctx)
	if err != nil {
		fail(fmt.Errorf("%w: no control stream: %w", ErrHandshakeFailed, err))
		return
	}
	deadline, _ := ctx.Deadline()
	_ = ctrl.SetDeadline(deadline)
	var typ [1]byte
	if _, err := io.ReadFull(ctrl, typ[:]); err != nil {
		fail(fmt.Errorf("%w: reading stream type: %w", ErrHandshakeFailed, err))
		return
	}
	if protocol.StreamType(typ[0]) != protocol.StreamControl {
		fail(fmt.Errorf("%w: first stream has type %d, want control", protocol.ErrMalformedFrame, typ[0]))
		return
	}
	reader := protocol.NewFrameReader(ctrl, t.cfg.MaxFrameSize)
	hello, err := t.readHello(reader, id)
	if err != nil {
		fail(err)
		return
	}
	if err := protocol.WriteFrame(ctrl, t.hello(0), t.cfg.MaxFrameSize); err != nil {
		fail(fmt.Errorf("%w: writing hello: %w", ErrHandshakeFailed, err))
		return
	}
	_ = ctrl.SetDeadline(time.Time{})
	if t.refuseIfBanned(conn, id) { // banned during the Hello exchange
		return
	}
	pc := t.newPeerConn(conn, ctrl, reader, id, hello, false, id, hello.GetDialSeq())
	t.register(pc)
}

// refuseIfBanned closes an inbound connection from a banned peer with
// CodeRateLimited, which its dial reports as ErrBanned, and reports
// whether it did. The peer's further connections from the same address
// are refused before TLS until the ban ends (see admitHandshake): a
// banned peer that keeps dialing costs a full handshake once per
// address. The refusal is counted, not audited: the ban was.
func (t *Transport) refuseIfBanned(conn *quic.Conn, id security.NodeID) bool {
	until, banned := t.refuseBanned(id)
	if !banned {
		return false
	}
	t.bans.banAddr(conn.RemoteAddr(), until)
	t.log.Debug("refusing a banned peer", zap.Stringer("peer", id), zap.Stringer("addr", addrStringer{conn.RemoteAddr()}))
	_ = conn.CloseWithError(quic.ApplicationErrorCode(protocol.CodeRateLimited), banReason(until))
	return true
}

// hello is our Hello; dialSeq is set on connections we dial.
func (t *Transport) hello(dialSeq uint64) *protocol.Envelope {
	id := t.ID()
	return &protocol.Envelope{Body: &protocol.Envelope_Hello{Hello: &protocol.Hello{
		VersionMajor: protocol.VersionMajor,
		VersionMinor: protocol.VersionMinor,
		NodeId:       id[:],
		Realm:        t.cfg.Realm,
		Addrs:        t.cfg.AdvertiseAddrs,
		Capabilities: t.cfg.Capabilities,
		Software:     Software,
		Instance:     t.instance,
		DialSeq:      dialSeq,
	}}}
}

// readHello reads the peer's Hello and checks it against the identity its
// certificate proved.
func (t *Transport) readHello(r *protocol.FrameReader, id security.NodeID) (*protocol.Hello, error) {
	var env protocol.Envelope
	if err := r.ReadFrame(&env); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w: %w", ErrHandshakeFailed, err)
	}
	hello := env.GetHello()
	if hello == nil {
		return nil, fmt.Errorf("%w: first control message is %T, want Hello", protocol.ErrMalformedFrame, env.Body)
	}
	if err := protocol.CheckVersion(hello); err != nil {
		return nil, err
	}
	if string(hello.GetNodeId()) != string(id[:]) {
		return nil, fmt.Errorf("%w: hello names a node other than the certificate", security.ErrIdentityMismatch)
	}
	if hello.GetRealm() != t.cfg.Realm {
		return nil, fmt.Errorf("%w: hello realm %q, ours %q", security.ErrRealmMismatch, hello.GetRealm(), t.cfg.Realm)
	}
	return hello, nil
}

func (t *Transport) newPeerConn(conn *quic.Conn, ctrl *quic.Stream, r *protocol.FrameReader, id security.NodeID,
	hello *protocol.Hello, outbound bool, dialer security.NodeID, dialSeq uint64) *peerConn {
	pc := &peerConn{
		t: t, conn: conn, id: id, hello: hello, outbound: outbound,
		dialer: dialer, dialSeq: dialSeq, remoteInstance: hello.GetInstance(),
		connectedAt: time.Now(), ctrl: ctrl, ctrlReader: r,
		pings:     make(map[uint64]chan struct{}),
		datagrams: make(chan []byte, datagramQueueLen),
		limits:    newConnLimits(&t.cfg),
	}
	pc.touch()
	return pc
}

// register makes pc the peer's connection unless a better one exists, closes
// the loser, and starts serving the winner if it is pc. It returns the
// connection kept, and false once the Transport is closing.
func (t *Transport) register(pc *peerConn) (*peerConn, bool) {
	winner, loser, ok := t.peers.add(pc)
	if loser != nil {
		code, reason := protocol.CodeDuplicateConnection, ErrDuplicateConnection.Error()
		if !ok {
			code, reason = protocol.CodeShutdown, "node shutting down"
		}
		loser.closeWith(code, reason)
	}
	if !ok {
		return nil, false
	}
	if winner != pc {
		t.log.Debug("duplicate connection closed", zap.Stringer("peer", pc.id), zap.Bool("outbound", pc.outbound))
		return winner, true
	}
	t.log.Debug("peer connected", zap.Stringer("peer", pc.id), zap.Bool("outbound", pc.outbound),
		zap.Stringer("addr", pc.conn.RemoteAddr()))
	if t.cfg.OnPeerChange != nil {
		t.cfg.OnPeerChange(PeerEvent{Peer: pc.info(), Connected: true})
	}
	// The control loop owns the connection's end: when it returns, connGone
	// removes the peer. If the Transport is closing, Close has closed or will
	// close the connection.
	if !t.goFunc(pc.controlLoop) {
		pc.closeWith(protocol.CodeShutdown, "node shutting down")
		t.peers.remove(pc)
		return nil, false
	}
	t.goFunc(pc.acceptLoop)
	t.goFunc(pc.datagramLoop)
	t.goFunc(pc.datagramSender)
	return pc, true
}
