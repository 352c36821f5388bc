package security

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNewRealmCA(t *testing.T) {
	before := time.Now()
	ca, err := NewRealmCA("io.macula.prod", 0)
	require.NoError(t, err)
	require.Equal(t, "io.macula.prod", ca.Realm())

	cert := ca.Certificate()
	require.True(t, cert.IsCA)
	require.True(t, cert.BasicConstraintsValid)
	require.Equal(t, 0, cert.MaxPathLen)
	require.True(t, cert.MaxPathLenZero)
	require.Equal(t, x509.KeyUsageCertSign|x509.KeyUsageCRLSign, cert.KeyUsage)
	require.Equal(t, x509.Ed25519, cert.PublicKeyAlgorithm)
	require.Equal(t, "io.macula.prod", cert.Subject.CommonName)
	require.Len(t, cert.URIs, 1)
	require.Equal(t, "macula://io.macula.prod", cert.URIs[0].String())
	require.WithinDuration(t, before.Add(DefaultCAValidity), cert.NotAfter, 5*time.Second)
	require.WithinDuration(t, before.Add(-time.Minute), cert.NotBefore, 5*time.Second)
	require.NoError(t, cert.CheckSignatureFrom(cert))

	other, err := NewRealmCA("io.macula.prod", time.Hour)
	require.NoError(t, err)
	require.NotEqual(t, cert.Raw, other.Certificate().Raw)
	require.WithinDuration(t, before.Add(time.Hour), other.Certificate().NotAfter, 5*time.Second)
}

func TestNewRealmCAErrors(t *testing.T) {
	_, err := NewRealmCA("", 0)
	require.ErrorIs(t, err, ErrInvalidRealm)
	_, err = NewRealmCA("UPPER", 0)
	require.ErrorIs(t, err, ErrInvalidRealm)
	_, err = NewRealmCA(DefaultRealm, -time.Hour)
	require.ErrorIs(t, err, ErrInvalidCertificate)
}

func TestCACertPool(t *testing.T) {
	ca := newTestCA(t, DefaultRealm)
	id := newTestIdentity(t)
	der, err := ca.Issue(id.PublicKey(), IssueOptions{})
	require.NoError(t, err)
	opts := x509.VerifyOptions{Roots: ca.CertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	chains, err := parseCert(t, der).Verify(opts)
	require.NoError(t, err)
	require.Len(t, chains, 1)
	require.Len(t, chains[0], 2)
	require.Equal(t, ca.Certificate().Raw, chains[0][1].Raw)

	// The pool holds this CA only.
	otherDER, err := newTestCA(t, DefaultRealm).Issue(id.PublicKey(), IssueOptions{})
	require.NoError(t, err)
	_, err = parseCert(t, otherDER).Verify(opts)
	require.Error(t, err)
}

func TestCAIssue(t *testing.T) {
	ca := newTestCA(t, "io.macula.prod")
	id := newTestIdentity(t)
	before := time.Now()
	der, err := ca.Issue(id.PublicKey(), IssueOptions{ValidFor: 10 * time.Minute, Roles: []string{"gateway"}})
	require.NoError(t, err)
	cert := parseCert(t, der)

	require.Equal(t, id.ID().String(), cert.Subject.CommonName)
	require.Len(t, cert.URIs, 1)
	require.Equal(t, "macula://io.macula.prod/"+id.ID().String(), cert.URIs[0].String())
	require.True(t, id.PublicKey().Equal(cert.PublicKey))
	require.Equal(t, []string{"gateway"}, RolesOf(cert))
	require.Equal(t, x509.KeyUsageDigitalSignature, cert.KeyUsage)
	require.ElementsMatch(t, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, cert.ExtKeyUsage)
	require.False(t, cert.IsCA)
	require.Equal(t, ca.Certificate().RawSubject, cert.RawIssuer)
	require.NoError(t, cert.CheckSignatureFrom(ca.Certificate()))
	require.WithinDuration(t, before.Add(10*time.Minute), cert.NotAfter, 5*time.Second)
	require.LessOrEqual(t, cert.SerialNumber.BitLen(), 128)
	require.Positive(t, cert.SerialNumber.Sign())
}

func TestCAIssueClampsToCAExpiry(t *testing.T) {
	ca := newTestCA(t, DefaultRealm)                                     // valid for an hour
	der, err := ca.Issue(newTestIdentity(t).PublicKey(), IssueOptions{}) // default is a year
	require.NoError(t, err)
	require.Equal(t, ca.Certificate().NotAfter, parseCert(t, der).NotAfter)
}

func TestCAIssueErrors(t *testing.T) {
	ca := newTestCA(t, DefaultRealm)
	id := newTestIdentity(t)
	_, err := ca.Issue(nil, IssueOptions{})
	require.ErrorIs(t, err, ErrInvalidIdentity)
	_, err = ca.Issue(id.PublicKey()[:31], IssueOptions{})
	require.ErrorIs(t, err, ErrInvalidIdentity)
	_, err = ca.Issue(id.PublicKey(), IssueOptions{ValidFor: -time.Minute})
	require.ErrorIs(t, err, ErrInvalidCertificate)
	_, err = ca.IssueTLSCertificate(nil, IssueOptions{})
	require.ErrorIs(t, err, ErrInvalidIdentity)
}

func TestCAIssueTLSCertificate(t *testing.T) {
	ca := newTestCA(t, DefaultRealm)
	id := newTestIdentity(t)
	cert, err := ca.IssueTLSCertificate(id, IssueOptions{Roles: []string{"r"}})
	require.NoError(t, err)
	require.Len(t, cert.Certificate, 1)
	require.NotNil(t, cert.Leaf)
	require.Equal(t, cert.Certificate[0], cert.Leaf.Raw)
	require.Equal(t, id.PrivateKey(), cert.PrivateKey)
	require.NoError(t, cert.Leaf.CheckSignatureFrom(ca.Certificate()))

	gotID, _, err := VerifyPeer(cert.Certificate, VerifyOptions{Realm: DefaultRealm, RealmCA: ca.CertPool()})
	require.NoError(t, err)
	require.Equal(t, id.ID(), gotID)
}

func TestCAPEMRoundTrip(t *testing.T) {
	ca := newTestCA(t, "io.macula.prod")
	certPEM, keyPEM, err := ca.MarshalPEM()
	require.NoError(t, err)
	require.Contains(t, string(certPEM), "-----BEGIN CERTIFICATE-----")
	require.Contains(t, string(keyPEM), "-----BEGIN PRIVATE KEY-----")

	back, err := ParseCA(certPEM, keyPEM)
	require.NoError(t, err)
	require.Equal(t, "io.macula.prod", back.Realm())
	require.Equal(t, ca.Certificate().Raw, back.Certificate().Raw)

	// The parsed CA issues certificates the original CA's pool accepts.
	id := newTestIdentity(t)
	cert, err := back.IssueTLSCertificate(id, IssueOptions{})
	require.NoError(t, err)
	gotID, _, err := VerifyPeer(cert.Certificate, VerifyOptions{Realm: "io.macula.prod", RealmCA: ca.CertPool()})
	require.NoError(t, err)
	require.Equal(t, id.ID(), gotID)

	// The certificate PEM alone is what nodes need.
	pool, err := CertPoolFromPEM(certPEM)
	require.NoError(t, err)
	_, _, err = VerifyPeer(cert.Certificate, VerifyOptions{Realm: "io.macula.prod", RealmCA: pool})
	require.NoError(t, err)
}

func TestParseCARealmFromCommonName(t *testing.T) {
	// A CA made by another tool, with its realm only in the CommonName.
	signer := newTestIdentity(t)
	der := selfSigned(t, signer, caTmpl("io.example.other", 0))
	keyPEM, err := signer.MarshalPEM()
	require.NoError(t, err)
	ca, err := ParseCA(EncodeCertificatePEM(der), keyPEM)
	require.NoError(t, err)
	require.Equal(t, "io.example.other", ca.Realm())

	// macula:// SANs that are not a bare realm are not taken as the realm.
	tmpl := caTmpl("io.example.cn", 0)
	tmpl.URIs = []*url.URL{
		{Scheme: URIScheme, Host: "io.example.path", Path: "/x"},
		{Scheme: URIScheme, Host: "io.example.query", RawQuery: "a=b"},
		{Scheme: "https", Host: "io.example.https"},
	}
	der = selfSigned(t, signer, tmpl)
	ca, err = ParseCA(EncodeCertificatePEM(der), keyPEM)
	require.NoError(t, err)
	require.Equal(t, "io.example.cn", ca.Realm())
}

func TestParseCARejectsNonEd25519(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der := signCert(t, caTmpl(DefaultRealm, 0), &key.PublicKey, nil, key)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	_, err = ParseCA(EncodeCertificatePEM(der), keyPEM)
	require.ErrorIs(t, err, ErrInvalidCertificate)
	require.ErrorContains(t, err, "Ed25519")
}

func TestCAIssueAfterCAExpiry(t *testing.T) {
	// Certificate times have one-second precision, so this CA's NotAfter
	// is already in the past.
	ca, err := NewRealmCA(DefaultRealm, time.Nanosecond)
	require.NoError(t, err)
	_, err = ca.Issue(newTestIdentity(t).PublicKey(), IssueOptions{})
	require.ErrorIs(t, err, ErrInvalidCertificate)
	require.ErrorContains(t, err, "CA expired")
}

func TestParseCAErrors(t *testing.T) {
	ca := newTestCA(t, DefaultRealm)
	certPEM, keyPEM, err := ca.MarshalPEM()
	require.NoError(t, err)
	_, otherKeyPEM, err := newTestCA(t, DefaultRealm).MarshalPEM()
	require.NoError(t, err)

	id := newTestIdentity(t)
	idKeyPEM, err := id.MarshalPEM()
	require.NoError(t, err)
	leaf, err := ca.Issue(id.PublicKey(), IssueOptions{})
	require.NoError(t, err)

	noRealm := caTmpl("Not A Realm", 0)
	noRealmDER := selfSigned(t, id, noRealm)

	badSANRealm := caTmpl("", 0)
	badSANRealm.URIs = []*url.URL{{Scheme: URIScheme, Host: "bad_realm"}}
	badSANRealmDER := selfSigned(t, id, badSANRealm)

	noCertSign := caTmpl(DefaultRealm, 0)
	noCertSign.KeyUsage = x509.KeyUsageDigitalSignature
	noCertSignDER := selfSigned(t, id, noCertSign)

	notCA := caTmpl(DefaultRealm, 0)
	notCA.IsCA = false
	notCA.MaxPathLenZero = false
	notCA.KeyUsage = x509.KeyUsageDigitalSignature
	notCA.Subject = pkix.Name{CommonName: DefaultRealm}
	notCADER := selfSigned(t, id, notCA)

	tests := []struct {
		name            string
		certPEM, keyPEM []byte
		want            error
		detail          string
	}{
		{"empty cert", nil, keyPEM, ErrInvalidCertificate, "no CERTIFICATE"},
		{"key as cert", keyPEM, keyPEM, ErrInvalidCertificate, "no CERTIFICATE"},
		{"garbage cert", EncodeCertificatePEM([]byte{1, 2, 3}), keyPEM, ErrInvalidCertificate, "x509"},
		{"leaf as CA", EncodeCertificatePEM(leaf), idKeyPEM, ErrInvalidCertificate, "not a CA"},
		{"not a CA", EncodeCertificatePEM(notCADER), idKeyPEM, ErrInvalidCertificate, "not a CA"},
		{"cannot sign", EncodeCertificatePEM(noCertSignDER), idKeyPEM, ErrInvalidCertificate, "may not sign"},
		{"no realm", EncodeCertificatePEM(noRealmDER), idKeyPEM, ErrInvalidCertificate, "no valid realm"},
		{"invalid realm in SAN", EncodeCertificatePEM(badSANRealmDER), idKeyPEM, ErrInvalidCertificate, "no valid realm"},
		{"empty key", certPEM, nil, ErrInvalidIdentity, "no PEM block"},
		{"cert as key", certPEM, certPEM, ErrInvalidIdentity, "CERTIFICATE"},
		{"another CA's key", certPEM, otherKeyPEM, ErrInvalidCertificate, "does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCA(tt.certPEM, tt.keyPEM)
			require.ErrorIs(t, err, tt.want)
			require.ErrorContains(t, err, tt.detail)
			require.Nil(t, got)
		})
	}
}

func TestUnusableCA(t *testing.T) {
	for name, ca := range map[string]*CA{"nil": nil, "zero": {}} {
		t.Run(name, func(t *testing.T) {
			require.Empty(t, ca.Realm())
			require.Nil(t, ca.Certificate())
			require.NotNil(t, ca.CertPool())
			_, err := ca.Issue(newTestIdentity(t).PublicKey(), IssueOptions{})
			require.ErrorIs(t, err, ErrInvalidCertificate)
			_, err = ca.IssueTLSCertificate(newTestIdentity(t), IssueOptions{})
			require.ErrorIs(t, err, ErrInvalidCertificate)
			_, _, err = ca.MarshalPEM()
			require.ErrorIs(t, err, ErrInvalidCertificate)
		})
	}
}
