package security

import (
	"crypto/ed25519"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
)

// Subject describes who attempts an action, for an [ACL] to judge.
//
// A zero field means "not this": a zero ID matches no node selector and an
// empty Realm no realm selector, deny rules included, so fill in every
// field that is known. The zero Subject is an unknown party that matches
// only the "*" selector.
// Build one for a connected peer with [SubjectOf]; for the local node, use
// its own ID, realm and (CA-issued) certificate roles.
type Subject struct {
	// ID is the node's ID. The zero ID (unknown) never matches a node
	// selector.
	ID NodeID
	// Realm is the node's realm. "" (unknown) never matches a realm
	// selector.
	Realm string
	// Roles are the roles in the node's certificate (see [RolesOf]). Only
	// roles from a certificate that was checked against the realm CA mean
	// anything: in dev mode every node signs its own certificate and may
	// claim any role, which is why [SubjectOf] drops them there.
	Roles []string
	// RolesUnknown says the subject's roles cannot be known, for example
	// at a node storing a DHT record that another node handed over on its
	// owner's behalf: the owner is known from the signature, its
	// certificate is not. The ACL then decides as if role selectors matched
	// every deny rule and no allow rule, so that an allow holds whatever
	// roles the subject has. Roles is ignored. Default false.
	RolesUnknown bool
}

// SubjectOf returns the subject a verified peer certificate stands for: the
// node ID and realm from its macula:// SAN and, when caVerified is true, its
// roles ([RolesOf]).
//
// Pass caVerified = true only when leaf was accepted by [VerifyPeer] with a
// non-nil [VerifyOptions.RealmCA]: without a CA (dev mode) a peer writes its
// own certificate, roles included, so its roles are dropped and role rules
// never match it. SubjectOf itself checks only the certificate's shape:
// it fails with [ErrInvalidCertificate] for a nil leaf or one without
// exactly one macula://<realm>/<node-id> SAN, and with
// [ErrIdentityMismatch] when the SAN's node ID is not the hash of the key.
func SubjectOf(leaf *x509.Certificate, caVerified bool) (Subject, error) {
	if leaf == nil {
		return Subject{}, fmt.Errorf("%w: nil certificate", ErrInvalidCertificate)
	}
	pub, ok := leaf.PublicKey.(ed25519.PublicKey)
	if !ok {
		return Subject{}, fmt.Errorf("%w: key type %T, want Ed25519", ErrInvalidCertificate, leaf.PublicKey)
	}
	san, err := leafURI(leaf)
	if err != nil {
		return Subject{}, err
	}
	if id := NodeIDFromPublicKey(pub); san.NodeID != id {
		return Subject{}, fmt.Errorf("%w: certificate claims node %s but its key is node %s",
			ErrIdentityMismatch, san.NodeID, id)
	}
	subj := Subject{ID: san.NodeID, Realm: san.Realm}
	if caVerified {
		subj.Roles = RolesOf(leaf)
	}
	return subj, nil
}

// HasRole reports whether s carries role.
func (s Subject) HasRole(role string) bool {
	return slices.Contains(s.Roles, role)
}

// String describes the subject for logs and errors, such as
// "node 1a2b3c4d (realm org.example.mesh, roles [sensor])".
func (s Subject) String() string {
	var b strings.Builder
	if s.ID.IsZero() {
		b.WriteString("unknown node")
	} else {
		b.WriteString("node ")
		b.WriteString(s.ID.Short())
	}
	var attrs []string
	if s.Realm != "" {
		attrs = append(attrs, "realm "+s.Realm)
	}
	switch {
	case s.RolesUnknown:
		attrs = append(attrs, "roles unknown")
	case len(s.Roles) > 0:
		attrs = append(attrs, fmt.Sprintf("roles %v", s.Roles))
	}
	if len(attrs) > 0 {
		b.WriteString(" (")
		b.WriteString(strings.Join(attrs, ", "))
		b.WriteString(")")
	}
	return b.String()
}
