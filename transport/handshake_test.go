package transport

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
)

func TestHandshake(t *testing.T) {
	onBoth(t, func(t *testing.T, nw network) {
		conns := nw.conns(2)
		a := newNode(t, conns[0], func(c *Config) { c.Capabilities = []string{"test-cap"} })
		b := newNode(t, conns[1])

		p := dial(t, a, b)
		require.Equal(t, b.ID(), p.ID)
		require.Equal(t, testRealm, p.Realm)
		require.True(t, p.Outbound)
		require.Equal(t, []string{b.Addr().String()}, p.AdvertisedAddrs)
		require.Equal(t, Software, p.Software)

		eventually(t, 2*time.Second, func() bool { return len(b.Peers()) == 1 }, "b sees a")
		pb, ok := b.Peer(a.ID())
		require.True(t, ok)
		require.False(t, pb.Outbound)
		require.Equal(t, []string{"test-cap"}, pb.Capabilities)

		rtt, err := a.Ping(context.Background(), b.ID())
		require.NoError(t, err)
		require.Positive(t, rtt)
		if nw.sim {
			// 5 ms each way, in virtual time: the round trip is exact.
			require.Equal(t, 10*time.Millisecond, rtt)
		}
		rtt, err = b.Ping(context.Background(), a.ID())
		require.NoError(t, err)
		require.Positive(t, rtt)

		// Dialing a connected peer by ID reuses the connection.
		again, err := a.Dial(context.Background(), b.Addr(), b.ID())
		require.NoError(t, err)
		require.Equal(t, p.ConnectedAt, again.ConnectedAt)
	})
}

func TestPingUnknownPeer(t *testing.T) {
	onBoth(t, func(t *testing.T, nw network) {
		a := newNode(t, nw.conns(1)[0])
		var other security.NodeID
		other[0] = 1
		_, err := a.Ping(context.Background(), other)
		require.ErrorIs(t, err, ErrNotConnected)
		_, err = a.OpenStream(context.Background(), other, protocol.StreamRPC)
		require.ErrorIs(t, err, ErrNotConnected)
	})
}

func TestDialExpectedID(t *testing.T) {
	onBoth(t, func(t *testing.T, nw network) {
		conns := nw.conns(2)
		a, b := newNode(t, conns[0]), newNode(t, conns[1])
		var wrong security.NodeID
		wrong[31] = 7
		_, err := a.Dial(context.Background(), b.Addr(), wrong)
		require.ErrorIs(t, err, security.ErrUnexpectedPeer)
		require.Empty(t, a.Peers())

		p, err := a.Dial(context.Background(), b.Addr(), b.ID())
		require.NoError(t, err)
		require.Equal(t, b.ID(), p.ID)
	})
}

func TestSelfDialRefused(t *testing.T) {
	onBoth(t, func(t *testing.T, nw network) {
		a := newNode(t, nw.conns(1)[0])
		_, err := a.Dial(context.Background(), a.Addr(), security.NodeID{})
		require.ErrorIs(t, err, ErrSelfConnection)
		require.Empty(t, a.Peers())
	})
}

func TestDialUnreachableTimesOut(t *testing.T) {
	onBoth(t, func(t *testing.T, nw network) {
		conns := nw.conns(2)
		a := newNode(t, conns[0], func(c *Config) { c.HandshakeTimeout = 500 * time.Millisecond })
		// conns[1] has no transport: nothing answers there.
		start := time.Now()
		_, err := a.Dial(context.Background(), conns[1].LocalAddr(), security.NodeID{})
		require.Error(t, err)
		elapsed := time.Since(start)
		require.GreaterOrEqual(t, elapsed, 500*time.Millisecond)
		if nw.sim {
			require.Equal(t, 500*time.Millisecond, elapsed)
		}
		_ = conns[1].Close()
	})
}

func TestCloseDisconnectsPeersAndIsIdempotent(t *testing.T) {
	onBoth(t, func(t *testing.T, nw network) {
		conns := nw.conns(2)
		var events []PeerEvent
		evCh := make(chan PeerEvent, 8)
		a := newNode(t, conns[0], func(c *Config) { c.OnPeerChange = func(ev PeerEvent) { evCh <- ev } })
		b := newNode(t, conns[1])
		dial(t, b, a)
		events = append(events, <-evCh)
		require.True(t, events[0].Connected)
		require.Equal(t, b.ID(), events[0].Peer.ID)

		require.NoError(t, b.Close())
		require.NoError(t, b.Close())
		ev := <-evCh
		require.False(t, ev.Connected)
		code, ok := StreamCode(ev.Err)
		require.True(t, ok, "close carries a code: %v", ev.Err)
		require.Equal(t, protocol.CodeShutdown, code)
		require.Empty(t, a.Peers())

		_, err := b.Dial(context.Background(), a.Addr(), security.NodeID{})
		require.ErrorIs(t, err, ErrClosed)
		require.ErrorIs(t, err, net.ErrClosed)
		_, err = b.Ping(context.Background(), a.ID())
		require.ErrorIs(t, err, ErrClosed)
	})
}

func TestPingCancelled(t *testing.T) {
	onBoth(t, func(t *testing.T, nw network) {
		conns := nw.conns(2)
		a, b := newNode(t, conns[0]), newNode(t, conns[1])
		dial(t, a, b)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := a.Ping(ctx, b.ID())
		require.True(t, errors.Is(err, context.Canceled), "got %v", err)
	})
}
