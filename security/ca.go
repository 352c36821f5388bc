package security

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// DefaultCAValidity is how long a realm CA made by [NewRealmCA] is valid
// when no validity is given: ten years.
const DefaultCAValidity = 10 * 365 * 24 * time.Hour

// caOrganization is the Subject Organization of realm CA certificates.
const caOrganization = "Macula realm CA"

// IssueOptions tunes a certificate issued by [CA.Issue]. The zero value
// issues a certificate valid for [DefaultCertificateValidity] without roles.
type IssueOptions struct {
	// ValidFor is how long the certificate is valid. 0 means
	// [DefaultCertificateValidity]; the validity never extends past the
	// CA's own NotAfter. Negative values are rejected.
	ValidFor time.Duration
	// Roles are free-form role names stored in the certificate's Subject
	// OrganizationalUnit, for ACL rules to match; read them back with
	// [RolesOf] (which sorts them). Default none.
	Roles []string
}

// CA is a realm certificate authority: an Ed25519 key and a self-signed CA
// certificate that names its realm. In production mode every node's
// certificate is issued by the realm CA and peers check the chain against
// [CA.CertPool] (see [VerifyOptions.RealmCA]).
//
// A CA is immutable and safe for concurrent use. Create one with
// [NewRealmCA] or load one with [ParseCA]. A nil or zero CA has no realm,
// no certificate and an empty [CA.CertPool], and cannot issue.
type CA struct {
	realm string
	cert  *x509.Certificate
	key   ed25519.PrivateKey
}

// NewRealmCA creates a CA for realm with a fresh Ed25519 key. Its
// certificate is self-signed, valid from one minute ago for validFor (0
// means [DefaultCAValidity]), has IsCA set with MaxPathLen 0 (it signs node
// certificates directly, never intermediates), key usage CertSign|CRLSign,
// Subject CommonName realm and the URI SAN macula://<realm>.
//
// It fails with [ErrInvalidRealm] for an invalid realm and
// [ErrInvalidCertificate] for a negative validFor.
func NewRealmCA(realm string, validFor time.Duration) (*CA, error) {
	if err := ValidateRealm(realm); err != nil {
		return nil, err
	}
	validFor, err := validity(validFor, DefaultCAValidity)
	if err != nil {
		return nil, err
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("macula: generate CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:   realm,
			Organization: []string{caOrganization},
		},
		URIs:                  []*url.URL{{Scheme: URIScheme, Host: realm}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(validFor),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("macula: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("macula: parse CA certificate: %w", err)
	}
	return &CA{realm: realm, cert: cert, key: key}, nil
}

// ParseCA loads a CA written by [CA.MarshalPEM]. certPEM must hold a CA
// certificate with an Ed25519 key and keyPEM the matching PKCS#8 private
// key. The realm is read from the certificate's macula://<realm> URI SAN,
// or failing that from its Subject CommonName.
//
// Certificate problems (no CERTIFICATE block, not a CA, no realm, key
// mismatch) yield [ErrInvalidCertificate]; an unreadable key
// [ErrInvalidIdentity].
func ParseCA(certPEM, keyPEM []byte) (*CA, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != pemTypeCertificate {
		return nil, fmt.Errorf("%w: no CERTIFICATE PEM block", ErrInvalidCertificate)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidCertificate, err)
	}
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return nil, fmt.Errorf("%w: not a CA certificate", ErrInvalidCertificate)
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("%w: CA certificate may not sign certificates", ErrInvalidCertificate)
	}
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: CA key type %T, want Ed25519", ErrInvalidCertificate, cert.PublicKey)
	}
	realm, err := caRealm(cert)
	if err != nil {
		return nil, err
	}
	key, err := parseEd25519KeyPEM(keyPEM)
	if err != nil {
		return nil, err
	}
	if !pub.Equal(key.Public()) {
		return nil, fmt.Errorf("%w: CA key does not match CA certificate", ErrInvalidCertificate)
	}
	return &CA{realm: realm, cert: cert, key: key}, nil
}

// caRealm finds the realm a CA certificate is for: its macula://<realm>
// URI SAN, else its CommonName.
func caRealm(cert *x509.Certificate) (string, error) {
	for _, u := range cert.URIs {
		if !strings.EqualFold(u.Scheme, URIScheme) || u.Opaque != "" || u.User != nil ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
			continue
		}
		if ValidateRealm(u.Host) == nil {
			return u.Host, nil
		}
	}
	if ValidateRealm(cert.Subject.CommonName) == nil {
		return cert.Subject.CommonName, nil
	}
	return "", fmt.Errorf("%w: CA certificate names no valid realm", ErrInvalidCertificate)
}

// usable reports whether ca was made by NewRealmCA or ParseCA.
func (ca *CA) usable() bool {
	return ca != nil && ca.cert != nil && len(ca.key) == ed25519.PrivateKeySize
}

// Realm returns the realm the CA issues certificates for.
func (ca *CA) Realm() string {
	if ca == nil {
		return ""
	}
	return ca.realm
}

// Certificate returns the CA's certificate. Callers must not modify it.
func (ca *CA) Certificate() *x509.Certificate {
	if ca == nil {
		return nil
	}
	return ca.cert
}

// CertPool returns a new pool holding just the CA's certificate, for
// [VerifyOptions.RealmCA].
func (ca *CA) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	if ca.usable() {
		pool.AddCert(ca.cert)
	}
	return pool
}

// Issue signs a node certificate for pub and returns it as DER. It has the
// same shape as [SelfSignedCertificate] (Subject CommonName the node ID, URI
// SAN macula://<CA realm>/<NodeIDFromPublicKey(pub)>, key usage
// DigitalSignature, extended key usages ServerAuth and ClientAuth, random
// 128-bit serial) plus opts.Roles as Subject OrganizationalUnit.
//
// It fails with [ErrInvalidIdentity] if pub is not an Ed25519 public key and
// [ErrInvalidCertificate] for a negative opts.ValidFor or a CA that has
// already expired.
func (ca *CA) Issue(pub ed25519.PublicKey, opts IssueOptions) ([]byte, error) {
	if !ca.usable() {
		return nil, fmt.Errorf("%w: nil or zero CA", ErrInvalidCertificate)
	}
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: public key is %d bytes, want %d", ErrInvalidIdentity, len(pub), ed25519.PublicKeySize)
	}
	now := time.Now()
	if !now.Before(ca.cert.NotAfter) {
		return nil, fmt.Errorf("%w: CA expired at %v", ErrInvalidCertificate, ca.cert.NotAfter)
	}
	tmpl, err := leafTemplate(ca.realm, NodeIDFromPublicKey(pub), opts.ValidFor, opts.Roles, now)
	if err != nil {
		return nil, err
	}
	if tmpl.NotAfter.After(ca.cert.NotAfter) {
		tmpl.NotAfter = ca.cert.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("macula: issue certificate: %w", err)
	}
	return der, nil
}

// IssueTLSCertificate issues a certificate for id (see [CA.Issue]) and
// wraps it with id's key (see [TLSCertificate]). The chain holds only the
// leaf: peers are expected to hold the CA certificate already.
func (ca *CA) IssueTLSCertificate(id *Identity, opts IssueOptions) (tls.Certificate, error) {
	if err := checkIdentity(id); err != nil {
		return tls.Certificate{}, err
	}
	der, err := ca.Issue(id.PublicKey(), opts)
	if err != nil {
		return tls.Certificate{}, err
	}
	return TLSCertificate(id, der)
}

// MarshalPEM encodes the CA certificate as a "CERTIFICATE" PEM block and
// its key as a PKCS#8 "PRIVATE KEY" PEM block, the forms [ParseCA] reads.
// Distribute certPEM to nodes (see [CertPoolFromPEM]); keep keyPEM secret.
func (ca *CA) MarshalPEM() (certPEM, keyPEM []byte, err error) {
	if !ca.usable() {
		return nil, nil, fmt.Errorf("%w: nil or zero CA", ErrInvalidCertificate)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("macula: marshal CA key: %w", err)
	}
	certPEM = EncodeCertificatePEM(ca.cert.Raw)
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: pemTypePrivateKey, Bytes: keyDER})
	return certPEM, keyPEM, nil
}
