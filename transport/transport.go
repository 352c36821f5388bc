package transport

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"go.uber.org/zap"

	"github.com/org/macula/internal/lifecycle"
	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
)

// StreamHandler serves one stream a peer opened. It runs on its own
// goroutine, owned by the Transport; ctx ends when the connection or the
// Transport closes, and the handler must return then. The stream is cleaned
// up after the handler returns.
type StreamHandler func(ctx context.Context, s *Stream)

// Transport is a node's QUIC endpoint: one socket, one listener, and at most
// one verified connection per peer. Create it with New, start it with
// Start and stop it with Close; it is safe for concurrent use.
type Transport struct {
	cfg      Config
	log      *zap.Logger
	qt       *quic.Transport
	ln       *quic.Listener
	quicConf *quic.Config
	cert     atomic.Pointer[tls.Certificate]
	// instance identifies this run of the node (its start time), so peers
	// can tell a restarted node's new connection from a stale one.
	instance uint64
	dialSeq  atomic.Uint64
	peers    *peerTable

	packets          packetState
	protected        protections
	dials            dialGroup
	datagramsDropped atomic.Uint64
	limitRefused     [numLimits]atomic.Uint64 // by Limit; see LimitStats
	handshakes       *addrLimiter             // nil: no handshake limit
	bans             *banList                 // nil: banning off
	bansImposed      atomic.Uint64
	bannedRefused    atomic.Uint64

	handlersMu       sync.RWMutex
	handlers         map[protocol.StreamType]StreamHandler
	datagramHandlers map[protocol.StreamType]DatagramHandler

	// life owns every goroutine of the Transport; ctx is its context,
	// which ends when Close begins.
	life lifecycle.Group
	ctx  context.Context

	// startMu orders Start with Close: Close reads ln once a Start in
	// progress has finished.
	startMu   sync.Mutex
	started   atomic.Bool
	closeOnce sync.Once
}

// New validates cfg and returns a Transport that is built but not started:
// it reads nothing from cfg.Conn, runs no goroutine and calls none of
// cfg's callbacks until [Transport.Start], so its owner can finish wiring
// what the callbacks use first. Handlers may be registered before Start.
// On error cfg.Conn is left open for the caller to close; once New has
// succeeded, Close closes it (whether or not Start was called).
func New(cfg Config) (*Transport, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	t := &Transport{
		cfg:              cfg,
		log:              cfg.Logger.Named("transport"),
		instance:         uint64(time.Now().UnixNano()),
		peers:            newPeerTable(),
		handshakes:       newAddrLimiter(&cfg),
		bans:             newBanList(&cfg),
		handlers:         make(map[protocol.StreamType]StreamHandler),
		datagramHandlers: make(map[protocol.StreamType]DatagramHandler),
		quicConf: &quic.Config{
			HandshakeIdleTimeout:  cfg.HandshakeTimeout,
			MaxIdleTimeout:        cfg.IdleTimeout,
			KeepAlivePeriod:       cfg.KeepAlivePeriod,
			MaxIncomingStreams:    cfg.MaxIncomingStreams,
			MaxIncomingUniStreams: -1, // none: nothing accepts them, so they would sit queued in quic-go
			EnableDatagrams:       true,
		},
	}
	t.cert.Store(cfg.Certificate)
	t.ctx = t.life.Context()
	return t, nil
}

// Start starts serving: it listens on the socket, accepts connections
// (from now on cfg's callbacks may run), reads raw packets and runs the
// connection manager. Dial, WritePacket and the other calls that use the
// network fail with [ErrNotStarted] before Start. Start is idempotent; after
// Close it fails with [ErrClosed]. If it fails, the Transport is unusable:
// Close it.
func (t *Transport) Start() error {
	t.startMu.Lock()
	defer t.startMu.Unlock()
	if t.life.Stopping() {
		return ErrClosed
	}
	if t.started.Load() {
		return nil
	}
	resetKey, err := statelessResetKey(t.cfg.Identity)
	if err != nil {
		return fmt.Errorf("macula: stateless reset key: %w", err)
	}
	qt := &quic.Transport{Conn: t.cfg.Conn, StatelessResetKey: resetKey, ConnContext: t.admitHandshake}
	ln, err := qt.Listen(t.serverTLS(), t.quicConf)
	if err != nil {
		_ = qt.Close()
		return fmt.Errorf("macula: listen: %w", err)
	}
	t.qt, t.ln = qt, ln
	t.started.Store(true)
	t.goFunc(t.acceptLoop)
	t.startPackets()
	t.goFunc(t.trimLoop)
	return nil
}

// ID is this node's ID.
func (t *Transport) ID() security.NodeID { return t.cfg.Identity.ID() }

// Realm is this node's realm.
func (t *Transport) Realm() string { return t.cfg.Realm }

// Addr is the local address of the socket.
func (t *Transport) Addr() net.Addr { return t.cfg.Conn.LocalAddr() }

// Handle registers h for streams of type typ, replacing any earlier handler.
// protocol.StreamControl is reserved and cannot be handled.
func (t *Transport) Handle(typ protocol.StreamType, h StreamHandler) {
	if typ == protocol.StreamControl {
		return
	}
	t.handlersMu.Lock()
	defer t.handlersMu.Unlock()
	if h == nil {
		delete(t.handlers, typ)
		return
	}
	t.handlers[typ] = h
}

func (t *Transport) handler(typ protocol.StreamType) StreamHandler {
	t.handlersMu.RLock()
	defer t.handlersMu.RUnlock()
	return t.handlers[typ]
}

// SetCertificate replaces the certificate presented on new connections;
// existing connections keep theirs. The certificate must be valid for this
// node's identity and realm.
func (t *Transport) SetCertificate(cert tls.Certificate) error {
	c := t.cfg
	c.Certificate = &cert
	if err := checkOwnCertificate(c); err != nil {
		return err
	}
	t.cert.Store(&cert)
	return nil
}

// goFunc runs f on a goroutine owned by t, unless t is closing; it reports
// whether f was started.
func (t *Transport) goFunc(f func()) bool { return t.life.Go(f) }

// Close closes every connection with CodeShutdown, stops listening, closes
// the socket and waits for every goroutine the Transport started. It is
// idempotent and safe to call concurrently, and also releases a Transport
// that was never started.
func (t *Transport) Close() error {
	t.closeOnce.Do(func() {
		t.life.Stop()
		for _, pc := range t.peers.closeAll() {
			pc.closeWith(protocol.CodeShutdown, "node shutting down")
		}
		// A Start in progress finishes first; one that comes later
		// refuses, since stopping has begun.
		t.startMu.Lock()
		ln, qt := t.ln, t.qt
		t.startMu.Unlock()
		if ln != nil {
			_ = ln.Close()
			_ = qt.Close()
		}
		_ = t.cfg.Conn.Close()
		t.life.Wait()
	})
	return nil
}

func (t *Transport) isClosing() bool { return t.life.Stopping() }

// unusable returns the error of a call that needs the network, or nil:
// ErrClosed once closing, ErrNotStarted before Start.
func (t *Transport) unusable() error {
	if t.life.Stopping() {
		return ErrClosed
	}
	if !t.started.Load() {
		return ErrNotStarted
	}
	return nil
}

// handshakeFailed logs a refused or failed handshake and reports it.
func (t *Transport) handshakeFailed(remote net.Addr, err error) {
	t.log.Warn("handshake refused", zap.Stringer("remote", addrStringer{remote}), zap.Error(err))
	if t.cfg.OnHandshakeFailure != nil {
		t.cfg.OnHandshakeFailure(remote, err)
	}
}

// Peers returns the connected peers.
func (t *Transport) Peers() []PeerInfo {
	conns := t.peers.list()
	out := make([]PeerInfo, 0, len(conns))
	for _, pc := range conns {
		out = append(out, pc.info())
	}
	return out
}

// Peer returns the connected peer with the given ID.
func (t *Transport) Peer(id security.NodeID) (PeerInfo, bool) {
	pc := t.livePeer(id)
	if pc == nil {
		return PeerInfo{}, false
	}
	return pc.info(), true
}

// Ping measures the round trip to a connected peer over the control stream.
func (t *Transport) Ping(ctx context.Context, id security.NodeID) (time.Duration, error) {
	if t.isClosing() {
		return 0, ErrClosed
	}
	pc := t.peers.get(id)
	if pc == nil {
		return 0, fmt.Errorf("%w: ping %s", ErrNotConnected, id.Short())
	}
	return pc.ping(ctx)
}

// WaitPeer waits until the peer with the given ID is connected (at once if
// it is) and returns it, or ctx's error. It serves callers whose connection
// just lost to a simultaneous dial from the peer: the winning one follows.
func (t *Transport) WaitPeer(ctx context.Context, id security.NodeID) (PeerInfo, error) {
	pc, err := t.peers.wait(ctx, id)
	if err != nil {
		return PeerInfo{}, err
	}
	return pc.info(), nil
}

// PeerByAddr returns the connected peer whose connection runs to addr
// ("host:port", as net.Addr.String prints it).
func (t *Transport) PeerByAddr(addr string) (PeerInfo, bool) {
	for _, pc := range t.peers.list() {
		if pc.conn.RemoteAddr().String() == addr {
			return pc.info(), true
		}
	}
	return PeerInfo{}, false
}

// AnnounceShutdown tells every connected peer, on the reliable control
// stream, that this node is about to shut down gracefully; their
// OnPeerLeaving callbacks run when it arrives. Connections stay open.
// It is best effort and returns once the frames are written.
func (t *Transport) AnnounceShutdown() {
	env := &protocol.Envelope{Body: &protocol.Envelope_Close{Close: &protocol.Close{
		Code: protocol.CodeShutdown, Reason: "node shutting down"}}}
	for _, pc := range t.peers.list() {
		if err := pc.send(env); err != nil {
			t.log.Debug("shutdown notice not sent", zap.Stringer("peer", pc.id), zap.Error(err))
		}
	}
}

// Disconnect closes the connection to a peer with code and reason.
func (t *Transport) Disconnect(id security.NodeID, code protocol.ErrorCode, reason string) error {
	pc := t.peers.get(id)
	if pc == nil {
		return fmt.Errorf("disconnect %s: %w", id.Short(), ErrNotConnected)
	}
	pc.closeWith(code, reason)
	return nil
}

// OpenStream opens a stream of type typ to a connected peer; ctx bounds the
// wait for stream credit only.
func (t *Transport) OpenStream(ctx context.Context, id security.NodeID, typ protocol.StreamType) (*Stream, error) {
	if t.isClosing() {
		return nil, ErrClosed
	}
	pc := t.livePeer(id)
	if pc == nil {
		return nil, fmt.Errorf("open stream to %s: %w", id.Short(), ErrNotConnected)
	}
	if !pc.acquire() {
		return nil, fmt.Errorf("open stream to %s: %w (closing as idle)", id.Short(), ErrNotConnected)
	}
	raw, err := pc.conn.OpenStreamSync(ctx)
	if err != nil {
		pc.release()
		return nil, fmt.Errorf("open stream to %s: %w", id.Short(), err)
	}
	if _, err := raw.Write([]byte{byte(typ)}); err != nil {
		raw.CancelRead(quic.StreamErrorCode(protocol.CodeInternal))
		pc.release()
		return nil, fmt.Errorf("open stream to %s: %w", id.Short(), err)
	}
	s := newStream(pc, raw, typ)
	s.finished = new(atomic.Bool)
	return s, nil
}

// dispatch reads the stream-type byte and runs the matching handler.
func (t *Transport) dispatch(pc *peerConn, raw *quic.Stream) {
	var typ [1]byte
	_ = raw.SetReadDeadline(time.Now().Add(t.cfg.HandshakeTimeout))
	if _, err := io.ReadFull(raw, typ[:]); err != nil {
		raw.CancelRead(quic.StreamErrorCode(protocol.CodeProtocol))
		raw.CancelWrite(quic.StreamErrorCode(protocol.CodeProtocol))
		return
	}
	_ = raw.SetReadDeadline(time.Time{})
	st := protocol.StreamType(typ[0])
	h := t.handler(st)
	if h == nil {
		t.log.Debug("refusing stream of unknown type", zap.Stringer("peer", pc.id), zap.Uint8("type", typ[0]))
		raw.CancelRead(quic.StreamErrorCode(protocol.CodeUnknownStreamType))
		raw.CancelWrite(quic.StreamErrorCode(protocol.CodeUnknownStreamType))
		pc.violation(unknownStreamType(typ[0]))
		return
	}
	h(pc.conn.Context(), newStream(pc, raw, st))
	// The handler is done with the stream: stop receiving, finish sending.
	raw.CancelRead(quic.StreamErrorCode(protocol.CodeOK))
	_ = raw.Close()
}

// acceptLoop accepts incoming connections until the Transport closes.
func (t *Transport) acceptLoop() {
	for {
		conn, err := t.ln.Accept(t.ctx)
		if err != nil {
			return
		}
		if !t.goFunc(func() { t.serveInbound(conn) }) {
			_ = conn.CloseWithError(quic.ApplicationErrorCode(protocol.CodeShutdown), "node shutting down")
			return
		}
	}
}

// livePeer returns the connection to id, unless there is none or it has
// closed. A closed connection stays in the table until its control loop
// notices (connGone); one found closed before that is dropped here, so
// that Connect dials a new one at once: the peer's connection manager
// may close a connection as idle just as this node opens a stream on it.
func (t *Transport) livePeer(id security.NodeID) *peerConn {
	pc := t.peers.get(id)
	if pc == nil || pc.conn.Context().Err() == nil {
		return pc
	}
	t.connGone(pc)
	return nil
}

// connGone runs when a connection's control loop ends.
func (t *Transport) connGone(pc *peerConn) {
	pc.closeWith(protocol.CodeOK, "")
	if t.peers.remove(pc) {
		cause := context.Cause(pc.conn.Context())
		t.log.Debug("peer disconnected", zap.Stringer("peer", pc.id), zap.Error(cause))
		if t.cfg.OnPeerChange != nil {
			t.cfg.OnPeerChange(PeerEvent{Peer: pc.info(), Connected: false, Err: cause})
		}
	}
}

// addrStringer prints a possibly nil address.
type addrStringer struct{ a net.Addr }

func (s addrStringer) String() string {
	if s.a == nil {
		return "unknown"
	}
	return s.a.String()
}
