package macula

import (
	"crypto/ed25519"
	"crypto/tls"
	"fmt"

	"github.com/org/macula/security"
)

// identityFromCertificate derives the identity from a certificate's private
// key, which must be Ed25519.
func identityFromCertificate(cert *tls.Certificate) (*security.Identity, error) {
	var priv ed25519.PrivateKey
	switch k := cert.PrivateKey.(type) {
	case ed25519.PrivateKey:
		priv = k
	case *ed25519.PrivateKey:
		priv = *k
	default:
		return nil, invalid("WithCertificate", "key is %T, want Ed25519", cert.PrivateKey)
	}
	id, err := security.IdentityFromPrivateKey(priv)
	if err != nil {
		return nil, invalid("WithCertificate", "key: %w", err)
	}
	return id, nil
}

// RotateCertificate replaces the certificate this node presents on new
// connections, for renewal before expiry or a change of roles, without a
// restart. Existing connections keep working on the certificate they were
// made with. The certificate must carry this node's identity (its key and
// macula:// URI for this realm); otherwise the error wraps
// ErrInvalidOption and nothing changes.
func (n *Node) RotateCertificate(cert tls.Certificate) error {
	if n.isClosing() {
		return ErrClosed
	}
	if err := n.tr.SetCertificate(cert); err != nil {
		return fmt.Errorf("%w: rotate certificate: %w", ErrInvalidOption, err)
	}
	n.setSelfSubject(&cert)
	n.log.Info("certificate rotated")
	return nil
}
