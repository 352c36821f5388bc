package security

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"time"
)

// DefaultCertificateValidity is how long node certificates made by
// [SelfSignedCertificate] and [CA.Issue] are valid when no validity is
// given: one year.
const DefaultCertificateValidity = 365 * 24 * time.Hour

// clockSkew is how far NotBefore is back-dated so that peers whose clocks
// run a little behind accept a brand-new certificate.
const clockSkew = time.Minute

// pemTypeCertificate is the PEM block type of an X.509 certificate.
const pemTypeCertificate = "CERTIFICATE"

// SelfSignedCertificate makes a self-signed certificate for id in realm, as
// used in dev mode (no realm CA): an X.509 v3 certificate for id's Ed25519
// key with Subject CommonName id.ID().String() and exactly one URI SAN,
// URI{Realm: realm, NodeID: id.ID()}.String(). It is valid from one minute
// ago for validFor (0 means [DefaultCertificateValidity]), has key usage
// DigitalSignature, extended key usages ServerAuth and ClientAuth, and a
// random 128-bit serial number. The returned certificate has Leaf set.
//
// It fails with [ErrInvalidIdentity] for a nil id, [ErrInvalidRealm] for an
// invalid realm and [ErrInvalidCertificate] for a negative validFor.
func SelfSignedCertificate(id *Identity, realm string, validFor time.Duration) (tls.Certificate, error) {
	if err := checkIdentity(id); err != nil {
		return tls.Certificate{}, err
	}
	tmpl, err := leafTemplate(realm, id.ID(), validFor, nil, time.Now())
	if err != nil {
		return tls.Certificate{}, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, id.priv.Public(), id.priv)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("macula: create certificate: %w", err)
	}
	return TLSCertificate(id, der)
}

// leafTemplate returns the template shared by self-signed and CA-issued
// node certificates.
func leafTemplate(realm string, id NodeID, validFor time.Duration, roles []string, now time.Time) (*x509.Certificate, error) {
	if err := ValidateRealm(realm); err != nil {
		return nil, err
	}
	validFor, err := validity(validFor, DefaultCertificateValidity)
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	san, err := url.Parse(URI{Realm: realm, NodeID: id}.String())
	if err != nil {
		return nil, fmt.Errorf("macula: build SAN: %w", err)
	}
	return &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:         id.String(),
			OrganizationalUnit: append([]string(nil), roles...),
		},
		URIs:                  []*url.URL{san},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(validFor),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}, nil
}

// validity applies the default for a zero duration and rejects negative ones.
func validity(d, def time.Duration) (time.Duration, error) {
	switch {
	case d == 0:
		return def, nil
	case d < 0:
		return 0, fmt.Errorf("%w: negative validity %v", ErrInvalidCertificate, d)
	}
	return d, nil
}

// randomSerial returns a random positive 128-bit serial number.
func randomSerial() (*big.Int, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("macula: serial number: %w", err)
	}
	serial := new(big.Int).SetBytes(b[:])
	if serial.Sign() == 0 { // serial numbers must be positive
		serial.SetInt64(1)
	}
	return serial, nil
}

// TLSCertificate assembles a [tls.Certificate] for id from a DER chain,
// leaf first (chainDER[0]) followed by any intermediates to send to peers.
// It fails with [ErrInvalidCertificate] if the chain is empty, any
// certificate does not parse, or the leaf's key is not id's public key.
// Leaf is set to the parsed leaf.
func TLSCertificate(id *Identity, chainDER ...[]byte) (tls.Certificate, error) {
	if err := checkIdentity(id); err != nil {
		return tls.Certificate{}, err
	}
	if len(chainDER) == 0 {
		return tls.Certificate{}, fmt.Errorf("%w: empty chain", ErrInvalidCertificate)
	}
	var leaf *x509.Certificate
	chain := make([][]byte, len(chainDER))
	for n, der := range chainDER {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("%w: chain[%d]: %v", ErrInvalidCertificate, n, err)
		}
		if n == 0 {
			leaf = cert
		}
		chain[n] = bytes.Clone(der)
	}
	pub, ok := leaf.PublicKey.(ed25519.PublicKey)
	if !ok || !pub.Equal(id.priv.Public()) {
		return tls.Certificate{}, fmt.Errorf("%w: leaf key does not belong to identity %s", ErrInvalidCertificate, id.ID().Short())
	}
	return tls.Certificate{
		Certificate: chain,
		PrivateKey:  id.PrivateKey(),
		Leaf:        leaf,
	}, nil
}

// CertPoolFromPEM returns a pool of every "CERTIFICATE" PEM block in data
// that parses; other blocks and unparsable certificates are skipped. It
// fails with [ErrInvalidCertificate] when no certificate parses.
func CertPoolFromPEM(data []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	found := 0
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != pemTypeCertificate {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			continue
		}
		pool.AddCert(cert)
		found++
	}
	if found == 0 {
		return nil, fmt.Errorf("%w: no certificate found in PEM data", ErrInvalidCertificate)
	}
	return pool, nil
}

// EncodeCertificatePEM encodes a DER certificate as a "CERTIFICATE" PEM
// block.
func EncodeCertificatePEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemTypeCertificate, Bytes: der})
}

// RolesOf returns the roles a certificate carries (its Subject
// OrganizationalUnit values, set through [IssueOptions.Roles]) as a new
// sorted slice: roles are a set, and DER encoding does not keep the order
// they were issued in. It returns nil for a nil certificate or one without
// roles.
func RolesOf(cert *x509.Certificate) []string {
	if cert == nil || len(cert.Subject.OrganizationalUnit) == 0 {
		return nil
	}
	roles := slices.Clone(cert.Subject.OrganizationalUnit)
	slices.Sort(roles)
	return roles
}
