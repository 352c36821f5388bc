package macula

import "github.com/org/macula/security"

// signingMode is what WithMessageSigning asked for.
type signingMode int

const (
	// signNone sends unsigned messages and accepts unsigned ones.
	signNone signingMode = iota
	// signOwn signs this node's events and results.
	signOwn
	// signRequired signs them and refuses unsigned ones from peers.
	signRequired
)

// messageSigning is what WithMessageSigning asked of pub/sub and RPC: the
// identity to sign with (nil: do not sign) and whether unsigned messages
// from peers are refused.
func (n *Node) messageSigning() (signer *security.Identity, require bool) {
	if n.cfg.signing == signNone {
		return nil, false
	}
	return n.identity, n.cfg.signing == signRequired
}

// auditRefused writes the audit record of a message from peer that the
// node refused for its signature or origin; action and name say what the
// message was (an event on a topic, a result of a procedure).
func (n *Node) auditRefused(peer NodeID, action security.Action, name string, err error) {
	// Unsigned messages and unsigned forgeries are logged with the bad
	// signatures: each is a message whose origin could not be proven.
	ev := security.AuditEvent{Kind: security.AuditBadSignature, Peer: peer, Realm: n.cfg.realm, Action: action, Name: name, Reason: err.Error()}
	if p, ok := n.tr.Peer(peer); ok {
		ev.RemoteAddr = p.RemoteAddr.String()
	}
	n.audit.Record(ev)
}
