package transport

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quic-go/quic-go/testutils/simnet"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/org/macula/internal/testcert"
	"github.com/org/macula/security"
)

const testRealm = "org.example.test"

func TestMain(m *testing.M) {
	// quic-go warns once through the standard logger when it cannot enlarge
	// the UDP buffers; that is irrelevant on loopback.
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	goleak.VerifyTestMain(m)
}

// network makes packet conns on one kind of network.
type network struct {
	t   *testing.T
	sim bool
}

// conns returns k fresh sockets: real UDP on 127.0.0.1, or simnet endpoints
// with 5 ms one-way latency.
func (n network) conns(k int) []net.PacketConn {
	out := make([]net.PacketConn, k)
	if !n.sim {
		for i := range out {
			c, err := net.ListenPacket("udp", "127.0.0.1:0")
			require.NoError(n.t, err)
			out[i] = c
		}
		return out
	}
	sn := &simnet.Simnet{Router: &simnet.PerfectRouter{}}
	for i := range out {
		addr := &net.UDPAddr{IP: net.IPv4(10, 0, 0, byte(i+1)).To4(), Port: 4433}
		out[i] = sn.NewEndpoint(addr, simnet.NodeBiDiLinkSettings{Latency: 5 * time.Millisecond})
	}
	require.NoError(n.t, sn.Start())
	n.t.Cleanup(func() { _ = sn.Close() })
	return out
}

// onBoth runs f over real UDP and over simnet in a synctest bubble.
func onBoth(t *testing.T, f func(t *testing.T, nw network)) {
	t.Run("udp", func(t *testing.T) { f(t, network{t: t}) })
	t.Run("simnet", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) { f(t, network{t: t, sim: true}) })
	})
}

// failures records OnHandshakeFailure reports.
type failures struct {
	mu   sync.Mutex
	errs []error
}

func (f *failures) record(_ net.Addr, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, err)
}

func (f *failures) all() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]error(nil), f.errs...)
}

// newNode starts a Transport on conn with a new identity in testRealm;
// mutate adjusts the config first. It is closed at cleanup.
func newNode(t *testing.T, conn net.PacketConn, mutate ...func(*Config)) *Transport {
	t.Helper()
	id, err := security.GenerateIdentity()
	require.NoError(t, err)
	cfg := Config{Identity: id, Realm: testRealm, Conn: conn, HandshakeTimeout: 3 * time.Second}
	for _, m := range mutate {
		m(&cfg)
	}
	tr, err := New(cfg)
	require.NoError(t, err)
	require.NoError(t, tr.Start())
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

func dial(t *testing.T, from, to *Transport) PeerInfo {
	t.Helper()
	p, err := from.Dial(context.Background(), to.Addr(), security.NodeID{})
	require.NoError(t, err)
	return p
}

// forgedCertificate is a certificate for a fresh key whose URI SAN claims
// another node's ID: what an attacker would present to impersonate that node.
func forgedCertificate(t *testing.T, realm string, claimed security.NodeID) tls.Certificate {
	t.Helper()
	cert, err := testcert.ForgedSAN(realm, claimed)
	require.NoError(t, err)
	return cert
}

// eventually polls cond every 10 ms for up to d.
func eventually(t *testing.T, d time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %s", d, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
