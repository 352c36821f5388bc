package pubsub

import (
	"context"
	"errors"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/org/macula/protocol"
	"github.com/org/macula/routing"
	"github.com/org/macula/topic"
)

// syncAnchor makes this node's subscription record under anchor match its
// local subscriptions: a new record when there are some, a removal when
// none is left. Updates are serialized so that records go out in order.
func (svc *Service) syncAnchor(ctx context.Context, anchor string) error {
	svc.recMu.Lock()
	defer svc.recMu.Unlock()
	var subs []*protocol.Subscribe
	for _, s := range svc.local.all() {
		if topic.IsReserved(s.pattern) || topic.Anchor(s.pattern) != anchor {
			continue
		}
		dup := slices.ContainsFunc(subs, func(o *protocol.Subscribe) bool {
			return o.GetPattern() == s.pattern && o.GetQueueGroup() == s.group
		})
		if !dup {
			subs = append(subs, &protocol.Subscribe{Pattern: s.pattern, QueueGroup: s.group, SubscriptionId: s.id})
		}
	}
	if len(subs) == 0 {
		err := svc.cfg.Records.Remove(ctx, routing.KindSub, anchor)
		if errors.Is(err, routing.ErrNotFound) {
			return nil
		}
		return err
	}
	value, err := proto.Marshal(&protocol.Interest{Subscriptions: subs, Addrs: svc.cfg.Addrs})
	if err != nil {
		return err
	}
	rec, err := svc.cfg.Records.NewRecord(routing.KindSub, anchor, value)
	if err != nil {
		return err
	}
	return svc.cfg.Records.Put(ctx, rec)
}
