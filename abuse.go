package macula

import (
	"fmt"
	"math"
	"time"

	"github.com/org/macula/routing"
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

// auditBan writes the audit record of a peer banned for going over its
// limits again and again.
func (n *Node) auditBan(ev transport.BanEvent) {
	n.audit.Record(security.AuditEvent{
		Kind: security.AuditBanned, Peer: ev.Peer, RemoteAddr: addrString(ev.RemoteAddr), Realm: n.cfg.realm,
		Reason: fmt.Sprintf("banned for %v (ban %d) for going over its limits again and again", ev.Duration, ev.Offence),
	})
}

// onDHTLimit counts a peer's requests refused for one of the DHT's
// per-sender rates toward its ban, and audits refused queries and
// watches, at most once a second per peer and kind of request (refused
// STOREs are audited with the other refused records). The DHT reports
// every 64 refusals of a flood, so that the ban comes at once.
func (n *Node) onDHTLimit(ev routing.LimitEvent) {
	refused := int(min(ev.Refused, math.MaxInt32))
	n.tr.Strike(ev.Peer, refused)
	if ev.Request == routing.RequestStore {
		return
	}
	name := "dht_" + ev.Request.String()
	held, ok := n.recordLog.admitN(ev.Peer, security.AuditKind(name), refused, time.Now())
	if !ok {
		return
	}
	n.audit.Record(security.AuditEvent{
		Kind: security.AuditRateLimited, Peer: ev.Peer, Realm: n.cfg.realm, Name: name,
		Reason: fmt.Sprintf("%d refused over the DHT %s rate", refused+held, ev.Request),
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
// limits (see [WithLimits]) and at its DHT store, and the bans of peers
// that kept going over the limits, since it started.
type AbuseStats struct {
	// Limits counts the streams, frames, pings, datagrams and handshakes
	// refused by the transport's per-peer limits, the bans, and the
	// connections refused because their peer was banned.
	Limits LimitStats
	// Records counts the DHT records refused, by reason (ACL, rate limit,
	// bad signature, expired, ...).
	Records RefusalCounts
	// QueriesRefused counts the DHT queries (FIND_NODE, FIND_VALUE)
	// refused because their sender was over its query rate.
	QueriesRefused uint64
	// WatchesRefused counts the DHT watches refused because their sender
	// was over its watch rate.
	WatchesRefused uint64
}

// AbuseStats returns the node's counts of refused streams, frames, pings,
// datagrams, handshakes, DHT records, queries and watches, and of bans.
func (n *Node) AbuseStats() AbuseStats {
	st := n.dht.Stats()
	return AbuseStats{
		Limits: n.tr.LimitStats(), Records: st.Refused,
		QueriesRefused: st.QueriesRefused, WatchesRefused: st.WatchesRefused,
	}
}
