package macula

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/org/macula/protocol"
	"github.com/org/macula/routing"
	"github.com/org/macula/security"
)

// recordActions returns the action a subscription or provider record
// stands for and the names it acts on: the patterns of a subscription
// record, the procedure of a provider record. Other kinds act on nothing.
func recordActions(rec *routing.Record) (security.Action, []string, error) {
	switch rec.Kind {
	case routing.KindSub:
		var in protocol.Interest
		if err := proto.Unmarshal(rec.Value, &in); err != nil {
			return "", nil, fmt.Errorf("subscription record of %s: %w", rec.Owner.Short(), err)
		}
		names := make([]string, 0, len(in.GetSubscriptions()))
		for _, s := range in.GetSubscriptions() {
			names = append(names, s.GetPattern())
		}
		return security.ActionSubscribe, names, nil
	case routing.KindRPC:
		var p protocol.Provider
		if err := proto.Unmarshal(rec.Value, &p); err != nil {
			return "", nil, fmt.Errorf("provider record of %s: %w", rec.Owner.Short(), err)
		}
		return security.ActionRegister, []string{p.GetProcedure()}, nil
	}
	return "", nil, nil
}

// authorizeRecord applies the ACL to a subscription or provider record:
// the storing node's check (answer false) on a record a peer asks it to
// keep, and the check of records in peers' answers to this node's lookups
// (answer true). The subject is the record's owner, with the roles of its
// certificate when this node is connected to it (always so when the owner
// sends its own record). Otherwise its roles are unknown: a STORE is then
// judged assuming the worst (role deny rules match, role allow rules do
// not; the owner's own republish, every TTL/2, is judged with its roles),
// while an answer is used when the decision would depend on roles, the
// storing nodes having judged it already. Withdrawals always pass.
func (n *Node) authorizeRecord(answer bool) func(from routing.Contact, rec *routing.Record) error {
	return func(_ routing.Contact, rec *routing.Record) error {
		if rec.Tombstone {
			return nil
		}
		action, names, err := recordActions(rec)
		if err != nil || len(names) == 0 {
			return err
		}
		subj := n.peerSubject(rec.Owner)
		if answer && subj.RolesUnknown && n.cfg.acl.UsesRoles() {
			return nil
		}
		for _, name := range names {
			if !validName(action, name) {
				return fmt.Errorf("%w: %s %q", ErrInvalidTopic, action, name)
			}
			if err := n.cfg.acl.Check(subj, action, name); err != nil {
				if answer {
					n.log.Debug("record in a lookup answer refused", zap.Stringer("owner", rec.Owner), zap.Error(err))
				}
				return err
			}
		}
		return nil
	}
}

// auditRecordRefused writes the audit record of a record a peer asked this
// node to store and that it refused. Stale copies are left out: honest
// nodes hand them over when an owner has just replaced its record.
func (n *Node) auditRecordRefused(from routing.Contact, rec *routing.Record, err error) {
	ev := security.AuditEvent{Peer: from.ID, Realm: n.cfg.realm, Reason: err.Error()}
	switch {
	case errors.Is(err, routing.ErrStale):
		return
	case errors.Is(err, routing.ErrBadSignature):
		ev.Kind = security.AuditBadSignature
	case errors.Is(err, routing.ErrStoreRefused):
		ev.Kind = security.AuditACLDenied
	case errors.Is(err, routing.ErrRateLimited), errors.Is(err, routing.ErrLimit):
		ev.Kind = security.AuditRateLimited
	default:
		ev.Kind = security.AuditRecordRefused
	}
	if rec != nil {
		ev.Name = rec.Kind + "/" + rec.Name
		ev.Action, _, _ = recordActions(rec)
	}
	if ev.Kind == security.AuditRateLimited {
		// A peer over its store rate is flooding by definition: one record
		// a second is enough to say so.
		held, ok := n.recordLog.admit(from.ID, ev.Kind, time.Now())
		if !ok {
			return
		}
		if held > 0 {
			ev.Reason = fmt.Sprintf("%s (and %d more refused since the last record)", ev.Reason, held)
		}
	}
	if p, ok := n.tr.Peer(from.ID); ok {
		ev.RemoteAddr = p.RemoteAddr.String()
	}
	n.audit.Record(ev)
}

// auditThrottle lets through at most one audit record per second per
// peer and kind, so that a peer flooding the DHT with STOREs cannot flood
// the audit log (and push other records out of its queue); the next record
// says how many were held back.
type auditThrottle struct {
	mu    sync.Mutex
	peers map[auditKey]*auditPace
}

type auditKey struct {
	peer security.NodeID
	kind security.AuditKind
}

type auditPace struct {
	next time.Time // no record before then
	held int       // records held back since the last one
}

// maxThrottled bounds the throttle's memory; past it, paces of peers
// quiet for a second are dropped.
const maxThrottled = 4096

// admit reports whether a record of kind about peer goes out at now, and
// how many were held back before it.
func (a *auditThrottle) admit(peer security.NodeID, kind security.AuditKind, now time.Time) (int, bool) {
	return a.admitN(peer, kind, 1, now)
}

// admitN is admit for a record that stands for n events: it reports
// whether the record goes out at now, and how many events were held back
// before it.
func (a *auditThrottle) admitN(peer security.NodeID, kind security.AuditKind, n int, now time.Time) (int, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.peers == nil {
		a.peers = make(map[auditKey]*auditPace)
	}
	k := auditKey{peer, kind}
	p := a.peers[k]
	if p == nil {
		if len(a.peers) >= maxThrottled {
			for key, q := range a.peers {
				if now.After(q.next) {
					delete(a.peers, key)
				}
			}
		}
		p = &auditPace{}
		a.peers[k] = p
	}
	if now.Before(p.next) {
		p.held += n
		return 0, false
	}
	held := p.held
	p.held, p.next = 0, now.Add(time.Second)
	return held, true
}
