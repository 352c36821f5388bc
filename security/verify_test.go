package security

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestVerifyPeerAcceptsSelfSignedInDevMode(t *testing.T) {
	id := newTestIdentity(t)
	cert, err := SelfSignedCertificate(id, DefaultRealm, 0)
	require.NoError(t, err)

	gotID, leaf, err := VerifyPeer(cert.Certificate, VerifyOptions{Realm: DefaultRealm})
	require.NoError(t, err)
	require.Equal(t, id.ID(), gotID)
	require.Equal(t, cert.Certificate[0], leaf.Raw)

	gotID, _, err = VerifyPeer(cert.Certificate, VerifyOptions{Realm: DefaultRealm, ExpectedID: id.ID()})
	require.NoError(t, err)
	require.Equal(t, id.ID(), gotID)
}

func TestVerifyPeerAcceptsCASigned(t *testing.T) {
	ca := newTestCA(t, DefaultRealm)
	id := newTestIdentity(t)
	cert, err := ca.IssueTLSCertificate(id, IssueOptions{Roles: []string{"sensor"}})
	require.NoError(t, err)

	for name, pool := range map[string]*x509.CertPool{"production": ca.CertPool(), "dev mode": nil} {
		t.Run(name, func(t *testing.T) {
			gotID, leaf, err := VerifyPeer(cert.Certificate, VerifyOptions{Realm: DefaultRealm, RealmCA: pool, ExpectedID: id.ID()})
			require.NoError(t, err)
			require.Equal(t, id.ID(), gotID)
			require.Equal(t, []string{"sensor"}, RolesOf(leaf))
		})
	}
}

func TestVerifyPeerIntermediates(t *testing.T) {
	root := newTestIdentity(t)
	rootCert := parseCert(t, selfSigned(t, root, caTmpl("root", 1)))
	inter := newTestIdentity(t)
	interDER := signCert(t, caTmpl("intermediate", 0), inter.PublicKey(), rootCert, root.priv)
	interCert := parseCert(t, interDER)

	id := newTestIdentity(t)
	leafDER := signCert(t, leafTmpl(t, DefaultRealm, id.ID()), id.PublicKey(), interCert, inter.priv)
	roots := x509.NewCertPool()
	roots.AddCert(rootCert)
	opts := VerifyOptions{Realm: DefaultRealm, RealmCA: roots}

	gotID, _, err := VerifyPeer([][]byte{leafDER, interDER}, opts)
	require.NoError(t, err)
	require.Equal(t, id.ID(), gotID)

	_, _, err = VerifyPeer([][]byte{leafDER}, opts)
	require.ErrorIs(t, err, ErrUntrustedCertificate, "without the intermediate there is no chain")

	_, _, err = VerifyPeer([][]byte{leafDER, {1, 2, 3}}, opts)
	require.ErrorIs(t, err, ErrUntrustedCertificate)

	// A realm CA with MaxPathLen 0, as NewRealmCA makes, cannot delegate.
	ca := newTestCA(t, DefaultRealm)
	badInterDER := signCert(t, caTmpl("intermediate", 0), inter.PublicKey(), ca.Certificate(), ca.key)
	leafDER = signCert(t, leafTmpl(t, DefaultRealm, id.ID()), id.PublicKey(), parseCert(t, badInterDER), inter.priv)
	_, _, err = VerifyPeer([][]byte{leafDER, badInterDER}, VerifyOptions{Realm: DefaultRealm, RealmCA: ca.CertPool()})
	require.ErrorIs(t, err, ErrUntrustedCertificate)
}

func TestVerifyPeerRejects(t *testing.T) {
	const realm = DefaultRealm
	now := time.Now()
	ca := newTestCA(t, realm)
	id := newTestIdentity(t)
	other := newTestIdentity(t)

	withTmpl := func(edit func(*x509.Certificate)) [][]byte {
		tmpl := leafTmpl(t, realm, id.ID())
		edit(tmpl)
		return [][]byte{selfSigned(t, id, tmpl)}
	}
	caSigned := func(ca *CA, edit func(*x509.Certificate)) [][]byte {
		tmpl := leafTmpl(t, realm, id.ID())
		edit(tmpl)
		return [][]byte{signCert(t, tmpl, id.PublicKey(), ca.Certificate(), ca.key)}
	}
	sanURIs := func(uris ...string) func(*x509.Certificate) {
		return func(c *x509.Certificate) {
			c.URIs = nil
			for _, u := range uris {
				c.URIs = append(c.URIs, mustURL(t, u))
			}
		}
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ecDER := signCert(t, leafTmpl(t, realm, id.ID()), &ecKey.PublicKey, nil, ecKey)
	good := withTmpl(func(*x509.Certificate) {})
	ownURI := URI{Realm: realm, NodeID: id.ID()}.String()
	otherCA := newTestCA(t, "io.macula.other")
	sameNameCA := newTestCA(t, realm)

	tests := []struct {
		name   string
		certs  [][]byte
		opts   VerifyOptions
		want   error
		detail string
	}{
		{"nil chain", nil, VerifyOptions{Realm: realm}, ErrNoCertificate, ""},
		{"empty chain", [][]byte{}, VerifyOptions{Realm: realm}, ErrNoCertificate, ""},
		{"missing own realm", good, VerifyOptions{}, ErrInvalidRealm, ""},
		{"invalid own realm", good, VerifyOptions{Realm: "Bad"}, ErrInvalidRealm, ""},
		{"garbage leaf", [][]byte{{0x30, 0x01, 0x00}}, VerifyOptions{Realm: realm}, ErrInvalidCertificate, ""},
		{"empty leaf", [][]byte{{}}, VerifyOptions{Realm: realm}, ErrInvalidCertificate, ""},
		{"ECDSA key", [][]byte{ecDER}, VerifyOptions{Realm: realm}, ErrInvalidCertificate, "Ed25519"},
		{"no SAN", withTmpl(sanURIs()), VerifyOptions{Realm: realm}, ErrInvalidCertificate, "0 macula"},
		{"only other URI SAN", withTmpl(sanURIs("spiffe://example.org/node")), VerifyOptions{Realm: realm}, ErrInvalidCertificate, "0 macula"},
		{"two SANs", withTmpl(sanURIs(ownURI, ownURI)), VerifyOptions{Realm: realm}, ErrInvalidCertificate, "2 macula"},
		{"SAN without node id", withTmpl(sanURIs("macula://" + realm)), VerifyOptions{Realm: realm}, ErrInvalidCertificate, "node id"},
		{"SAN bad node id", withTmpl(sanURIs("macula://" + realm + "/abc")), VerifyOptions{Realm: realm}, ErrInvalidCertificate, "node id"},
		{"SAN bad realm", withTmpl(sanURIs("macula://bad_realm/" + id.ID().String())), VerifyOptions{Realm: realm}, ErrInvalidCertificate, "realm"},
		{"SAN with address", withTmpl(sanURIs(ownURI + "@host:1")), VerifyOptions{Realm: realm}, ErrInvalidCertificate, "address"},
		{"SAN for another key", withTmpl(sanURIs(URI{Realm: realm, NodeID: other.ID()}.String())), VerifyOptions{Realm: realm}, ErrIdentityMismatch, other.ID().String()},
		{"SAN for another key, CA-signed", caSigned(ca, sanURIs(URI{Realm: realm, NodeID: other.ID()}.String())), VerifyOptions{Realm: realm, RealmCA: ca.CertPool()}, ErrIdentityMismatch, ""},
		{"other realm", withTmpl(sanURIs(URI{Realm: "io.macula.other", NodeID: id.ID()}.String())), VerifyOptions{Realm: realm}, ErrRealmMismatch, `"io.macula.other"`},
		{"other realm, its own CA", caSigned(otherCA, sanURIs(URI{Realm: "io.macula.other", NodeID: id.ID()}.String())), VerifyOptions{Realm: realm, RealmCA: ca.CertPool()}, ErrRealmMismatch, ""},
		{"other realm and expired: realm first", withTmpl(func(c *x509.Certificate) {
			sanURIs(URI{Realm: "io.macula.other", NodeID: id.ID()}.String())(c)
			c.NotAfter = now.Add(-time.Minute)
		}), VerifyOptions{Realm: realm}, ErrRealmMismatch, ""},
		{"expired", withTmpl(func(c *x509.Certificate) {
			c.NotBefore, c.NotAfter = now.Add(-2*time.Hour), now.Add(-time.Hour)
		}), VerifyOptions{Realm: realm}, ErrCertificateExpired, "expired at"},
		{"not yet valid", withTmpl(func(c *x509.Certificate) {
			c.NotBefore, c.NotAfter = now.Add(time.Hour), now.Add(2*time.Hour)
		}), VerifyOptions{Realm: realm}, ErrCertificateExpired, "not valid before"},
		{"Now after validity", good, VerifyOptions{Realm: realm, Now: now.Add(2 * time.Hour)}, ErrCertificateExpired, "expired at"},
		{"Now before validity", good, VerifyOptions{Realm: realm, Now: now.Add(-2 * time.Hour)}, ErrCertificateExpired, "not valid before"},
		{"expired beats untrusted", withTmpl(func(c *x509.Certificate) {
			c.NotAfter = now.Add(-time.Minute)
		}), VerifyOptions{Realm: realm, RealmCA: ca.CertPool()}, ErrCertificateExpired, ""},
		{"self-signed when CA required", good, VerifyOptions{Realm: realm, RealmCA: ca.CertPool()}, ErrUntrustedCertificate, ""},
		{"signed by another realm's CA", caSigned(otherCA, func(*x509.Certificate) {}), VerifyOptions{Realm: realm, RealmCA: ca.CertPool()}, ErrUntrustedCertificate, ""},
		{"signed by a different CA of the same name", caSigned(sameNameCA, func(*x509.Certificate) {}), VerifyOptions{Realm: realm, RealmCA: ca.CertPool()}, ErrUntrustedCertificate, ""},
		{"CA cert presented by its subject", [][]byte{ca.Certificate().Raw}, VerifyOptions{Realm: realm, RealmCA: ca.CertPool()}, ErrInvalidCertificate, ""},
		{"unexpected peer", good, VerifyOptions{Realm: realm, ExpectedID: other.ID()}, ErrUnexpectedPeer, other.ID().String()},
		{"unexpected peer, CA-signed", caSigned(ca, func(*x509.Certificate) {}), VerifyOptions{Realm: realm, RealmCA: ca.CertPool(), ExpectedID: other.ID()}, ErrUnexpectedPeer, ""},
		{"untrusted beats unexpected", good, VerifyOptions{Realm: realm, RealmCA: ca.CertPool(), ExpectedID: other.ID()}, ErrUntrustedCertificate, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotID, leaf, err := VerifyPeer(tt.certs, tt.opts)
			require.ErrorIs(t, err, tt.want)
			require.ErrorContains(t, err, tt.detail)
			require.True(t, gotID.IsZero())
			require.Nil(t, leaf)
		})
	}
}

func TestVerifyPeerExtraURISANs(t *testing.T) {
	// Non-macula URI SANs are allowed next to the one macula SAN.
	id := newTestIdentity(t)
	tmpl := leafTmpl(t, DefaultRealm, id.ID())
	tmpl.URIs = append(tmpl.URIs, &url.URL{Scheme: "spiffe", Host: "example.org", Path: "/node"})
	gotID, _, err := VerifyPeer([][]byte{selfSigned(t, id, tmpl)}, VerifyOptions{Realm: DefaultRealm})
	require.NoError(t, err)
	require.Equal(t, id.ID(), gotID)
}

func TestVerifyPeerAcceptsAnyExtKeyUsageWithCA(t *testing.T) {
	ca := newTestCA(t, DefaultRealm)
	id := newTestIdentity(t)
	tmpl := leafTmpl(t, DefaultRealm, id.ID())
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	der := signCert(t, tmpl, id.PublicKey(), ca.Certificate(), ca.key)
	_, _, err := VerifyPeer([][]byte{der}, VerifyOptions{Realm: DefaultRealm, RealmCA: ca.CertPool()})
	require.NoError(t, err)
}

func TestVerifyPeerIgnoresChainInDevMode(t *testing.T) {
	id := newTestIdentity(t)
	cert, err := SelfSignedCertificate(id, DefaultRealm, 0)
	require.NoError(t, err)
	gotID, _, err := VerifyPeer([][]byte{cert.Certificate[0], {1, 2, 3}}, VerifyOptions{Realm: DefaultRealm})
	require.NoError(t, err)
	require.Equal(t, id.ID(), gotID)
}

// handshakeResult is what each side of a test handshake saw.
type handshakeResult struct {
	clientErr, serverErr error
	clientSaw, serverSaw NodeID // peer IDs returned by VerifyPeer
}

// handshake runs a mutual TLS 1.3 handshake over an in-memory pipe, each
// side checking the other with VerifyPeer.
func handshake(t *testing.T, clientCert, serverCert tls.Certificate, clientOpts, serverOpts VerifyOptions) handshakeResult {
	t.Helper()
	verifier := func(opts VerifyOptions, saw *NodeID) func([][]byte, [][]*x509.Certificate) error {
		return func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			id, _, err := VerifyPeer(rawCerts, opts)
			*saw = id
			return err
		}
	}
	var r handshakeResult
	clientConf := &tls.Config{
		MinVersion:            tls.VersionTLS13,
		Certificates:          []tls.Certificate{clientCert},
		InsecureSkipVerify:    true, // VerifyPeer replaces host name checks
		VerifyPeerCertificate: verifier(clientOpts, &r.clientSaw),
	}
	serverConf := &tls.Config{
		MinVersion:            tls.VersionTLS13,
		Certificates:          []tls.Certificate{serverCert},
		ClientAuth:            tls.RequireAnyClientCert,
		VerifyPeerCertificate: verifier(serverOpts, &r.serverSaw),
	}
	c, s := net.Pipe()
	deadline := time.Now().Add(10 * time.Second)
	require.NoError(t, c.SetDeadline(deadline))
	require.NoError(t, s.SetDeadline(deadline))
	client, server := tls.Client(c, clientConf), tls.Server(s, serverConf)

	done := make(chan error, 1)
	go func() {
		defer func() { _ = server.Close() }()
		err := server.Handshake()
		if err == nil {
			// Tell the client its certificate was accepted.
			_, err = server.Write([]byte{1})
		}
		done <- err
	}()
	r.clientErr = client.Handshake()
	if r.clientErr == nil {
		// In TLS 1.3 the client finishes before the server has checked
		// its certificate: a rejection arrives as an alert on this read.
		_, r.clientErr = client.Read(make([]byte, 1))
	}
	if r.clientErr == nil {
		// Consume the server's close_notify so neither side's Close blocks
		// writing into the unbuffered pipe.
		_, err := client.Read(make([]byte, 1))
		require.ErrorIs(t, err, io.EOF)
	}
	_ = client.Close()
	r.serverErr = <-done
	return r
}

func TestVerifyPeerInTLSHandshake(t *testing.T) {
	ca := newTestCA(t, DefaultRealm)
	alice, bob := newTestIdentity(t), newTestIdentity(t)
	selfSignedCert := func(id *Identity, realm string) tls.Certificate {
		cert, err := SelfSignedCertificate(id, realm, 0)
		require.NoError(t, err)
		return cert
	}
	issued := func(id *Identity) tls.Certificate {
		cert, err := ca.IssueTLSCertificate(id, IssueOptions{})
		require.NoError(t, err)
		return cert
	}
	dev := VerifyOptions{Realm: DefaultRealm}
	prod := VerifyOptions{Realm: DefaultRealm, RealmCA: ca.CertPool()}

	t.Run("dev mode", func(t *testing.T) {
		clientOpts := dev
		clientOpts.ExpectedID = bob.ID()
		r := handshake(t, selfSignedCert(alice, DefaultRealm), selfSignedCert(bob, DefaultRealm), clientOpts, dev)
		require.NoError(t, r.clientErr)
		require.NoError(t, r.serverErr)
		require.Equal(t, bob.ID(), r.clientSaw)
		require.Equal(t, alice.ID(), r.serverSaw)
	})
	t.Run("production", func(t *testing.T) {
		r := handshake(t, issued(alice), issued(bob), prod, prod)
		require.NoError(t, r.clientErr)
		require.NoError(t, r.serverErr)
		require.Equal(t, bob.ID(), r.clientSaw)
		require.Equal(t, alice.ID(), r.serverSaw)
	})
	t.Run("client rejects server in other realm", func(t *testing.T) {
		r := handshake(t, selfSignedCert(alice, DefaultRealm), selfSignedCert(bob, "io.macula.other"), dev, dev)
		require.ErrorIs(t, r.clientErr, ErrRealmMismatch)
		require.Error(t, r.serverErr)
	})
	t.Run("server rejects self-signed client", func(t *testing.T) {
		r := handshake(t, selfSignedCert(alice, DefaultRealm), issued(bob), prod, prod)
		require.ErrorIs(t, r.serverErr, ErrUntrustedCertificate)
		require.ErrorContains(t, r.clientErr, "bad certificate")
	})
	t.Run("client rejects unexpected server", func(t *testing.T) {
		clientOpts := prod
		clientOpts.ExpectedID = alice.ID()
		r := handshake(t, issued(alice), issued(bob), clientOpts, prod)
		require.ErrorIs(t, r.clientErr, ErrUnexpectedPeer)
		require.Error(t, r.serverErr)
	})
}

func FuzzVerifyPeer(f *testing.F) {
	ca, err := NewRealmCA(DefaultRealm, time.Hour)
	require.NoError(f, err)
	id, err := GenerateIdentity()
	require.NoError(f, err)
	selfCert, err := SelfSignedCertificate(id, DefaultRealm, 0)
	require.NoError(f, err)
	issued, err := ca.IssueTLSCertificate(id, IssueOptions{Roles: []string{"a"}})
	require.NoError(f, err)
	otherRealm, err := SelfSignedCertificate(id, "io.macula.other", 0)
	require.NoError(f, err)
	f.Add(selfCert.Certificate[0])
	f.Add(issued.Certificate[0])
	f.Add(otherRealm.Certificate[0])
	f.Add(ca.Certificate().Raw)
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x82, 0x01})

	pool := ca.CertPool()
	f.Fuzz(func(t *testing.T, der []byte) {
		for _, opts := range []VerifyOptions{
			{Realm: DefaultRealm},
			{Realm: DefaultRealm, RealmCA: pool, ExpectedID: id.ID()},
		} {
			gotID, leaf, err := VerifyPeer([][]byte{der}, opts)
			if err != nil {
				require.Nil(t, leaf)
				require.True(t, gotID.IsZero())
				continue
			}
			require.Equal(t, der, leaf.Raw)
			san, err := leafURI(leaf)
			require.NoError(t, err)
			require.Equal(t, DefaultRealm, san.Realm)
			require.Equal(t, gotID, san.NodeID)
		}
		// As an intermediate, junk must not break anything either.
		_, _, _ = VerifyPeer([][]byte{issued.Certificate[0], der}, VerifyOptions{Realm: DefaultRealm, RealmCA: pool})
	})
}
