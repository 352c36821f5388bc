package security

import (
	"errors"
	"net"
	"time"
)

// AuditKind says what kind of security event an [AuditEvent] records. It is
// written as is in audit records, so the values are stable.
type AuditKind string

// The kinds of audit events. [ClassifyError] maps errors to the kinds from
// AuditNoCertificate to AuditACLDenied; the others are set by the caller
// that knows (or, for AuditDropped, by the [Auditor] itself).
const (
	// AuditHandshakeFailed is a refused or failed handshake whose reason
	// is none of the more precise kinds below.
	AuditHandshakeFailed AuditKind = "handshake_failed"
	// AuditNoCertificate is a peer that presented no certificate
	// ([ErrNoCertificate]).
	AuditNoCertificate AuditKind = "no_certificate"
	// AuditInvalidCertificate is a certificate that does not parse or
	// lacks the shape Macula requires ([ErrInvalidCertificate]).
	AuditInvalidCertificate AuditKind = "invalid_certificate"
	// AuditIdentityMismatch is a certificate whose SAN claims a node ID
	// its key does not hash to ([ErrIdentityMismatch]): a forged identity.
	AuditIdentityMismatch AuditKind = "identity_mismatch"
	// AuditRealmMismatch is a peer from another realm ([ErrRealmMismatch]).
	AuditRealmMismatch AuditKind = "realm_mismatch"
	// AuditCertificateExpired is a certificate outside its validity period
	// ([ErrCertificateExpired]).
	AuditCertificateExpired AuditKind = "certificate_expired"
	// AuditUntrustedCertificate is a certificate that does not chain to
	// the realm CA ([ErrUntrustedCertificate]).
	AuditUntrustedCertificate AuditKind = "untrusted_certificate"
	// AuditUnexpectedPeer is a valid peer that is not the node that was
	// dialled ([ErrUnexpectedPeer]).
	AuditUnexpectedPeer AuditKind = "unexpected_peer"
	// AuditACLDenied is an action an [ACL] refused ([ErrACLDenied]).
	AuditACLDenied AuditKind = "acl_denied"
	// AuditBadSignature is a record or message refused because its
	// signature does not verify.
	AuditBadSignature AuditKind = "bad_signature"
	// AuditRateLimited is a request refused because a peer exceeded a
	// limit (streams, frame rate, DHT stores, ...).
	AuditRateLimited AuditKind = "rate_limited"
	// AuditBanned is a peer banned for a back-off period because it kept
	// exceeding its limits: its connection was closed and its handshakes
	// are refused until the ban ends; Reason says for how long.
	AuditBanned AuditKind = "banned"
	// AuditRecordRefused is a DHT record refused for another reason than
	// its signature or the ACL: expired (a replay), malformed, or for
	// another realm.
	AuditRecordRefused AuditKind = "record_refused"
	// AuditProtocolViolation is a peer's stream aborted because the peer
	// broke the protocol: a malformed or oversized frame, an unknown
	// message or stream type.
	AuditProtocolViolation AuditKind = "protocol_violation"
	// AuditDropped is written by the [Auditor] itself when it had to drop
	// records because its queue was full; Reason says how many.
	AuditDropped AuditKind = "audit_dropped"
)

// classes maps the sentinels of this package to audit kinds, most precise
// first.
var classes = []struct {
	sentinel error
	kind     AuditKind
}{
	{ErrACLDenied, AuditACLDenied},
	{ErrIdentityMismatch, AuditIdentityMismatch},
	{ErrRealmMismatch, AuditRealmMismatch},
	{ErrCertificateExpired, AuditCertificateExpired},
	{ErrUntrustedCertificate, AuditUntrustedCertificate},
	{ErrUnexpectedPeer, AuditUnexpectedPeer},
	{ErrNoCertificate, AuditNoCertificate},
	{ErrInvalidCertificate, AuditInvalidCertificate},
}

// ClassifyError returns the audit kind of a handshake, verification or ACL
// error, found with [errors.Is] on this package's sentinels:
// [ErrACLDenied] gives [AuditACLDenied], [ErrIdentityMismatch]
// [AuditIdentityMismatch], [ErrRealmMismatch] [AuditRealmMismatch],
// [ErrCertificateExpired] [AuditCertificateExpired],
// [ErrUntrustedCertificate] [AuditUntrustedCertificate],
// [ErrUnexpectedPeer] [AuditUnexpectedPeer], [ErrNoCertificate]
// [AuditNoCertificate] and [ErrInvalidCertificate]
// [AuditInvalidCertificate], tried in that order. It returns "" for nil
// and for any other error, leaving the caller to choose (for a handshake,
// [AuditHandshakeFailed]).
func ClassifyError(err error) AuditKind {
	if err == nil {
		return ""
	}
	for _, c := range classes {
		if errors.Is(err, c.sentinel) {
			return c.kind
		}
	}
	return ""
}

// AuditEvent is one record of the audit log. Every field but Kind is
// optional; leave unknown ones zero and they are left out of the record.
type AuditEvent struct {
	// Time is when the event happened. Zero means the time [Auditor.Record]
	// was called.
	Time time.Time
	// Kind says what happened.
	Kind AuditKind
	// Peer is the node ID of the peer involved, when known.
	Peer NodeID
	// RemoteAddr is the peer's network address, when known.
	RemoteAddr string
	// Realm is the realm the peer claimed or belongs to, when known.
	Realm string
	// Action is the action that was attempted, for ACL denials.
	Action Action
	// Name is the topic, pattern or procedure acted on, or the DHT key of a
	// refused record.
	Name string
	// Reason explains the event, usually the text of the refusing error.
	Reason string
}

// AuditEventFromError returns the audit event for err, seen on a connection
// with the peer at remote (nil when unknown): Kind from [ClassifyError],
// RemoteAddr from remote, Reason the error's text and, when err holds an
// [*ACLDeniedError], Peer, Realm, Action and Name from it. The caller may
// fill in or override fields before recording it; Kind is "" for an error
// ClassifyError does not know.
func AuditEventFromError(remote net.Addr, err error) AuditEvent {
	ev := AuditEvent{Kind: ClassifyError(err), RemoteAddr: addrString(remote)}
	if err != nil {
		ev.Reason = err.Error()
	}
	if denied, ok := errors.AsType[*ACLDeniedError](err); ok {
		ev.Peer = denied.Subject.ID
		ev.Realm = denied.Subject.Realm
		ev.Action = denied.Action
		ev.Name = denied.Name
	}
	return ev
}

// addrString returns addr's text, or "" for a nil address.
func addrString(addr net.Addr) string {
	if addr == nil {
		return ""
	}
	return addr.String()
}
