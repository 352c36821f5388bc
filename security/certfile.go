package security

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// certFileMode is the mode of certificate files: certificates are public.
const certFileMode = 0o644

// SaveCA writes ca to two PEM files (see [CA.MarshalPEM]): its certificate
// to certPath with mode 0644, for distribution to nodes, and its private
// key to keyPath with mode 0600. It never replaces an existing file, since
// losing a CA key means reissuing every certificate of the realm: if either
// file exists it fails with an error matching [fs.ErrExist] and leaves no
// new file behind. The directories must exist.
func SaveCA(certPath, keyPath string, ca *CA) error {
	certPEM, keyPEM, err := ca.MarshalPEM()
	if err != nil {
		return err
	}
	if err := writeFileAtomic(keyPath, keyPEM, true); err != nil {
		return fmt.Errorf("macula: save CA key: %w", err)
	}
	if err := writeCertFile(certPath, certPEM, true); err != nil {
		_ = os.Remove(keyPath)
		return fmt.Errorf("macula: save CA certificate: %w", err)
	}
	return nil
}

// LoadCA reads a CA written by [SaveCA] (see [ParseCA]). A missing file
// yields an error matching [fs.ErrNotExist]; bad contents one wrapping
// [ErrInvalidCertificate] or [ErrInvalidIdentity].
func LoadCA(certPath, keyPath string) (*CA, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("macula: load CA: %w", err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("macula: load CA: %w", err)
	}
	ca, err := ParseCA(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w (files %s, %s)", err, certPath, keyPath)
	}
	return ca, nil
}

// SaveCertificate writes a DER certificate chain, leaf first, to path as
// consecutive "CERTIFICATE" PEM blocks with mode 0644, such as a node
// certificate from [CA.Issue] or the Certificate field of a
// [tls.Certificate]. Like [SaveIdentity] it replaces an existing file
// atomically, which is how a node's certificate is renewed. It fails with
// [ErrInvalidCertificate] for an empty chain.
func SaveCertificate(path string, chainDER ...[]byte) error {
	if len(chainDER) == 0 {
		return fmt.Errorf("%w: empty chain", ErrInvalidCertificate)
	}
	var data []byte
	for _, der := range chainDER {
		data = append(data, EncodeCertificatePEM(der)...)
	}
	return writeCertFile(path, data, false)
}

// ParseCertificateChainPEM returns the DER of every "CERTIFICATE" PEM block
// in data, in order, skipping blocks of other types. Unlike
// [CertPoolFromPEM] it is strict: it fails with [ErrInvalidCertificate] if
// a certificate does not parse or there is none.
func ParseCertificateChainPEM(data []byte) ([][]byte, error) {
	var chain [][]byte
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != pemTypeCertificate {
			continue
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return nil, fmt.Errorf("%w: certificate %d: %v", ErrInvalidCertificate, len(chain), err)
		}
		chain = append(chain, block.Bytes)
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("%w: no certificate found in PEM data", ErrInvalidCertificate)
	}
	return chain, nil
}

// LoadTLSCertificate reads a node's certificate chain (written by
// [SaveCertificate]) from certPath and its identity (written by
// [SaveIdentity]) from keyPath, and assembles them with [TLSCertificate],
// which checks that the leaf is for the identity's key. It returns the
// identity too. A missing file yields an error matching [fs.ErrNotExist];
// bad contents one wrapping [ErrInvalidCertificate] or
// [ErrInvalidIdentity].
func LoadTLSCertificate(certPath, keyPath string) (tls.Certificate, *Identity, error) {
	id, err := LoadIdentity(keyPath)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	data, err := os.ReadFile(certPath)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("macula: load certificate: %w", err)
	}
	chain, err := ParseCertificateChainPEM(data)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("%w (file %s)", err, certPath)
	}
	cert, err := TLSCertificate(id, chain...)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("%w (files %s, %s)", err, certPath, keyPath)
	}
	return cert, id, nil
}

// LoadCertPool reads a PEM file of trusted certificates, such as the realm
// CA certificate written by [SaveCA], into a pool for
// [VerifyOptions.RealmCA] (see [CertPoolFromPEM]). A missing file yields
// an error matching [fs.ErrNotExist]; a file without certificates one
// wrapping [ErrInvalidCertificate].
func LoadCertPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("macula: load certificates: %w", err)
	}
	pool, err := CertPoolFromPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return pool, nil
}

// writeCertFile writes a public PEM file atomically (see writeFileAtomic)
// and then opens its mode to certFileMode.
func writeCertFile(path string, data []byte, exclusive bool) error {
	if err := writeFileAtomic(path, data, exclusive); err != nil {
		return err
	}
	if err := os.Chmod(path, certFileMode); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("macula: write %s: %w", path, err)
	}
	return nil
}
