package security

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"time"
)

// CertificateInfo describes a Macula certificate, as [InspectCertificate]
// finds it: a node certificate (self-signed or issued by a realm CA) or a
// realm CA certificate.
type CertificateInfo struct {
	// NodeID is the node the certificate is for, from its macula:// SAN
	// (checked to be the hash of its key). Zero for a CA certificate.
	NodeID NodeID
	// Realm is the realm of the node, or the realm a CA issues for.
	Realm string
	// Roles are the certificate's roles ([RolesOf]); nil for a CA or a
	// certificate without roles. They are only trusted by peers when the
	// certificate chains to the realm CA.
	Roles []string
	// IsCA reports a CA certificate (basic constraints CA:true).
	IsCA bool
	// SelfSigned reports a certificate signed by its own key with issuer
	// equal to subject: a dev-mode node certificate or a realm CA.
	SelfSigned bool
	// Subject and Issuer are the certificate's subject and issuer names in
	// RFC 2253 form, such as "CN=org.example.mesh,O=Macula realm CA".
	Subject, Issuer string
	// SerialNumber is the serial number in lowercase hex.
	SerialNumber string
	// NotBefore and NotAfter bound the validity period.
	NotBefore, NotAfter time.Time
	// Fingerprint is the SHA-256 of the DER certificate in lowercase hex.
	Fingerprint string
	// Certificate is the parsed certificate.
	Certificate *x509.Certificate
}

// ValidAt reports whether t is within the validity period, bounds
// included, as [VerifyPeer] checks it.
func (ci CertificateInfo) ValidAt(t time.Time) bool {
	return !t.Before(ci.NotBefore) && !t.After(ci.NotAfter)
}

// InspectCertificate reads a certificate, PEM (the first "CERTIFICATE"
// block) or DER, and describes it. It accepts node certificates (exactly
// one macula://<realm>/<node-id> SAN) and realm CA certificates (see
// [NewRealmCA]); it does not check validity dates or chains (see
// [CertificateInfo.ValidAt] and [VerifyPeer]).
//
// It fails with [ErrInvalidCertificate] for data holding no parsable
// certificate, a CA certificate naming no realm, or a certificate that is
// neither, and with [ErrIdentityMismatch] for a node certificate whose SAN
// claims a node ID its key does not hash to.
func InspectCertificate(data []byte) (CertificateInfo, error) {
	der := data
	if block := findPEMBlock(data, pemTypeCertificate); block != nil {
		der = block.Bytes
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return CertificateInfo{}, fmt.Errorf("%w: %v", ErrInvalidCertificate, err)
	}
	sum := sha256.Sum256(cert.Raw)
	info := CertificateInfo{
		IsCA:         cert.BasicConstraintsValid && cert.IsCA,
		SelfSigned:   isSelfSigned(cert),
		Subject:      cert.Subject.String(),
		Issuer:       cert.Issuer.String(),
		SerialNumber: cert.SerialNumber.Text(16),
		NotBefore:    cert.NotBefore,
		NotAfter:     cert.NotAfter,
		Fingerprint:  hex.EncodeToString(sum[:]),
		Certificate:  cert,
	}
	if info.IsCA {
		info.Realm, err = caRealm(cert)
		if err != nil {
			return CertificateInfo{}, err
		}
		return info, nil
	}
	subj, err := SubjectOf(cert, true)
	if err != nil {
		return CertificateInfo{}, err
	}
	info.NodeID, info.Realm, info.Roles = subj.ID, subj.Realm, subj.Roles
	return info, nil
}

// findPEMBlock returns the first PEM block of data with the given type, or
// nil.
func findPEMBlock(data []byte, typ string) *pem.Block {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil
		}
		if block.Type == typ {
			return block
		}
	}
}

// isSelfSigned reports whether cert names itself as issuer and its signature
// verifies with its own key.
func isSelfSigned(cert *x509.Certificate) bool {
	if !bytes.Equal(cert.RawIssuer, cert.RawSubject) {
		return false
	}
	return cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature) == nil
}
