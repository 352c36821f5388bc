package security

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// newTestIdentity returns a fresh identity or fails the test.
func newTestIdentity(t testing.TB) *Identity {
	t.Helper()
	id, err := GenerateIdentity()
	require.NoError(t, err)
	return id
}

// newTestCA returns a fresh realm CA or fails the test.
func newTestCA(t testing.TB, realm string) *CA {
	t.Helper()
	ca, err := NewRealmCA(realm, time.Hour)
	require.NoError(t, err)
	return ca
}

// leafTmpl returns a well-formed node certificate template for id in realm,
// valid for an hour around now, for tests to bend out of shape.
func leafTmpl(t testing.TB, realm string, id NodeID) *x509.Certificate {
	t.Helper()
	now := time.Now()
	return &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: id.String()},
		URIs:                  []*url.URL{mustURL(t, URI{Realm: realm, NodeID: id}.String())},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
}

// caTmpl returns a CA certificate template allowing maxPathLen
// intermediates below it.
func caTmpl(name string, maxPathLen int) *x509.Certificate {
	now := time.Now()
	return &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            maxPathLen,
		MaxPathLenZero:        maxPathLen == 0,
	}
}

// signCert creates a certificate from tmpl for pub, signed by signer as
// parent (self-signed when parent is nil), and returns its DER.
func signCert(t testing.TB, tmpl *x509.Certificate, pub crypto.PublicKey, parent *x509.Certificate, signer crypto.Signer) []byte {
	t.Helper()
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	require.NoError(t, err)
	return der
}

// selfSigned returns a self-signed DER certificate for id from tmpl.
func selfSigned(t testing.TB, id *Identity, tmpl *x509.Certificate) []byte {
	t.Helper()
	return signCert(t, tmpl, id.PublicKey(), nil, id.priv)
}

// parseCert parses DER or fails the test.
func parseCert(t testing.TB, der []byte) *x509.Certificate {
	t.Helper()
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return cert
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

func mustNodeID(t testing.TB, s string) NodeID {
	t.Helper()
	id, err := ParseNodeID(s)
	require.NoError(t, err)
	return id
}
