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

const (
	// MaxDatagramPayload is the largest payload SendDatagram accepts. QUIC
	// packets start at 1280 bytes; after headers, the AEAD tag, the frame
	// header and our type byte, 1150 bytes always fit.
	MaxDatagramPayload = 1150
	// datagramQueueLen is how many datagrams wait per connection for the
	// sender; more are dropped, as a full UDP socket buffer would.
	datagramQueueLen = 256
)

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

// SendDatagram queues payload, prefixed by typ, to go to a connected peer
// as one unreliable QUIC datagram. It never blocks: quic-go's own
// SendDatagram blocks while its small queue is full (a slow or dead peer),
// so each connection has a bounded queue drained by its own goroutine, and
// a datagram that finds the queue full is dropped and counted, like a UDP
// packet. A payload over MaxDatagramPayload fails with ErrDatagramTooLarge.
func (t *Transport) SendDatagram(id security.NodeID, typ protocol.StreamType, payload []byte) error {
	if t.isClosing() {
		return ErrClosed
	}
	if len(payload) > MaxDatagramPayload {
		return fmt.Errorf("%w: %d bytes, at most %d fit", ErrDatagramTooLarge, len(payload), MaxDatagramPayload)
	}
	pc := t.peers.get(id)
	if pc == nil {
		return fmt.Errorf("datagram to %s: %w", id.Short(), ErrNotConnected)
	}
	buf := make([]byte, 1+len(payload))
	buf[0] = byte(typ)
	copy(buf[1:], payload)
	select {
	case pc.datagrams <- buf:
	default:
		t.datagramsDropped.Add(1)
	}
	return nil
}

// DatagramsDropped counts datagrams dropped because a connection's send
// queue was full or the peer could not take them.
func (t *Transport) DatagramsDropped() uint64 { return t.datagramsDropped.Load() }

// datagramSender drains the connection's datagram queue until it closes.
func (pc *peerConn) datagramSender() {
	done := pc.conn.Context().Done()
	for {
		select {
		case <-done:
			return
		case buf := <-pc.datagrams:
			if err := pc.conn.SendDatagram(buf); err != nil {
				pc.t.datagramsDropped.Add(1)
				var tooLarge *quic.DatagramTooLargeError
				if !errors.As(err, &tooLarge) {
					return // the connection is closing
				}
			}
		}
	}
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
		if !pc.allowDatagram() {
			pc.limitExceeded(LimitDatagramRate)
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
