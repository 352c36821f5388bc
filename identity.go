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
		return nil, fmt.Errorf("%w: certificate key is %T, want Ed25519", ErrInvalidOption, cert.PrivateKey)
	}
	id, err := security.IdentityFromPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate key: %w", ErrInvalidOption, err)
	}
	return id, nil
}
