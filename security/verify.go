package security

import (
	"crypto/ed25519"
	"crypto/x509"
	"fmt"
	"strings"
	"time"
)

// VerifyOptions configures [VerifyPeer].
type VerifyOptions struct {
	// Realm is the verifying node's own realm; peers must be in it.
	// Required: an invalid realm fails every verification with
	// [ErrInvalidRealm].
	Realm string
	// RealmCA holds the realm CA certificate(s) peers must chain to. nil
	// (the default) is dev mode: self-signed certificates are accepted and
	// no chain is checked, so any node may join the realm.
	RealmCA *x509.CertPool
	// ExpectedID is the node the caller meant to reach. The zero NodeID
	// (the default) accepts any peer.
	ExpectedID NodeID
	// Now is the time at which validity is checked. Zero (the default)
	// means time.Now().
	Now time.Time
}

// VerifyPeer is the single check both sides of every Macula connection
// apply to the other side's certificates. rawCerts is the DER chain as
// crypto/tls passes it to tls.Config.VerifyPeerCertificate: leaf first,
// then any intermediates.
//
// The checks run in this order, and the first failure is returned wrapped
// with detail:
//
//  1. opts.Realm is not a valid realm: [ErrInvalidRealm].
//  2. No certificate: [ErrNoCertificate].
//  3. The leaf does not parse, its key is not Ed25519, or it does not have
//     exactly one macula:// URI SAN of the form macula://<realm>/<node-id>
//     (no address): [ErrInvalidCertificate].
//  4. The SAN's node ID is not the hash of the leaf's key:
//     [ErrIdentityMismatch].
//  5. The SAN's realm is not opts.Realm: [ErrRealmMismatch].
//  6. opts.Now is outside NotBefore..NotAfter: [ErrCertificateExpired].
//  7. opts.RealmCA is set and the leaf does not chain to it, using
//     rawCerts[1:] as intermediates and accepting any extended key usage:
//     [ErrUntrustedCertificate].
//  8. opts.ExpectedID is set and differs from the peer's ID:
//     [ErrUnexpectedPeer].
//
// On success it returns the peer's node ID and parsed leaf; on failure the
// zero NodeID and nil.
func VerifyPeer(rawCerts [][]byte, opts VerifyOptions) (NodeID, *x509.Certificate, error) {
	if err := ValidateRealm(opts.Realm); err != nil {
		return NodeID{}, nil, fmt.Errorf("verify options: %w", err)
	}
	if len(rawCerts) == 0 {
		return NodeID{}, nil, fmt.Errorf("%w: peer sent an empty chain", ErrNoCertificate)
	}
	leaf, err := x509.ParseCertificate(rawCerts[0])
	if err != nil {
		return NodeID{}, nil, fmt.Errorf("%w: %v", ErrInvalidCertificate, err)
	}
	pub, ok := leaf.PublicKey.(ed25519.PublicKey)
	if !ok {
		return NodeID{}, nil, fmt.Errorf("%w: key type %T, want Ed25519", ErrInvalidCertificate, leaf.PublicKey)
	}
	san, err := leafURI(leaf)
	if err != nil {
		return NodeID{}, nil, err
	}
	id := NodeIDFromPublicKey(pub)
	if san.NodeID != id {
		return NodeID{}, nil, fmt.Errorf("%w: certificate claims node %s but its key is node %s",
			ErrIdentityMismatch, san.NodeID, id)
	}
	if san.Realm != opts.Realm {
		return NodeID{}, nil, fmt.Errorf("%w: peer %s realm %q, ours %q",
			ErrRealmMismatch, id.Short(), san.Realm, opts.Realm)
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	if now.Before(leaf.NotBefore) {
		return NodeID{}, nil, fmt.Errorf("%w: peer %s certificate not valid before %s (now %s)",
			ErrCertificateExpired, id.Short(), leaf.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if now.After(leaf.NotAfter) {
		return NodeID{}, nil, fmt.Errorf("%w: peer %s certificate expired at %s (now %s)",
			ErrCertificateExpired, id.Short(), leaf.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if opts.RealmCA != nil {
		if err := verifyChain(leaf, rawCerts[1:], opts.RealmCA, now); err != nil {
			return NodeID{}, nil, fmt.Errorf("%w: peer %s: %v", ErrUntrustedCertificate, id.Short(), err)
		}
	}
	if !opts.ExpectedID.IsZero() && id != opts.ExpectedID {
		return NodeID{}, nil, fmt.Errorf("%w: got %s, want %s", ErrUnexpectedPeer, id, opts.ExpectedID)
	}
	return id, leaf, nil
}

// leafURI returns the one macula:// URI SAN of a node certificate.
func leafURI(leaf *x509.Certificate) (URI, error) {
	var found []string
	for _, u := range leaf.URIs {
		if strings.EqualFold(u.Scheme, URIScheme) {
			found = append(found, u.String())
		}
	}
	if len(found) != 1 {
		return URI{}, fmt.Errorf("%w: %d macula:// URI SANs, want exactly 1", ErrInvalidCertificate, len(found))
	}
	san, err := ParseURI(found[0])
	if err != nil {
		return URI{}, fmt.Errorf("%w: SAN: %w", ErrInvalidCertificate, err)
	}
	if san.Addr != "" {
		return URI{}, fmt.Errorf("%w: SAN %q carries an address", ErrInvalidCertificate, found[0])
	}
	return san, nil
}

// verifyChain checks that leaf chains to roots through intermediates.
func verifyChain(leaf *x509.Certificate, intermediates [][]byte, roots *x509.CertPool, now time.Time) error {
	pool := x509.NewCertPool()
	for n, der := range intermediates {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("intermediate %d does not parse: %v", n+1, err)
		}
		pool.AddCert(cert)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: pool,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	return err
}
