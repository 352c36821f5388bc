package transport

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/security"
)

// A built Transport serves nobody and calls no callback until Start, so
// its owner can wire what the callbacks use in between.
func TestNoCallbackBeforeStart(t *testing.T) {
	onBoth(t, func(t *testing.T, nw network) {
		conns := nw.conns(2)
		var changes atomic.Int32
		id, err := security.GenerateIdentity()
		require.NoError(t, err)
		b, err := New(Config{
			Identity: id, Realm: testRealm, Conn: conns[1], HandshakeTimeout: time.Second,
			OnPeerChange: func(PeerEvent) { changes.Add(1) },
		})
		require.NoError(t, err)
		t.Cleanup(func() { _ = b.Close() })
		a := newNode(t, conns[0])

		_, err = a.Dial(context.Background(), b.Addr(), security.NodeID{})
		require.Error(t, err, "a Transport that is not started answers no handshake")
		require.Zero(t, changes.Load())

		require.NoError(t, b.Start())
		require.NoError(t, b.Start(), "Start is idempotent")
		dial(t, a, b)
		require.Eventually(t, func() bool { return changes.Load() == 1 }, 5*time.Second, 10*time.Millisecond)
	})
}

func TestNetworkCallsBeforeStartFail(t *testing.T) {
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	id, err := security.GenerateIdentity()
	require.NoError(t, err)
	tr, err := New(Config{Identity: id, Realm: testRealm, Conn: conn})
	require.NoError(t, err)
	_, err = tr.Dial(context.Background(), conn.LocalAddr(), security.NodeID{})
	require.ErrorIs(t, err, ErrNotStarted)
	require.ErrorIs(t, tr.WritePacket([]byte{1}, conn.LocalAddr()), ErrNotStarted)

	// Close releases a Transport that never started: its socket too.
	require.NoError(t, tr.Close())
	_, err = conn.WriteTo([]byte{1}, conn.LocalAddr())
	require.ErrorIs(t, err, net.ErrClosed)
	require.ErrorIs(t, tr.Start(), ErrClosed)
	_, err = tr.Dial(context.Background(), conn.LocalAddr(), security.NodeID{})
	require.ErrorIs(t, err, ErrClosed)
}
