package macula

import (
	"crypto/tls"
	"crypto/x509"

	"github.com/org/macula/security"
	"github.com/org/macula/topic"
)

// ACL actions, for rules built in code (see security.ACL).
const (
	ActionPublish   = security.ActionPublish
	ActionSubscribe = security.ActionSubscribe
	ActionRegister  = security.ActionRegister
	ActionCall      = security.ActionCall
)

// setSelfSubject records who this node is to its own ACL, given the
// certificate it presents (nil for the self-signed one): its ID and realm
// and, when a realm CA vouches for the certificate, its roles. New and
// RotateCertificate call it, so the local checks parse nothing.
func (n *Node) setSelfSubject(cert *tls.Certificate) {
	s := security.Subject{ID: n.ID(), Realm: n.cfg.realm}
	if n.cfg.realmCA != nil && cert != nil && len(cert.Certificate) > 0 {
		if leaf, err := x509.ParseCertificate(cert.Certificate[0]); err == nil {
			s.Roles = security.RolesOf(leaf)
		}
	}
	n.self.Store(&s)
}

// peerSubject is who a connected peer is to this node's ACL, from the
// certificate it presented; roles count only when a realm CA verified it.
// A peer not connected (any more) is known by ID alone.
func (n *Node) peerSubject(id NodeID) security.Subject {
	if p, ok := n.tr.Peer(id); ok && p.Certificate != nil {
		if s, err := security.SubjectOf(p.Certificate, n.cfg.realmCA != nil); err == nil {
			return s
		}
	}
	return security.Subject{ID: id, Realm: n.cfg.realm, RolesUnknown: true}
}

// checkLocal applies the ACL to this node's own action; name must be
// valid already (invalid names are refused by the subsystems, with
// ErrInvalidTopic, before the ACL is asked).
func (n *Node) checkLocal(action security.Action, name string) error {
	if n.cfg.acl == nil || !validName(action, name) {
		return nil
	}
	err := n.cfg.acl.Check(*n.self.Load(), action, name)
	if err != nil {
		n.audit.Record(security.AuditEventFromError(nil, err))
	}
	return err
}

// authorizePeer applies the ACL to a peer's action landing on this node,
// and audits a denial.
func (n *Node) authorizePeer(id NodeID, action security.Action, name string) error {
	err := n.cfg.acl.Check(n.peerSubject(id), action, name)
	if err != nil {
		ev := security.AuditEventFromError(nil, err)
		if p, ok := n.tr.Peer(id); ok {
			ev.RemoteAddr = p.RemoteAddr.String()
		}
		n.audit.Record(ev)
	}
	return err
}

// validName reports whether name is well-formed for action: a pattern for
// subscribe, a literal name otherwise.
func validName(action security.Action, name string) bool {
	if action == security.ActionSubscribe {
		return topic.ValidatePattern(name) == nil
	}
	return topic.Validate(name) == nil
}
