package macula_test

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/org/macula"
)

// A New that fails after building part of the node (here discovery, the
// last part built, refuses its interface) releases what it built through
// the same teardown as Close: the socket is closed, and goleak in TestMain
// finds no goroutine of the transport, membership or DHT left behind.
func TestFailedNewReleasesWhatItBuilt(t *testing.T) {
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	_, err = macula.New(macula.WithTransport(conn), macula.WithMDNS("macula-no-such-if0"))
	require.ErrorIs(t, err, macula.ErrInvalidOption)
	_, err = conn.WriteTo([]byte{1}, conn.LocalAddr())
	require.ErrorIs(t, err, net.ErrClosed, "the transport owned the socket and closed it")
}

// Close of a node stops every part; a second Close returns at once.
func TestCloseStopsEveryPartOnce(t *testing.T) {
	n, err := macula.New(macula.WithListenAddr("127.0.0.1:0"))
	require.NoError(t, err)
	require.NoError(t, n.Close())
	require.NoError(t, n.Close())
	require.ErrorIs(t, n.Join(t.Context(), "127.0.0.1:1"), macula.ErrClosed)
}
