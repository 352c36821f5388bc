package pubsub

import (
	"context"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/org/macula/internal/codec"
	"github.com/org/macula/protocol"
	"github.com/org/macula/routing"
	"github.com/org/macula/security"
	"github.com/org/macula/topic"
)

// remoteTarget is one subscriber node an event goes to.
type remoteTarget struct {
	addrs  []string
	groups []string
}

// plan is where one event goes: remote subscriber nodes and, for this
// node, whether its subscriptions without a group match and which queue
// groups it was chosen for.
type plan struct {
	remote      map[security.NodeID]*remoteTarget
	localPlain  bool
	localGroups []string
}

func validTopic(t string) bool { return topic.Validate(t) == nil }

// Publish sends payload on topic t to every subscriber in the realm. The
// payload rule: a []byte is sent as is, a proto.Message as protobuf,
// anything else as JSON. An invalid or reserved topic fails with
// ErrInvalidTopic and a payload over the limit with ErrMessageTooLarge,
// before anything is sent. At-most-once, Publish returns once the event is
// queued for every subscriber node; at-least-once (WithQoS(AtLeastOnce)),
// once every subscriber node known now has acknowledged it, or with a
// *PublishError naming those that did not when ctx ends.
func (svc *Service) Publish(ctx context.Context, t string, payload any, opts ...PublishOption) error {
	var o publishOptions
	for _, f := range opts {
		f(&o)
	}
	if err := topic.Validate(t); err != nil {
		return err
	}
	if topic.IsReserved(t) {
		return fmt.Errorf("%w: %q is reserved for the mesh", ErrInvalidTopic, t)
	}
	data, ct, err := codec.Encode(payload)
	if err != nil {
		return err
	}
	if len(data) > svc.maxPayload {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrMessageTooLarge, len(data), svc.maxPayload)
	}
	if svc.ctx.Err() != nil {
		return ErrClosed
	}
	p, err := svc.resolve(ctx, t)
	if err != nil {
		return fmt.Errorf("macula: publish %s: resolve subscribers: %w", t, err)
	}
	return svc.send(ctx, t, data, ct, o.qos, p)
}

// PublishLocal delivers payload on topic t to this node's subscriptions
// only, at most once. Reserved topics are allowed: it is how a node
// publishes its own system events.
func (svc *Service) PublishLocal(t string, payload any) error {
	if err := topic.Validate(t); err != nil {
		return err
	}
	data, ct, err := codec.Encode(payload)
	if err != nil {
		return err
	}
	if svc.ctx.Err() != nil {
		return ErrClosed
	}
	ev := &Event{Topic: t, Data: data, ContentType: ct, Publisher: svc.cfg.Self, Seq: svc.seq.Add(1), Time: time.Now()}
	_, groups := svc.local.localInterest(t)
	svc.local.deliver(ev, groups, nil)
	svc.stats.published.Add(1)
	return nil
}

// resolve finds the subscribers of t: it looks up t's anchors in the
// directory and keeps the subscriptions whose pattern matches, then picks
// one node per queue group.
func (svc *Service) resolve(ctx context.Context, t string) (plan, error) {
	p := plan{remote: make(map[security.NodeID]*remoteTarget)}
	plain, localGroups := svc.local.localInterest(t)
	p.localPlain = plain
	var cands map[string][]security.NodeID
	for _, g := range localGroups {
		if cands == nil {
			cands = make(map[string][]security.NodeID)
		}
		cands[g] = append(cands[g], svc.cfg.Self)
	}
	anchors := topic.Anchors(t)
	keys := make([]routing.Key, len(anchors))
	for i, a := range anchors {
		keys[i] = routing.KeyFor(svc.cfg.Realm, routing.KindSub, a)
	}
	err := svc.cfg.Directory.LookupEach(ctx, keys, func(_ int, recs []*routing.Record) {
		for _, r := range recs {
			if r.Owner == svc.cfg.Self {
				continue
			}
			in := svc.interest(r)
			if in == nil {
				continue
			}
			for _, s := range in.GetSubscriptions() {
				if !sees(s.GetPattern(), t) {
					continue
				}
				g := s.GetQueueGroup()
				if g == "" {
					if p.remote[r.Owner] == nil {
						p.remote[r.Owner] = &remoteTarget{addrs: in.GetAddrs()}
					}
					continue
				}
				if cands == nil {
					cands = make(map[string][]security.NodeID)
				}
				if !slices.Contains(cands[g], r.Owner) {
					cands[g] = append(cands[g], r.Owner)
				}
				svc.rememberAddrs(r.Owner, in.GetAddrs())
			}
		}
	})
	if err != nil {
		return p, err
	}
	for g, nodes := range cands {
		slices.SortFunc(nodes, func(a, b security.NodeID) int { return a.Compare(b) })
		svc.rrMu.Lock()
		n := svc.groupRR[g]
		svc.groupRR[g] = n + 1
		svc.rrMu.Unlock()
		chosen := nodes[n%uint64(len(nodes))]
		if chosen == svc.cfg.Self {
			p.localGroups = append(p.localGroups, g)
			continue
		}
		tg := p.remote[chosen]
		if tg == nil {
			tg = &remoteTarget{addrs: svc.knownAddrs(chosen)}
			p.remote[chosen] = tg
		}
		tg.groups = append(tg.groups, g)
	}
	return p, nil
}

// interest decodes a subscription record's value, caching it by record.
func (svc *Service) interest(r *routing.Record) *protocol.Interest {
	svc.intMu.Lock()
	defer svc.intMu.Unlock()
	if in, ok := svc.interests[r]; ok {
		return in
	}
	in := &protocol.Interest{}
	if err := proto.Unmarshal(r.Value, in); err != nil {
		in = nil
	}
	if len(svc.interests) >= 4096 {
		clear(svc.interests)
	}
	svc.interests[r] = in
	return in
}

// rememberAddrs and knownAddrs keep the addresses seen in records, for
// nodes chosen by queue group only.
func (svc *Service) rememberAddrs(id security.NodeID, addrs []string) {
	svc.intMu.Lock()
	defer svc.intMu.Unlock()
	if len(svc.addrs) >= 4096 {
		clear(svc.addrs)
	}
	svc.addrs[id] = addrs
}

func (svc *Service) knownAddrs(id security.NodeID) []string {
	svc.intMu.Lock()
	defer svc.intMu.Unlock()
	return svc.addrs[id]
}

// send delivers one event by plan p: in-process to local subscriptions,
// on event streams to the others, then waits for acknowledgements at
// least once.
func (svc *Service) send(ctx context.Context, t string, data []byte, ct string, qos QoS, p plan) error {
	seq := svc.seq.Add(1)
	now := time.Now()
	svc.stats.published.Add(1)
	pe := &protocol.Event{
		Topic: t, Data: data, ContentType: ct, Publisher: svc.cfg.Self[:],
		Seq: seq, TimeUnixNano: now.UnixNano(),
	}
	if qos == AtLeastOnce {
		pe.Qos = protocol.QoS_QOS_AT_LEAST_ONCE
	}
	var signer security.NodeID
	if id := svc.cfg.Signer; id != nil && len(p.remote) > 0 {
		pe.Signature = id.Sign(protocol.EventSigningBytes(t, data, ct, pe.Publisher, seq, pe.TimeUnixNano, pe.Qos))
		pe.PublisherKey = svc.signKey
	}
	if svc.cfg.Signer != nil {
		signer = svc.cfg.Self
	}
	var shared []byte
	var waits []*pendingAck
	var waitPeers []security.NodeID
	for id, tg := range p.remote {
		var frame []byte
		if len(tg.groups) == 0 {
			if shared == nil {
				b, err := svc.eventFrame(pe)
				if err != nil {
					return err
				}
				shared = b
			}
			frame = shared
		} else {
			one := proto.CloneOf(pe)
			one.QueueGroups = tg.groups
			b, err := svc.eventFrame(one)
			if err != nil {
				return err
			}
			frame = b
		}
		svc.stats.sent.Add(1)
		po, ok := svc.peer(id, tg.addrs)
		if !ok {
			return ErrClosed
		}
		m := outMsg{frame: frame}
		if qos == AtLeastOnce {
			m.ack = &pendingAck{seq: seq, frame: frame, done: make(chan struct{})}
			waits = append(waits, m.ack)
			waitPeers = append(waitPeers, id)
		}
		if err := po.send(ctx, m); err != nil {
			svc.forgetAll(waitPeers, seq)
			return err
		}
	}
	if p.localPlain || len(p.localGroups) > 0 {
		ev := &Event{Topic: t, Data: data, ContentType: ct, Publisher: svc.cfg.Self, Seq: seq, Time: now, Signer: signer}
		if qos == AtMostOnce {
			svc.local.deliver(ev, p.localGroups, nil)
		} else {
			done := make(chan struct{})
			if err := svc.deliverLocalAtLeastOnce(ctx, ev, p.localGroups, done); err != nil {
				svc.forgetAll(waitPeers, seq)
				return &PublishError{Topic: t, Seq: seq, Missing: append(slices.Clone(waitPeers), svc.cfg.Self), Err: err}
			}
			waits = append(waits, &pendingAck{done: done})
			waitPeers = append(waitPeers, svc.cfg.Self)
		}
	}
	if qos == AtMostOnce {
		return nil
	}
	for i, pa := range waits {
		select {
		case <-pa.done:
		case <-ctx.Done():
			return svc.unacked(t, seq, waits[i:], waitPeers[i:], ctx.Err())
		case <-svc.ctx.Done():
			return svc.unacked(t, seq, waits[i:], waitPeers[i:], ErrClosed)
		}
	}
	return nil
}

// eventFrame encodes pe as one event-stream frame.
func (svc *Service) eventFrame(pe *protocol.Event) ([]byte, error) {
	b, err := protocol.AppendFrame(nil, &protocol.Envelope{Body: &protocol.Envelope_Event{Event: pe}}, svc.cfg.MaxFrameSize)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMessageTooLarge, err)
	}
	return b, nil
}

// deliverLocalAtLeastOnce hands ev to the local subscriptions, waiting
// while ctx lasts for room in their queues.
func (svc *Service) deliverLocalAtLeastOnce(ctx context.Context, ev *Event, groups []string, done chan struct{}) error {
	wait := time.Millisecond
	for {
		n, ok := svc.local.deliver(ev, groups, func() { close(done) })
		if ok && n == 0 {
			close(done) // unsubscribed meanwhile: nothing to wait for
		}
		if ok {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-svc.ctx.Done():
			t.Stop()
			return ErrClosed
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// unacked builds the error of an at-least-once Publish that stopped
// waiting, and stops resending to the nodes that did not acknowledge.
func (svc *Service) unacked(t string, seq uint64, waits []*pendingAck, peers []security.NodeID, cause error) error {
	var missing []security.NodeID
	for i, pa := range waits {
		select {
		case <-pa.done:
			continue
		default:
		}
		missing = append(missing, peers[i])
	}
	svc.forgetAll(peers, seq)
	if len(missing) == 0 {
		return nil
	}
	slices.SortFunc(missing, func(a, b security.NodeID) int { return a.Compare(b) })
	return &PublishError{Topic: t, Seq: seq, Missing: missing, Err: cause}
}

// forgetAll stops resending seq to peers.
func (svc *Service) forgetAll(peers []security.NodeID, seq uint64) {
	svc.outMu.Lock()
	defer svc.outMu.Unlock()
	for _, id := range peers {
		if p := svc.peers[id]; p != nil {
			p.forget(seq)
		}
	}
}
