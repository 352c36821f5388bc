package transport

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
)

// MaxPacketSize is the largest raw packet ReadPackets delivers; longer
// ones are truncated by the socket read and dropped.
const MaxPacketSize = 64 << 10

// PacketHandler receives one raw (non-QUIC) packet that arrived on the
// node's socket. It is called on the Transport's single packet goroutine,
// which must keep up with the socket: the handler must not block, and it
// may keep b (each call gets its own copy).
type PacketHandler func(b []byte, from net.Addr)

// packetState is the raw-packet side of a Transport.
type packetState struct {
	handler  atomic.Pointer[PacketHandler]
	received atomic.Uint64
	dropped  atomic.Uint64 // no handler
}

// HandlePackets sets the handler for raw packets on the node's socket:
// UDP datagrams whose first byte has its two high bits clear, which no
// QUIC packet does (quic-go hands them over instead of parsing them). nil
// removes the handler; packets that arrive without one are dropped and
// counted. Membership's SWIM packets travel this way, so a node needs no
// QUIC connection per member.
func (t *Transport) HandlePackets(h PacketHandler) {
	if h == nil {
		t.packets.handler.Store(nil)
		return
	}
	t.packets.handler.Store(&h)
}

// WritePacket sends b as one raw UDP datagram to addr from the node's
// socket. b[0] must have its two high bits clear, or the receiver would
// take the packet for QUIC. It does not wait for anything but the socket.
func (t *Transport) WritePacket(b []byte, addr net.Addr) error {
	if err := t.unusable(); err != nil {
		return err
	}
	if len(b) == 0 || b[0]&0xc0 != 0 {
		return fmt.Errorf("%w: it must start with a byte below 0x40", ErrInvalidPacket)
	}
	if _, err := t.qt.WriteTo(b, addr); err != nil {
		return fmt.Errorf("write packet to %s: %w", addr, err)
	}
	return nil
}

// PacketStats counts raw packets.
type PacketStats struct {
	// Received is the number of raw packets read from the socket.
	Received uint64
	// Unhandled is how many of them arrived while no handler was set.
	Unhandled uint64
}

// PacketStats returns the raw-packet counters.
func (t *Transport) PacketStats() PacketStats {
	return PacketStats{Received: t.packets.received.Load(), Unhandled: t.packets.dropped.Load()}
}

// startPackets makes quic-go queue raw packets from now on (it drops them
// until the first ReadNonQUICPacket call, which the reading goroutine
// might make only later), then starts that goroutine.
func (t *Transport) startPackets() {
	ctx, cancel := context.WithCancel(t.ctx)
	cancel()
	buf := make([]byte, MaxPacketSize)
	if n, from, err := t.qt.ReadNonQUICPacket(ctx, buf); err == nil {
		t.deliverPacket(buf[:n], from)
	}
	t.goFunc(t.readPackets)
}

// readPackets drains quic-go's small queue of non-QUIC packets (32
// packets; more are dropped) until the Transport closes, copying each to
// the handler.
func (t *Transport) readPackets() {
	buf := make([]byte, MaxPacketSize)
	for {
		n, from, err := t.qt.ReadNonQUICPacket(t.ctx, buf)
		if err != nil {
			return
		}
		t.deliverPacket(buf[:n], from)
	}
}

// deliverPacket hands a copy of b to the handler, or counts it dropped.
func (t *Transport) deliverPacket(b []byte, from net.Addr) {
	t.packets.received.Add(1)
	h := t.packets.handler.Load()
	if h == nil {
		t.packets.dropped.Add(1)
		return
	}
	(*h)(append([]byte(nil), b...), from)
}
