package benchmarks

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// testCert is a self-signed certificate for 127.0.0.1 and localhost, used
// by the TLS nats-server and the raw quic-go ceiling.
type testCert struct {
	// CertFile and KeyFile are its PEM files.
	CertFile, KeyFile string
	// Cert is the certificate with its key.
	Cert tls.Certificate
	// Roots trusts it.
	Roots *x509.CertPool
}

// newTestCert generates an ECDSA P-256 self-signed certificate and writes
// cert.pem and key.pem into dir.
func newTestCert(dir string) (*testCert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "macula-bench"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	tc := &testCert{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")}
	if err := os.WriteFile(tc.CertFile, certPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(tc.KeyFile, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if tc.Cert, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return nil, err
	}
	tc.Roots = x509.NewCertPool()
	if !tc.Roots.AppendCertsFromPEM(certPEM) {
		return nil, fmt.Errorf("parse generated certificate")
	}
	return tc, nil
}

// clientTLS is a TLS configuration trusting the certificate, for a
// server at 127.0.0.1.
func (tc *testCert) clientTLS(alpn ...string) *tls.Config {
	return &tls.Config{RootCAs: tc.Roots, ServerName: "127.0.0.1", NextProtos: alpn, MinVersion: tls.VersionTLS12}
}

// serverTLS is a TLS configuration presenting the certificate.
func (tc *testCert) serverTLS(alpn ...string) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{tc.Cert}, NextProtos: alpn, MinVersion: tls.VersionTLS12}
}
