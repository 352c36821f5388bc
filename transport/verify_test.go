package transport

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/stretchr/testify/require"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
)

// rawClient dials addr from conn as a modified peer would: presenting cert
// and skipping every check of the server. It returns the dial error, or the
// error that closed the connection right after.
func rawClient(t *testing.T, conn net.PacketConn, addr net.Addr, cert tls.Certificate) error {
	t.Helper()
	qt := &quic.Transport{Conn: conn}
	defer func() { _ = qt.Close(); _ = conn.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := qt.Dial(ctx, addr, &tls.Config{
		MinVersion:         tls.VersionTLS13,
		NextProtos:         []string{protocol.ALPN},
		InsecureSkipVerify: true, //nolint:gosec // the attacker checks nothing
		Certificates:       []tls.Certificate{cert},
	}, &quic.Config{})
	if err != nil {
		return err
	}
	select {
	case <-c.Context().Done():
		return context.Cause(c.Context())
	case <-ctx.Done():
		_ = c.CloseWithError(0, "")
		return nil
	}
}

// rawServer listens on conn presenting cert and accepting any client; it
// serves until cleanup.
func rawServer(t *testing.T, conn net.PacketConn, cert tls.Certificate) {
	t.Helper()
	qt := &quic.Transport{Conn: conn}
	ln, err := qt.Listen(&tls.Config{
		MinVersion:   tls.VersionTLS13,
		NextProtos:   []string{protocol.ALPN},
		ClientAuth:   tls.RequireAnyClientCert,
		Certificates: []tls.Certificate{cert},
	}, &quic.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close(); _ = qt.Close(); _ = conn.Close() })
}

func TestRealmMismatchRefusedOnBothSides(t *testing.T) {
	onBoth(t, func(t *testing.T, nw network) {
		conns := nw.conns(3)
		var fa, fb failures
		a := newNode(t, conns[0], func(c *Config) { c.OnHandshakeFailure = fa.record })
		b := newNode(t, conns[1], func(c *Config) { c.Realm = "org.other.realm"; c.OnHandshakeFailure = fb.record })

		// Either side dialing is refused with ErrRealmMismatch.
		_, err := a.Dial(context.Background(), b.Addr(), security.NodeID{})
		require.ErrorIs(t, err, security.ErrRealmMismatch)
		_, err = b.Dial(context.Background(), a.Addr(), security.NodeID{})
		require.ErrorIs(t, err, security.ErrRealmMismatch)
		require.Empty(t, a.Peers())
		require.Empty(t, b.Peers())
		require.ErrorIs(t, fa.all()[0], security.ErrRealmMismatch)
		require.ErrorIs(t, fb.all()[0], security.ErrRealmMismatch)

		// A modified client of the other realm that skips its own checks is
		// refused by the server side too.
		id, err := security.GenerateIdentity()
		require.NoError(t, err)
		cert, err := security.SelfSignedCertificate(id, "org.other.realm", time.Hour)
		require.NoError(t, err)
		before := len(fa.all())
		cerr := rawClient(t, conns[2], a.Addr(), cert)
		require.Error(t, cerr, "the server must close the connection")
		eventually(t, 2*time.Second, func() bool { return len(fa.all()) > before }, "server reports the refusal")
		require.ErrorIs(t, fa.all()[before], security.ErrRealmMismatch)
		require.Empty(t, a.Peers())
	})
}

func TestIdentityMismatchRefused(t *testing.T) {
	onBoth(t, func(t *testing.T, nw network) {
		conns := nw.conns(4)
		var fa failures
		a := newNode(t, conns[0], func(c *Config) { c.OnHandshakeFailure = fa.record })
		b := newNode(t, conns[1])

		// A client claiming b's node ID with a key that is not b's.
		forged := forgedCertificate(t, testRealm, b.ID())
		require.Error(t, rawClient(t, conns[2], a.Addr(), forged))
		eventually(t, 2*time.Second, func() bool { return len(fa.all()) > 0 }, "server reports the refusal")
		require.ErrorIs(t, fa.all()[0], security.ErrIdentityMismatch)
		require.Empty(t, a.Peers())

		// A server presenting such a certificate is refused by the dialer.
		rawServer(t, conns[3], forged)
		_, err := a.Dial(context.Background(), conns[3].LocalAddr(), security.NodeID{})
		require.ErrorIs(t, err, security.ErrIdentityMismatch)
		require.Empty(t, a.Peers())

		// A transport will not even start with a certificate for another key.
		id, err := security.GenerateIdentity()
		require.NoError(t, err)
		_, err = New(Config{Identity: id, Realm: testRealm, Conn: conns[2], Certificate: &forged})
		require.ErrorIs(t, err, ErrInvalidConfig)
		require.ErrorIs(t, err, security.ErrIdentityMismatch)
	})
}

func TestRealmCA(t *testing.T) {
	onBoth(t, func(t *testing.T, nw network) {
		conns := nw.conns(4)
		ca, err := security.NewRealmCA(testRealm, time.Hour)
		require.NoError(t, err)
		otherCA, err := security.NewRealmCA(testRealm, time.Hour)
		require.NoError(t, err)

		withCA := func(ca *security.CA, f *failures) func(*Config) {
			return func(c *Config) {
				cert, err := ca.IssueTLSCertificate(c.Identity, security.IssueOptions{ValidFor: time.Hour})
				require.NoError(t, err)
				c.Certificate, c.RealmCA = &cert, ca.CertPool()
				if f != nil {
					c.OnHandshakeFailure = f.record
				}
			}
		}
		var fb, fd failures
		b := newNode(t, conns[0], withCA(ca, &fb))
		signed := newNode(t, conns[1], withCA(ca, nil))
		selfSigned := newNode(t, conns[2]) // dev mode, no CA
		foreign := newNode(t, conns[3], withCA(otherCA, &fd))

		// A certificate signed by the realm CA is accepted.
		p := dial(t, signed, b)
		require.Equal(t, b.ID(), p.ID)

		// A self-signed certificate is refused by the CA node, whichever side dials.
		_, err = selfSigned.Dial(context.Background(), b.Addr(), security.NodeID{})
		require.ErrorIs(t, err, ErrPeerRefused)
		eventually(t, 2*time.Second, func() bool { return len(fb.all()) > 0 }, "b reports the refusal")
		require.ErrorIs(t, fb.all()[0], security.ErrUntrustedCertificate)
		_, err = b.Dial(context.Background(), selfSigned.Addr(), security.NodeID{})
		require.ErrorIs(t, err, security.ErrUntrustedCertificate)

		// A certificate from another CA for the same realm name is refused.
		_, err = b.Dial(context.Background(), foreign.Addr(), security.NodeID{})
		require.ErrorIs(t, err, security.ErrUntrustedCertificate)
		_, err = foreign.Dial(context.Background(), b.Addr(), security.NodeID{})
		require.ErrorIs(t, err, security.ErrUntrustedCertificate)

		_, known := b.Peer(selfSigned.ID())
		require.False(t, known)
		_, known = b.Peer(foreign.ID())
		require.False(t, known)
		_, known = b.Peer(signed.ID())
		require.True(t, known)
	})
}
