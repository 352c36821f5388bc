package macula

import (
	"fmt"

	"github.com/org/macula/security"
	"github.com/org/macula/transport"
)

// auditLimit writes the audit record of a peer refused for one of the
// transport's per-peer limits (reports come at most once a second per
// peer and limit, counting the refusals in between).
func (n *Node) auditLimit(ev transport.LimitEvent) {
	n.audit.Record(security.AuditEvent{
		Kind: security.AuditRateLimited, Peer: ev.Peer, RemoteAddr: addrString(ev.RemoteAddr), Realm: n.cfg.realm,
		Name:   ev.Limit.String(),
		Reason: fmt.Sprintf("%d refused over the %s limit", ev.Refused, ev.Limit),
	})
}

// auditViolation writes the audit record of a peer's stream aborted for a
// protocol violation.
func (n *Node) auditViolation(ev transport.ViolationEvent) {
	n.audit.Record(security.AuditEvent{
		Kind: security.AuditProtocolViolation, Peer: ev.Peer, RemoteAddr: addrString(ev.RemoteAddr), Realm: n.cfg.realm,
		Reason: fmt.Sprintf("%v (%d since the last report)", ev.Err, ev.Count),
	})
}

// addrString is a.String(), or "" for nil.
func addrString(a interface{ String() string }) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// AbuseStats counts what the node refused from its peers for the per-peer
// limits and at its DHT store, since it started.
type AbuseStats struct {
	// Limits counts the streams and frames refused by the transport's
	// per-peer limits.
	Limits LimitStats
	// Records counts the DHT records refused, by reason (ACL, rate limit,
	// bad signature, expired, ...).
	Records RefusalCounts
}

// AbuseStats returns the node's counts of refused streams, frames and DHT
// records.
func (n *Node) AbuseStats() AbuseStats {
	return AbuseStats{Limits: n.tr.LimitStats(), Records: n.dht.Stats().Refused}
}
