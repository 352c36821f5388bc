package transport

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
)

func TestDatagrams(t *testing.T) {
	onBoth(t, func(t *testing.T, nw network) {
		conns := nw.conns(2)
		a, b := newNode(t, conns[0]), newNode(t, conns[1])
		type got struct {
			from    security.NodeID
			payload string
		}
		recv := make(chan got, 4)
		b.HandleDatagram(protocol.StreamMembership, func(from PeerInfo, payload []byte) {
			recv <- got{from.ID, string(payload)}
		})
		dial(t, a, b)

		require.ErrorIs(t, a.SendDatagram(security.NodeID{9}, protocol.StreamMembership, []byte("x")), ErrNotConnected)
		// A datagram of a type b does not handle is dropped; the next arrives.
		require.NoError(t, a.SendDatagram(b.ID(), protocol.StreamDHT, []byte("ignored")))
		require.NoError(t, a.SendDatagram(b.ID(), protocol.StreamMembership, []byte("probe")))
		select {
		case g := <-recv:
			require.Equal(t, a.ID(), g.from)
			require.Equal(t, "probe", g.payload)
		case <-time.After(5 * time.Second):
			t.Fatal("datagram not delivered")
		}
		require.ErrorIs(t, a.SendDatagram(b.ID(), protocol.StreamMembership, make([]byte, 64<<10)), ErrDatagramTooLarge)
		_, err := a.Ping(context.Background(), b.ID())
		require.NoError(t, err)
	})
}
