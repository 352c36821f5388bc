package transport

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"go.uber.org/zap"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
)

// peerConn is one verified QUIC connection to a peer, after the Hello.
type peerConn struct {
	t        *Transport
	conn     *quic.Conn
	id       security.NodeID
	hello    *protocol.Hello // the peer's
	outbound bool
	// dialer, dialSeq and remoteInstance decide between duplicate
	// connections; see preferred.
	dialer         security.NodeID
	dialSeq        uint64
	remoteInstance uint64
	connectedAt    time.Time

	ctrl       *quic.Stream
	ctrlReader *protocol.FrameReader
	writeMu    sync.Mutex // serializes control-stream writes

	pingMu    sync.Mutex
	nextNonce uint64
	pings     map[uint64]chan struct{}

	datagrams chan []byte // drained by datagramSender

	limits *connLimits
	use    connUse
}

func (pc *peerConn) info() PeerInfo {
	return PeerInfo{
		ID:              pc.id,
		Realm:           pc.hello.GetRealm(),
		RemoteAddr:      pc.conn.RemoteAddr(),
		AdvertisedAddrs: append([]string(nil), pc.hello.GetAddrs()...),
		Capabilities:    append([]string(nil), pc.hello.GetCapabilities()...),
		Software:        pc.hello.GetSoftware(),
		Outbound:        pc.outbound,
		ConnectedAt:     pc.connectedAt,
		Protected:       pc.t.protectedBy(pc.id),
		Streams:         int(max(pc.use.users.Load(), 0)),
		Idle:            pc.idleFor(time.Now()),
		RTT:             pc.conn.ConnectionStats().SmoothedRTT,
		Certificate:     pc.peerCertificate(),
	}
}

// peerCertificate is the leaf certificate the peer presented (and that
// was verified) in the TLS handshake.
func (pc *peerConn) peerCertificate() *x509.Certificate {
	if certs := pc.conn.ConnectionState().TLS.PeerCertificates; len(certs) > 0 {
		return certs[0]
	}
	return nil
}

func (pc *peerConn) closeWith(code protocol.ErrorCode, reason string) {
	_ = pc.conn.CloseWithError(quic.ApplicationErrorCode(code), reason)
}

// send writes one frame on the control stream. Writes are bounded by the
// handshake timeout so a peer that stops reading cannot block us forever.
func (pc *peerConn) send(env *protocol.Envelope) error {
	pc.writeMu.Lock()
	defer pc.writeMu.Unlock()
	_ = pc.ctrl.SetWriteDeadline(time.Now().Add(pc.t.cfg.HandshakeTimeout))
	return protocol.WriteFrame(pc.ctrl, env, pc.t.cfg.MaxFrameSize)
}

// ping sends a Ping on the control stream and waits for the matching Pong.
func (pc *peerConn) ping(ctx context.Context) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("ping %s: %w", pc.id.Short(), err)
	}
	done := make(chan struct{})
	pc.pingMu.Lock()
	pc.nextNonce++
	nonce := pc.nextNonce
	pc.pings[nonce] = done
	pc.pingMu.Unlock()
	defer func() {
		pc.pingMu.Lock()
		delete(pc.pings, nonce)
		pc.pingMu.Unlock()
	}()

	start := time.Now()
	if err := pc.send(&protocol.Envelope{Body: &protocol.Envelope_Ping{Ping: &protocol.Ping{Nonce: nonce}}}); err != nil {
		return 0, fmt.Errorf("ping %s: %w", pc.id.Short(), err)
	}
	select {
	case <-done:
		return time.Since(start), nil
	case <-ctx.Done():
		return 0, fmt.Errorf("ping %s: %w", pc.id.Short(), ctx.Err())
	case <-pc.conn.Context().Done():
		return 0, fmt.Errorf("ping %s: %w: %w", pc.id.Short(), ErrNotConnected, context.Cause(pc.conn.Context()))
	}
}

func (pc *peerConn) pong(nonce uint64) {
	pc.pingMu.Lock()
	done, ok := pc.pings[nonce]
	if ok {
		delete(pc.pings, nonce)
	}
	pc.pingMu.Unlock()
	if ok {
		close(done)
	}
}

// controlLoop serves the control stream until the connection ends. A
// malformed frame or an unexpected message closes the connection with a
// protocol error; the rest of the node is unaffected.
func (pc *peerConn) controlLoop() {
	defer pc.t.connGone(pc)
	var env protocol.Envelope
	for {
		err := pc.ctrlReader.ReadFrame(&env)
		if err != nil {
			switch {
			case isFrameError(err):
				pc.t.log.Warn("bad frame on control stream, closing connection",
					zap.Stringer("peer", pc.id), zap.Error(err))
				pc.closeWith(protocol.CodeOf(err), err.Error())
			case errors.Is(err, io.EOF):
				pc.closeWith(protocol.CodeProtocol, "control stream closed")
			}
			return
		}
		switch body := env.Body.(type) {
		case *protocol.Envelope_Ping:
			if !pc.allowPing() {
				pc.limitExceeded(LimitPingRate)
				continue
			}
			if err := pc.send(&protocol.Envelope{Body: &protocol.Envelope_Pong{Pong: &protocol.Pong{Nonce: body.Ping.GetNonce()}}}); err != nil {
				pc.t.log.Debug("pong failed", zap.Stringer("peer", pc.id), zap.Error(err))
			}
		case *protocol.Envelope_Pong:
			pc.pong(body.Pong.GetNonce())
		case *protocol.Envelope_Heartbeat:
			if !pc.allowPing() {
				pc.limitExceeded(LimitPingRate)
			}
		case *protocol.Envelope_Close:
			pc.t.log.Debug("peer is closing the connection", zap.Stringer("peer", pc.id),
				zap.Stringer("code", body.Close.GetCode()), zap.String("reason", body.Close.GetReason()))
			if body.Close.GetCode() == protocol.CodeShutdown && pc.t.cfg.OnPeerLeaving != nil {
				pc.t.cfg.OnPeerLeaving(pc.id)
			}
		default:
			pc.t.log.Warn("unexpected message on control stream, closing connection",
				zap.Stringer("peer", pc.id), zap.String("type", fmt.Sprintf("%T", body)))
			pc.closeWith(protocol.CodeProtocol, "unexpected message on control stream")
			return
		}
	}
}

// acceptLoop hands every stream the peer opens to the handler of its type,
// or refuses it when the peer is over a stream limit.
func (pc *peerConn) acceptLoop() {
	for {
		s, err := pc.conn.AcceptStream(pc.conn.Context())
		if err != nil {
			return
		}
		if limit, ok := pc.admitStream(); !ok {
			pc.refuseStream(s, limit)
			continue
		}
		if !pc.acquire() {
			// Retired by the connection manager: it is closing.
			pc.streamDone()
			s.CancelRead(quic.StreamErrorCode(protocol.CodeShutdown))
			s.CancelWrite(quic.StreamErrorCode(protocol.CodeShutdown))
			continue
		}
		if !pc.t.goFunc(func() { defer pc.streamDone(); defer pc.release(); pc.t.dispatch(pc, s) }) {
			pc.release()
			pc.streamDone()
			s.CancelRead(quic.StreamErrorCode(protocol.CodeShutdown))
			s.CancelWrite(quic.StreamErrorCode(protocol.CodeShutdown))
			return
		}
	}
}
