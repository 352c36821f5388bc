package macula

import (
	"errors"
	"fmt"

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
	if p, ok := n.tr.Peer(from.ID); ok {
		ev.RemoteAddr = p.RemoteAddr.String()
	}
	n.audit.Record(ev)
}
