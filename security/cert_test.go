package security

import (
	"crypto/ed25519"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSelfSignedCertificate(t *testing.T) {
	id := newTestIdentity(t)
	before := time.Now()
	cert, err := SelfSignedCertificate(id, "io.macula.test", 0)
	after := time.Now()
	require.NoError(t, err)

	require.Len(t, cert.Certificate, 1)
	require.NotNil(t, cert.Leaf)
	leaf := parseCert(t, cert.Certificate[0])
	require.Equal(t, leaf.Raw, cert.Leaf.Raw)
	require.Equal(t, id.PrivateKey(), cert.PrivateKey)

	require.Equal(t, 3, leaf.Version)
	require.Equal(t, id.ID().String(), leaf.Subject.CommonName)
	require.Len(t, leaf.URIs, 1)
	require.Equal(t, "macula://io.macula.test/"+id.ID().String(), leaf.URIs[0].String())
	require.True(t, id.PublicKey().Equal(leaf.PublicKey))
	require.Equal(t, x509.KeyUsageDigitalSignature, leaf.KeyUsage)
	require.ElementsMatch(t, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, leaf.ExtKeyUsage)
	require.False(t, leaf.IsCA)
	require.Empty(t, RolesOf(leaf))

	// Certificate times have second precision.
	require.WithinRange(t, leaf.NotBefore, before.Add(-time.Minute-time.Second), after.Add(-time.Minute))
	require.WithinRange(t, leaf.NotAfter, before.Add(DefaultCertificateValidity-time.Second), after.Add(DefaultCertificateValidity))

	require.Positive(t, leaf.SerialNumber.Sign())
	require.LessOrEqual(t, leaf.SerialNumber.BitLen(), 128)
	require.NoError(t, leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature))

	again, err := SelfSignedCertificate(id, "io.macula.test", 0)
	require.NoError(t, err)
	require.NotEqual(t, leaf.SerialNumber, again.Leaf.SerialNumber)
}

func TestSelfSignedCertificateValidity(t *testing.T) {
	id := newTestIdentity(t)
	cert, err := SelfSignedCertificate(id, DefaultRealm, 2*time.Hour)
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(2*time.Hour), cert.Leaf.NotAfter, 5*time.Second)
}

func TestSelfSignedCertificateErrors(t *testing.T) {
	id := newTestIdentity(t)
	_, err := SelfSignedCertificate(nil, DefaultRealm, 0)
	require.ErrorIs(t, err, ErrInvalidIdentity)
	_, err = SelfSignedCertificate(id, "Bad Realm", 0)
	require.ErrorIs(t, err, ErrInvalidRealm)
	_, err = SelfSignedCertificate(id, DefaultRealm, -time.Second)
	require.ErrorIs(t, err, ErrInvalidCertificate)
}

func TestTLSCertificate(t *testing.T) {
	id := newTestIdentity(t)
	ca := newTestCA(t, DefaultRealm)
	der, err := ca.Issue(id.PublicKey(), IssueOptions{})
	require.NoError(t, err)

	t.Run("leaf and chain", func(t *testing.T) {
		cert, err := TLSCertificate(id, der, ca.Certificate().Raw)
		require.NoError(t, err)
		require.Equal(t, [][]byte{der, ca.Certificate().Raw}, cert.Certificate)
		require.Equal(t, der, cert.Leaf.Raw)
		require.Equal(t, id.PrivateKey(), cert.PrivateKey)
		der[0] ^= 0xff // the chain is copied
		require.NotEqual(t, der[0], cert.Certificate[0][0])
		der[0] ^= 0xff
	})

	other := newTestIdentity(t)
	otherDER, err := ca.Issue(other.PublicKey(), IssueOptions{})
	require.NoError(t, err)
	tests := []struct {
		name  string
		id    *Identity
		chain [][]byte
		want  error
	}{
		{"nil identity", nil, [][]byte{der}, ErrInvalidIdentity},
		{"empty chain", id, nil, ErrInvalidCertificate},
		{"garbage leaf", id, [][]byte{{1, 2, 3}}, ErrInvalidCertificate},
		{"garbage intermediate", id, [][]byte{der, {1, 2, 3}}, ErrInvalidCertificate},
		{"another key's leaf", id, [][]byte{otherDER}, ErrInvalidCertificate},
		{"CA cert as leaf", id, [][]byte{ca.Certificate().Raw}, ErrInvalidCertificate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := TLSCertificate(tt.id, tt.chain...)
			require.ErrorIs(t, err, tt.want)
		})
	}
}

func TestCertPoolFromPEM(t *testing.T) {
	ca := newTestCA(t, DefaultRealm)
	id := newTestIdentity(t)
	leaf, err := ca.Issue(id.PublicKey(), IssueOptions{})
	require.NoError(t, err)
	keyPEM, err := id.MarshalPEM()
	require.NoError(t, err)
	caPEM := EncodeCertificatePEM(ca.Certificate().Raw)
	brokenCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x00}})

	t.Run("valid", func(t *testing.T) {
		// Other blocks and broken certificates are skipped.
		data := append(append(append([]byte{}, keyPEM...), brokenCert...), caPEM...)
		pool, err := CertPoolFromPEM(data)
		require.NoError(t, err)
		_, err = parseCert(t, leaf).Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		require.NoError(t, err)
		// A pool without the CA does not verify.
		pool, err = CertPoolFromPEM(EncodeCertificatePEM(newTestCA(t, DefaultRealm).Certificate().Raw))
		require.NoError(t, err)
		_, err = parseCert(t, leaf).Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		require.Error(t, err)
	})

	for name, data := range map[string][]byte{
		"nil":         nil,
		"text":        []byte("hello"),
		"key only":    keyPEM,
		"broken cert": brokenCert,
		"raw DER":     ca.Certificate().Raw,
	} {
		t.Run(name, func(t *testing.T) {
			pool, err := CertPoolFromPEM(data)
			require.ErrorIs(t, err, ErrInvalidCertificate)
			require.Nil(t, pool)
		})
	}
}

func TestEncodeCertificatePEM(t *testing.T) {
	cert, err := SelfSignedCertificate(newTestIdentity(t), DefaultRealm, 0)
	require.NoError(t, err)
	data := EncodeCertificatePEM(cert.Certificate[0])
	block, rest := pem.Decode(data)
	require.NotNil(t, block)
	require.Empty(t, rest)
	require.Equal(t, "CERTIFICATE", block.Type)
	require.Equal(t, cert.Certificate[0], block.Bytes)
}

func TestRolesOf(t *testing.T) {
	require.Nil(t, RolesOf(nil))
	require.Nil(t, RolesOf(&x509.Certificate{}))

	ca := newTestCA(t, DefaultRealm)
	der, err := ca.Issue(newTestIdentity(t).PublicKey(), IssueOptions{Roles: []string{"sensor", "admin"}})
	require.NoError(t, err)
	cert := parseCert(t, der)
	roles := RolesOf(cert)
	require.Equal(t, []string{"admin", "sensor"}, roles)
	roles[0] = "changed"
	require.Equal(t, []string{"admin", "sensor"}, RolesOf(cert))

	// Order is normalised whatever order the certificate holds them in.
	require.Equal(t, []string{"a", "b", "c"}, RolesOf(&x509.Certificate{Subject: pkix.Name{OrganizationalUnit: []string{"c", "a", "b"}}}))
}

func TestTLSCertificateKeyIsUsable(t *testing.T) {
	id := newTestIdentity(t)
	cert, err := SelfSignedCertificate(id, DefaultRealm, 0)
	require.NoError(t, err)
	signer, ok := cert.PrivateKey.(ed25519.PrivateKey)
	require.True(t, ok)
	sig := ed25519.Sign(signer, []byte("x"))
	require.True(t, ed25519.Verify(cert.Leaf.PublicKey.(ed25519.PublicKey), []byte("x"), sig))
}
