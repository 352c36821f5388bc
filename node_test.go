package macula_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/org/macula"
)

// newLocalNode starts a node on a free port of 127.0.0.1, closed at cleanup.
func newLocalNode(t *testing.T, opts ...macula.Option) *macula.Node {
	t.Helper()
	n, err := macula.New(append([]macula.Option{macula.WithListenAddr("127.0.0.1:0"), macula.WithHandshakeTimeout(3 * time.Second)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close() })
	return n
}

func waitPeers(t *testing.T, n *macula.Node, want int) {
	t.Helper()
	require.Eventually(t, func() bool { return len(n.Peers()) == want }, 5*time.Second, 5*time.Millisecond,
		"node %s has %d peers, want %d", n.ID().Short(), len(n.Peers()), want)
}

func TestTwoNodesOverUDP(t *testing.T) {
	ctx := context.Background()
	a, b := newLocalNode(t), newLocalNode(t)
	require.Equal(t, macula.DefaultRealm, a.Realm())
	require.Equal(t, "127.0.0.1", a.Addr().(*net.UDPAddr).IP.String())

	require.NoError(t, b.Join(ctx, a.Addr().String()))
	waitPeers(t, a, 1)
	waitPeers(t, b, 1)
	require.Equal(t, a.ID(), b.Peers()[0].ID)
	require.Equal(t, b.ID(), a.Peers()[0].ID)

	rtt, err := b.Ping(ctx, a.ID())
	require.NoError(t, err)
	require.Positive(t, rtt)
	require.Less(t, rtt, time.Second)

	require.NoError(t, b.Close())
	waitPeers(t, a, 0)
	_, err = b.Ping(ctx, a.ID())
	require.ErrorIs(t, err, macula.ErrClosed)
	require.ErrorIs(t, b.Join(ctx, a.Addr().String()), macula.ErrClosed)
	require.NoError(t, b.Close(), "Close is idempotent")
}

func TestJoinErrors(t *testing.T) {
	ctx := context.Background()
	a := newLocalNode(t)
	other := newLocalNode(t, macula.WithRealm("org.example.other"))

	t.Run("other realm, both directions", func(t *testing.T) {
		require.ErrorIs(t, a.Join(ctx, other.Addr().String()), macula.ErrRealmMismatch)
		require.ErrorIs(t, other.Join(ctx, a.Addr().String()), macula.ErrRealmMismatch)
		require.Empty(t, a.Peers())
		require.Empty(t, other.Peers())
	})
	t.Run("URI of another realm is refused before dialing", func(t *testing.T) {
		require.ErrorIs(t, a.Join(ctx, other.URI()), macula.ErrRealmMismatch)
	})
	t.Run("URI naming another node", func(t *testing.T) {
		b := newLocalNode(t)
		wrong := "macula://" + macula.DefaultRealm + "/" + other.ID().String() + "@" + b.Addr().String()
		require.ErrorIs(t, a.Join(ctx, wrong), macula.ErrUnexpectedPeer)
		require.NoError(t, a.Join(ctx, b.URI()))
	})
	t.Run("own address", func(t *testing.T) {
		require.ErrorIs(t, a.Join(ctx, a.Addr().String()), macula.ErrSelfConnection)
	})
	t.Run("each address's error is reported", func(t *testing.T) {
		err := a.Join(ctx, other.Addr().String(), a.Addr().String())
		require.ErrorIs(t, err, macula.ErrRealmMismatch)
		require.ErrorIs(t, err, macula.ErrSelfConnection)
	})
	t.Run("no addresses", func(t *testing.T) {
		require.Error(t, a.Join(ctx))
	})
	t.Run("one good address is enough", func(t *testing.T) {
		c := newLocalNode(t)
		require.NoError(t, c.Join(ctx, other.Addr().String(), a.Addr().String()))
	})
}

func TestBootstrapInBackground(t *testing.T) {
	a := newLocalNode(t)
	// b's bootstrap list holds its own future address too: that is skipped.
	b := newLocalNode(t, macula.WithBootstrap(a.Addr().String(), a.URI()))
	waitPeers(t, b, 1)
	waitPeers(t, a, 1)
	require.Equal(t, a.ID(), b.Peers()[0].ID)
}

func TestBootstrapRetriesUntilThePeerAppears(t *testing.T) {
	// Reserve an address, start a node that bootstraps to it, then start the
	// peer there.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := pc.LocalAddr().String()
	require.NoError(t, pc.Close())

	b := newLocalNode(t, macula.WithBootstrap(addr), macula.WithHandshakeTimeout(200*time.Millisecond))
	time.Sleep(300 * time.Millisecond)
	require.Empty(t, b.Peers())
	a := newLocalNode(t, macula.WithListenAddr(addr))
	waitPeers(t, b, 1)
	require.Equal(t, a.ID(), b.Peers()[0].ID)
}

func TestLogsGoToTheInjectedLogger(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	a := newLocalNode(t, macula.WithLogger(zap.New(core)))
	other := newLocalNode(t, macula.WithRealm("org.example.other"))

	require.Equal(t, 1, logs.FilterMessageSnippet("dev mode").Len(), "dev mode is logged once")
	require.ErrorIs(t, other.Join(context.Background(), a.Addr().String()), macula.ErrRealmMismatch)
	// a, the server, refused other's certificate, or other aborted on a's
	// certificate: then a saw nothing. Make a dial so a refuses for sure.
	require.ErrorIs(t, a.Join(context.Background(), other.Addr().String()), macula.ErrRealmMismatch)
	refused := logs.FilterMessage("handshake refused").All()
	require.NotEmpty(t, refused)
	require.Contains(t, refused[0].ContextMap()["error"], "realm mismatch")
}
