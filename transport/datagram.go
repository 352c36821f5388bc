package transport

import (
	"errors"
	"fmt"

	"github.com/quic-go/quic-go"
	"go.uber.org/zap"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
)

// ErrDatagramTooLarge means a datagram does not fit in one QUIC packet on
// the connection; send it on a stream instead.
var ErrDatagramTooLarge = errors.New("macula: datagram too large")

// DatagramHandler receives one datagram's payload (after its type byte) from
// a connected peer. It is called on the connection's datagram goroutine: it
// must not block; copy payload if it is kept.
type DatagramHandler func(from PeerInfo, payload []byte)

// HandleDatagram registers h for datagrams whose first byte is typ,
// replacing any earlier handler; nil removes it.
func (t *Transport) HandleDatagram(typ protocol.StreamType, h DatagramHandler) {
	t.handlersMu.Lock()
	defer t.handlersMu.Unlock()
	if h == nil {
		delete(t.datagramHandlers, typ)
		return
	}
	t.datagramHandlers[typ] = h
}

func (t *Transport) datagramHandler(typ protocol.StreamType) DatagramHandler {
	t.handlersMu.RLock()
	defer t.handlersMu.RUnlock()
	return t.datagramHandlers[typ]
}

// SendDatagram sends payload as one unreliable QUIC datagram, prefixed by
// typ, to a connected peer. It never blocks. A payload that does not fit
// fails with ErrDatagramTooLarge.
func (t *Transport) SendDatagram(id security.NodeID, typ protocol.StreamType, payload []byte) error {
	if t.isClosing() {
		return ErrClosed
	}
	pc := t.peers.get(id)
	if pc == nil {
		return fmt.Errorf("datagram to %s: %w", id.Short(), ErrNotConnected)
	}
	buf := make([]byte, 1+len(payload))
	buf[0] = byte(typ)
	copy(buf[1:], payload)
	err := pc.conn.SendDatagram(buf)
	var tooLarge *quic.DatagramTooLargeError
	if errors.As(err, &tooLarge) {
		return fmt.Errorf("%w: %d bytes, at most %d fit", ErrDatagramTooLarge, len(payload), tooLarge.MaxDatagramPayloadSize-1)
	}
	if err != nil {
		return fmt.Errorf("datagram to %s: %w", id.Short(), err)
	}
	return nil
}

// datagramLoop hands every datagram of the connection to its handler.
func (pc *peerConn) datagramLoop() {
	info := pc.info()
	for {
		b, err := pc.conn.ReceiveDatagram(pc.conn.Context())
		if err != nil {
			return
		}
		if len(b) == 0 {
			continue
		}
		h := pc.t.datagramHandler(protocol.StreamType(b[0]))
		if h == nil {
			pc.t.log.Debug("dropping datagram of unknown type", zap.Stringer("peer", pc.id), zap.Uint8("type", b[0]))
			continue
		}
		h(info, b[1:])
	}
}
