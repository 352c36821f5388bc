package security

import "errors"

// Sentinel errors returned by this package. They are always wrapped with
// detail using %w, so test for them with [errors.Is], never by comparing
// error strings.
var (
	// ErrInvalidNodeID reports a node ID that is not exactly 64 hex digits.
	ErrInvalidNodeID = errors.New("macula: invalid node id")
	// ErrInvalidRealm reports a realm name that is not a valid reverse-DNS
	// name; the wrapping error says which rule was broken.
	ErrInvalidRealm = errors.New("macula: invalid realm")
	// ErrInvalidURI reports a string that is not a valid macula:// URI.
	ErrInvalidURI = errors.New("macula: invalid uri")
	// ErrInvalidIdentity reports a private or public key that is not a
	// usable Ed25519 key, or PEM data that does not hold one.
	ErrInvalidIdentity = errors.New("macula: invalid identity")
	// ErrInvalidCertificate reports a certificate that does not parse or
	// does not have the shape Macula requires (Ed25519 key, exactly one
	// macula:// URI SAN, ...).
	ErrInvalidCertificate = errors.New("macula: invalid certificate")
	// ErrNoCertificate reports that a peer presented no certificate.
	ErrNoCertificate = errors.New("macula: no certificate")
	// ErrIdentityMismatch reports a certificate whose SAN node ID is not the
	// hash of the certificate's own public key.
	ErrIdentityMismatch = errors.New("macula: identity mismatch")
	// ErrRealmMismatch reports a peer certificate issued for another realm.
	ErrRealmMismatch = errors.New("macula: realm mismatch")
	// ErrCertificateExpired reports a certificate used outside its validity
	// period: either expired or not yet valid.
	ErrCertificateExpired = errors.New("macula: certificate expired or not yet valid")
	// ErrUntrustedCertificate reports a certificate that does not chain to
	// the configured realm CA.
	ErrUntrustedCertificate = errors.New("macula: untrusted certificate")
	// ErrUnexpectedPeer reports a valid peer whose node ID is not the one
	// that was dialled.
	ErrUnexpectedPeer = errors.New("macula: unexpected peer")
	// ErrACLDenied reports an action an [ACL] does not allow. The error
	// returned by [ACL.Check] is an [*ACLDeniedError] naming the subject,
	// the action, the name and the rule that decided.
	ErrACLDenied = errors.New("macula: denied by acl")
	// ErrInvalidACL reports an ACL that cannot be built or parsed: an
	// unknown effect or action, a bad subject selector or pattern, or a
	// malformed file. The wrapping error names the offending rule by index.
	ErrInvalidACL = errors.New("macula: invalid acl")
)
