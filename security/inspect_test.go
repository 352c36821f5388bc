package security

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestInspectIssuedCertificate(t *testing.T) {
	const realm = "org.example.mesh"
	ca := newTestCA(t, realm)
	id := newTestIdentity(t)
	der, err := ca.Issue(id.PublicKey(), IssueOptions{ValidFor: 30 * time.Minute, Roles: []string{"sensor", "admin"}})
	require.NoError(t, err)
	leaf := parseCert(t, der)

	// PEM, PEM after another block, and DER give the same answer.
	keyPEM, err := id.MarshalPEM()
	require.NoError(t, err)
	for name, data := range map[string][]byte{
		"pem":             EncodeCertificatePEM(der),
		"pem after key":   append(keyPEM, EncodeCertificatePEM(der)...),
		"der":             der,
		"chain, leaf 1st": append(EncodeCertificatePEM(der), EncodeCertificatePEM(ca.Certificate().Raw)...),
	} {
		t.Run(name, func(t *testing.T) {
			info, err := InspectCertificate(data)
			require.NoError(t, err)
			sum := sha256.Sum256(der)
			require.Equal(t, id.ID(), info.NodeID)
			require.Equal(t, realm, info.Realm)
			require.Equal(t, []string{"admin", "sensor"}, info.Roles)
			require.False(t, info.IsCA)
			require.False(t, info.SelfSigned)
			require.Equal(t, "CN="+realm+",O=Macula realm CA", info.Issuer)
			require.Contains(t, info.Subject, "CN="+id.ID().String())
			require.Equal(t, leaf.SerialNumber.Text(16), info.SerialNumber)
			require.Equal(t, leaf.NotBefore, info.NotBefore)
			require.Equal(t, leaf.NotAfter, info.NotAfter)
			require.WithinDuration(t, time.Now().Add(30*time.Minute), info.NotAfter, time.Minute)
			require.Equal(t, hex.EncodeToString(sum[:]), info.Fingerprint)
			require.Equal(t, der, info.Certificate.Raw)
			require.True(t, info.ValidAt(time.Now()))
			require.False(t, info.ValidAt(time.Now().Add(time.Hour)))
			require.False(t, info.ValidAt(time.Now().Add(-time.Hour)))
		})
	}
}

func TestInspectSelfSignedCertificate(t *testing.T) {
	id := newTestIdentity(t)
	cert, err := SelfSignedCertificate(id, "dev", 0)
	require.NoError(t, err)
	info, err := InspectCertificate(EncodeCertificatePEM(cert.Certificate[0]))
	require.NoError(t, err)
	require.Equal(t, id.ID(), info.NodeID)
	require.Equal(t, "dev", info.Realm)
	require.Nil(t, info.Roles)
	require.True(t, info.SelfSigned)
	require.False(t, info.IsCA)
	require.Equal(t, info.Subject, info.Issuer)
}

func TestInspectCACertificate(t *testing.T) {
	ca := newTestCA(t, "org.example.mesh")
	certPEM, _, err := ca.MarshalPEM()
	require.NoError(t, err)
	info, err := InspectCertificate(certPEM)
	require.NoError(t, err)
	require.True(t, info.IsCA)
	require.True(t, info.SelfSigned)
	require.Equal(t, "org.example.mesh", info.Realm)
	require.True(t, info.NodeID.IsZero())
	require.Nil(t, info.Roles)
}

func TestInspectCertificateErrors(t *testing.T) {
	const realm = "org.example.mesh"
	attacker := newTestIdentity(t)
	victim := newTestIdentity(t)

	noSAN := leafTmpl(t, realm, attacker.ID())
	noSAN.URIs = nil
	caNoRealm := caTmpl("Not A Realm", 0)
	caKey := newTestIdentity(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ecLeaf := leafTmpl(t, realm, attacker.ID())

	cases := []struct {
		name     string
		data     []byte
		sentinel error
	}{
		{"empty", nil, ErrInvalidCertificate},
		{"garbage", []byte("not a certificate"), ErrInvalidCertificate},
		{"pem without certificate", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}}), ErrInvalidCertificate},
		{"corrupt pem certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2}}), ErrInvalidCertificate},
		{"forged node id", selfSigned(t, attacker, leafTmpl(t, realm, victim.ID())), ErrIdentityMismatch},
		{"no macula SAN", selfSigned(t, attacker, noSAN), ErrInvalidCertificate},
		{"CA naming no realm", signCert(t, caNoRealm, caKey.PublicKey(), nil, caKey.priv), ErrInvalidCertificate},
		{"ECDSA key", signCert(t, ecLeaf, &ecKey.PublicKey, nil, ecKey), ErrInvalidCertificate},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := InspectCertificate(c.data)
			require.ErrorIs(t, err, c.sentinel)
		})
	}
}

func FuzzInspectCertificate(f *testing.F) {
	id, err := GenerateIdentity()
	require.NoError(f, err)
	ca, err := NewRealmCA("org.example.mesh", time.Hour)
	require.NoError(f, err)
	der, err := ca.Issue(id.PublicKey(), IssueOptions{Roles: []string{"r"}})
	require.NoError(f, err)
	self, err := SelfSignedCertificate(id, "dev", 0)
	require.NoError(f, err)
	f.Add(der)
	f.Add(EncodeCertificatePEM(der))
	f.Add(EncodeCertificatePEM(ca.Certificate().Raw))
	f.Add(self.Certificate[0])
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := InspectCertificate(data)
		if err != nil {
			require.True(t, ClassifyError(err) == AuditInvalidCertificate || ClassifyError(err) == AuditIdentityMismatch, "%v", err)
			return
		}
		require.NotEmpty(t, info.Realm)
		require.NoError(t, ValidateRealm(info.Realm))
		require.Equal(t, info.IsCA, info.NodeID.IsZero())
	})
}
