package transport

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// packetSink collects raw packets.
type packetSink struct {
	mu   sync.Mutex
	got  [][]byte
	from []net.Addr
}

func (s *packetSink) handle(b []byte, from net.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, b)
	s.from = append(s.from, from)
}

func (s *packetSink) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

func TestRawPacketsShareTheSocketWithQUIC(t *testing.T) {
	onBoth(t, func(t *testing.T, nw network) {
		conns := nw.conns(2)
		a, b := newNode(t, conns[0]), newNode(t, conns[1])
		var sink packetSink
		b.HandlePackets(sink.handle)

		// A raw packet arrives whole, from a's socket address, with no
		// QUIC connection between them.
		require.NoError(t, a.WritePacket([]byte{0x01, 'h', 'i'}, b.Addr()))
		eventually(t, 2*time.Second, func() bool { return sink.len() == 1 }, "raw packet delivered")
		sink.mu.Lock()
		require.Equal(t, []byte{0x01, 'h', 'i'}, sink.got[0])
		require.Equal(t, a.Addr().String(), sink.from[0].String())
		sink.mu.Unlock()
		require.Empty(t, a.Peers())
		require.Empty(t, b.Peers())

		// A packet a receiver would parse as QUIC is refused at the sender.
		err := a.WritePacket([]byte{0x40, 1}, b.Addr())
		require.True(t, errors.Is(err, ErrInvalidPacket), "got %v", err)
		require.ErrorIs(t, a.WritePacket(nil, b.Addr()), ErrInvalidPacket)

		// QUIC still works on the same sockets.
		p := dial(t, a, b)
		rtt, err := a.Ping(context.Background(), p.ID)
		require.NoError(t, err)
		require.Positive(t, rtt)

		// Without a handler, packets are counted and dropped.
		b.HandlePackets(nil)
		require.NoError(t, a.WritePacket([]byte{0x02}, b.Addr()))
		eventually(t, 2*time.Second, func() bool { return b.PacketStats().Unhandled == 1 }, "unhandled packet counted")
		require.Equal(t, uint64(2), b.PacketStats().Received)
		require.Equal(t, 1, sink.len())
	})
}

// TestRandomPacketFloodLeavesQUICWorking sends a burst of random UDP
// datagrams at a node from a socket that is not a node: those that look
// like raw packets reach the handler (and nothing else), the rest are
// dropped by quic-go, and a QUIC connection on the same socket keeps
// answering pings throughout.
func TestRandomPacketFloodLeavesQUICWorking(t *testing.T) {
	onBoth(t, func(t *testing.T, nw network) {
		conns := nw.conns(3)
		a, b := newNode(t, conns[0]), newNode(t, conns[1])
		flooder := conns[2]
		t.Cleanup(func() { _ = flooder.Close() })
		var sink packetSink
		b.HandlePackets(sink.handle)
		p := dial(t, a, b)

		rng := rand.New(rand.NewPCG(1, 2))
		raw := 0
		for i := range 2000 {
			pkt := make([]byte, 1+rng.IntN(1200))
			for j := range pkt {
				pkt[j] = byte(rng.Uint32())
			}
			if pkt[0]&0xc0 == 0 {
				raw++
			}
			_, err := flooder.WriteTo(pkt, b.Addr())
			require.NoError(t, err)
			if i%100 == 0 {
				_, err := a.Ping(context.Background(), p.ID)
				require.NoError(t, err, "ping during the flood")
			}
		}
		_, err := a.Ping(context.Background(), p.ID)
		require.NoError(t, err)
		// quic-go queues 32 raw packets and drops the rest of a burst it
		// cannot hand over fast enough; what arrived was counted.
		eventually(t, 2*time.Second, func() bool { return b.PacketStats().Received > 0 }, "flood counted")
		require.LessOrEqual(t, b.PacketStats().Received, uint64(raw))
		// Received counts a packet before its handler runs: wait for the
		// last handler call.
		eventually(t, 2*time.Second, func() bool { return int(b.PacketStats().Received) == sink.len() }, "every packet counted reached the handler")
		_, ok := b.Peer(a.ID())
		require.True(t, ok, "the QUIC connection survived")
	})
}
