package transport

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/stretchr/testify/require"

	"github.com/org/macula/security"
)

// muteConn drops every packet written once muted: the node's close never
// leaves, as if it crashed or a partition ate its CONNECTION_CLOSE.
type muteConn struct {
	net.PacketConn
	muted atomic.Bool
}

func (c *muteConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.muted.Load() {
		return len(b), nil
	}
	return c.PacketConn.WriteTo(b, addr)
}

// TestRestartedPeerResetsTheOldConnection: a node that lost a connection's
// state (here: it crashed and came back with the same identity and
// address) answers the first packet on that connection with a stateless
// reset, and the peer drops the connection at once instead of keeping it
// until the idle timeout. The chaos suite found calls hanging for 10 s on
// such a connection after a partition (the close was lost), which even
// won the duplicate-connection tie-break against a fresh one.
func TestRestartedPeerResetsTheOldConnection(t *testing.T) {
	gone := make(chan PeerEvent, 4)
	a := newNode(t, newUDP(t), func(c *Config) {
		c.OnPeerChange = func(ev PeerEvent) {
			if !ev.Connected {
				gone <- ev
			}
		}
	})
	idB, err := security.GenerateIdentity()
	require.NoError(t, err)
	raw, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	addrB := raw.LocalAddr().String()
	connB := &muteConn{PacketConn: raw}
	b, err := New(Config{Identity: idB, Realm: testRealm, Conn: connB})
	require.NoError(t, err)
	require.NoError(t, b.Start())
	dial(t, a, b)

	// B crashes: nothing it sends from now on arrives, and its state goes.
	connB.muted.Store(true)
	require.NoError(t, b.Close())
	// B comes back on the same address with the same identity.
	raw2, err := net.ListenPacket("udp", addrB)
	require.NoError(t, err)
	b2, err := New(Config{Identity: idB, Realm: testRealm, Conn: raw2})
	require.NoError(t, err)
	require.NoError(t, b2.Start())
	t.Cleanup(func() { _ = b2.Close() })

	_, stillListed := a.Peer(idB.ID())
	require.True(t, stillListed, "A has not heard of the crash")
	// A's next packet on the old connection meets B's new instance.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = a.Ping(ctx, idB.ID())
	select {
	case ev := <-gone:
		var reset *quic.StatelessResetError
		require.True(t, errors.As(ev.Err, &reset), "the connection ended by a stateless reset, not %v", ev.Err)
	case <-time.After(10 * time.Second):
		t.Fatal("A kept the dead connection (the idle timeout is 30 s)")
	}
}

// newUDP returns a real UDP socket on 127.0.0.1.
func newUDP(t *testing.T) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	return c
}
