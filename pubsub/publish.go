package pubsub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/org/macula/internal/codec"
	"github.com/org/macula/protocol"
	"github.com/org/macula/routing"
	"github.com/org/macula/security"
	"github.com/org/macula/topic"
)

// Plan caching: where a topic's events go is resolved from the directory
// and the local subscriptions, and kept while neither changed.
const (
	// planTTL is how long a cached plan is used before the directory is
	// asked again; the lookups keep its entries in use.
	planTTL = time.Second
	// maxPlans bounds the number of topics whose plan is cached.
	maxPlans = 1024
)

// scratchFrames holds buffers that at-most-once frames are encoded into
// before the peers' queues copy them; maxScratch bounds those kept.
var scratchFrames = sync.Pool{New: func() any { return new([]byte) }}

const maxScratch = 64 << 10

// generationer is implemented by a directory.Resolver that says when its
// answers may have changed ([*directory.Cache] does); plans are cached
// only then.
type generationer interface {
	Generation() uint64
}

// peerTarget is one subscriber node of a topic. One node has one
// peerTarget per plan, whether it subscribes with or without a group.
type peerTarget struct {
	id    security.NodeID
	addrs []string
	self  bool                    // this node, as a queue group member
	out   atomic.Pointer[peerOut] // its sender, once known
}

// groupPlan is one queue group's members across the mesh, sorted by ID.
type groupPlan struct {
	name  string
	rr    *atomic.Uint64 // the group's round-robin counter
	nodes []*peerTarget
}

// topicPlan is where a topic's events go: the remote nodes with a
// subscription without a group, whether this node has one, and the
// members of each queue group, of which every event picks one. It is
// not modified once built.
type topicPlan struct {
	dirGen, localGen uint64
	expires          time.Time

	remote     []*peerTarget
	localPlain bool
	groups     []groupPlan
}

func validTopic(t string) bool { return topic.Validate(t) == nil }

// Publish sends payload on topic t to every subscriber in the realm. The
// payload rule: a []byte is sent as is, a proto.Message as protobuf,
// anything else as JSON. An invalid or reserved topic fails with
// ErrInvalidTopic, a payload over the limit with ErrMessageTooLarge and
// an invalid option with ErrInvalidOption, before anything is sent. At-most-once, Publish returns once the event is
// queued for every subscriber node; at-least-once (WithQoS(AtLeastOnce)),
// once every subscriber node known now has acknowledged it, or with a
// *PublishError naming those that did not when ctx ends.
func (svc *Service) Publish(ctx context.Context, t string, payload any, opts ...PublishOption) error {
	var qos QoS
	if len(opts) > 0 {
		// Declared here, so that only a Publish with options allocates
		// it (the options take its address).
		var o publishOptions
		for _, f := range opts {
			if err := f(&o); err != nil {
				return err
			}
		}
		qos = o.qos
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
	now := time.Now()
	p, err := svc.resolve(ctx, t, now)
	if errors.Is(err, ErrClosed) {
		return ErrClosed
	}
	if err != nil {
		return fmt.Errorf("macula: publish %s: resolve subscribers: %w", t, err)
	}
	return svc.send(ctx, t, data, ct, qos, p, now)
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

// resolve returns the plan of t: the cached one while the directory and
// the local subscriptions are unchanged and it is younger than planTTL,
// else a new one.
func (svc *Service) resolve(ctx context.Context, t string, now time.Time) (*topicPlan, error) {
	gd, cacheable := svc.cfg.Directory.(generationer)
	if !cacheable {
		return svc.buildPlan(ctx, t)
	}
	dirGen, localGen := gd.Generation(), svc.local.generation()
	svc.planMu.RLock()
	p := svc.plans[t]
	svc.planMu.RUnlock()
	if p != nil && p.dirGen == dirGen && p.localGen == localGen && now.Before(p.expires) {
		return p, nil
	}
	// The generations are read before the lookups: a change meanwhile
	// leaves the new plan outdated, and the next Publish builds another.
	p, err := svc.buildPlan(ctx, t)
	if err != nil {
		return nil, err
	}
	p.dirGen, p.localGen, p.expires = dirGen, localGen, now.Add(planTTL)
	svc.planMu.Lock()
	if _, ok := svc.plans[t]; !ok && len(svc.plans) >= maxPlans {
		for k := range svc.plans { // one at random
			delete(svc.plans, k)
			break
		}
	}
	svc.plans[t] = p
	svc.planMu.Unlock()
	return p, nil
}

// buildPlan finds the subscribers of t: it looks up t's anchors in the
// directory and keeps the subscriptions whose pattern matches, and the
// local subscriptions that match.
func (svc *Service) buildPlan(ctx context.Context, t string) (*topicPlan, error) {
	p := &topicPlan{}
	nodes := make(map[security.NodeID]*peerTarget)
	target := func(id security.NodeID, addrs []string) *peerTarget {
		tg := nodes[id]
		if tg == nil {
			tg = &peerTarget{id: id, addrs: addrs, self: id == svc.cfg.Self}
			nodes[id] = tg
		}
		return tg
	}
	var cands map[string][]*peerTarget
	addCand := func(g string, tg *peerTarget) {
		if cands == nil {
			cands = make(map[string][]*peerTarget)
		}
		if !slices.Contains(cands[g], tg) {
			cands[g] = append(cands[g], tg)
		}
	}
	plain, localGroups := svc.local.localInterest(t)
	p.localPlain = plain
	for _, g := range localGroups {
		addCand(g, target(svc.cfg.Self, nil))
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
				tg := target(r.Owner, in.GetAddrs())
				if g := s.GetQueueGroup(); g != "" {
					addCand(g, tg)
				} else if !slices.Contains(p.remote, tg) {
					p.remote = append(p.remote, tg)
				}
			}
		}
	})
	if err != nil {
		return nil, err
	}
	for _, tg := range p.remote {
		po, ok := svc.peer(tg.id, tg.addrs)
		if !ok {
			return nil, ErrClosed
		}
		tg.out.Store(po)
	}
	for g, members := range cands {
		slices.SortFunc(members, func(a, b *peerTarget) int { return a.id.Compare(b.id) })
		p.groups = append(p.groups, groupPlan{name: g, rr: svc.groupCounter(g), nodes: members})
	}
	return p, nil
}

// groupCounter returns queue group g's round-robin counter.
func (svc *Service) groupCounter(g string) *atomic.Uint64 {
	svc.rrMu.Lock()
	defer svc.rrMu.Unlock()
	c := svc.groupRR[g]
	if c == nil {
		c = new(atomic.Uint64)
		svc.groupRR[g] = c
	}
	return c
}

// sender returns tg's sender, starting it if needed.
func (svc *Service) sender(tg *peerTarget) (*peerOut, bool) {
	if po := tg.out.Load(); po != nil {
		return po, true
	}
	po, ok := svc.peer(tg.id, tg.addrs)
	if ok {
		tg.out.Store(po)
	}
	return po, ok
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

// groupSend is a remote node chosen for queue groups by one event.
type groupSend struct {
	tg     *peerTarget
	groups []string
}

// send delivers one event by plan p: in-process to local subscriptions,
// on event streams to the others, then waits for acknowledgements at
// least once. The queue group members are chosen here, for each event.
func (svc *Service) send(ctx context.Context, t string, data []byte, ct string, qos QoS, p *topicPlan, now time.Time) error {
	svc.stats.published.Add(1)
	var localGroups []string
	var chosenBuf [4]groupSend
	chosen := chosenBuf[:0]
	for i := range p.groups {
		g := &p.groups[i]
		tg := g.nodes[(g.rr.Add(1)-1)%uint64(len(g.nodes))]
		if tg.self {
			localGroups = append(localGroups, g.name)
			continue
		}
		j := slices.IndexFunc(chosen, func(c groupSend) bool { return c.tg == tg })
		if j < 0 {
			chosen = append(chosen, groupSend{tg: tg})
			j = len(chosen) - 1
		}
		chosen[j].groups = append(chosen[j].groups, g.name)
	}
	remote := len(p.remote) > 0 || len(chosen) > 0
	// Room in every peer's queue first, then the number and the queueing
	// as one step under orderMu: each peer's queue, and so each
	// subscriber, then sees this node's events in sequence order even
	// when Publish runs on many goroutines at once.
	for _, tg := range p.remote {
		if err := svc.waitRoom(ctx, tg); err != nil {
			return err
		}
	}
	for _, c := range chosen {
		if err := svc.waitRoom(ctx, c.tg); err != nil {
			return err
		}
	}
	svc.orderMu.Lock()
	locked := true
	unlock := func() {
		if locked {
			locked = false
			svc.orderMu.Unlock()
		}
	}
	defer unlock()
	seq := svc.seq.Add(1)
	we := wireEvent{
		topic: t, data: data, contentType: ct, publisher: svc.cfg.Self[:],
		seq: seq, timeUnixNano: now.UnixNano(),
	}
	if qos == AtLeastOnce {
		we.qos = protocol.QoS_QOS_AT_LEAST_ONCE
	}
	var signer security.NodeID
	if id := svc.cfg.Signer; id != nil && remote {
		we.signature = id.Sign(protocol.EventSigningBytes(t, data, ct, we.publisher, seq, we.timeUnixNano, we.qos))
		we.publisherKey = svc.signKey
	}
	if svc.cfg.Signer != nil {
		signer = svc.cfg.Self
	}
	// At most once, frames are encoded into a scratch buffer that each
	// peer's queue copies; at least once, each keeps its own for resends.
	var scratch *[]byte
	if qos == AtMostOnce && remote {
		scratch = scratchFrames.Get().(*[]byte)
		defer func() {
			if cap(*scratch) <= maxScratch {
				scratchFrames.Put(scratch)
			}
		}()
	}
	encode := func() ([]byte, error) {
		if scratch == nil {
			return we.frame(svc.cfg.MaxFrameSize)
		}
		b, err := we.appendFrame((*scratch)[:0], svc.cfg.MaxFrameSize)
		*scratch = b
		return b, err
	}
	var waits []*pendingAck
	var waitPeers []security.NodeID
	queue := func(tg *peerTarget, frame []byte) error {
		svc.stats.sent.Add(1)
		po, ok := svc.sender(tg)
		if !ok {
			return ErrClosed
		}
		var pa *pendingAck
		if qos == AtLeastOnce {
			pa = &pendingAck{seq: seq, frame: frame, done: make(chan struct{})}
			waits = append(waits, pa)
			waitPeers = append(waitPeers, tg.id)
		}
		po.enqueue(frame, pa)
		return nil
	}
	var shared []byte
	for _, tg := range p.remote {
		if slices.ContainsFunc(chosen, func(c groupSend) bool { return c.tg == tg }) {
			continue // gets the event with its queue groups below
		}
		if shared == nil {
			b, err := encode()
			if err != nil {
				return err
			}
			shared = b
		}
		if err := queue(tg, shared); err != nil {
			return err
		}
	}
	for _, c := range chosen {
		we.queueGroups = c.groups
		frame, err := encode()
		if err != nil {
			return err
		}
		if err := queue(c.tg, frame); err != nil {
			return err
		}
	}
	if p.localPlain || len(localGroups) > 0 {
		// Local subscriptions get the event in order too, still under
		// orderMu; an at-least-once event that finds a queue full waits
		// for room outside it (as with a remote full queue, order then
		// yields to completeness).
		ev := &Event{Topic: t, Data: data, ContentType: ct, Publisher: svc.cfg.Self, Seq: seq, Time: now, Signer: signer}
		if qos == AtMostOnce {
			svc.local.deliver(ev, localGroups, nil)
		} else {
			done := make(chan struct{})
			if !svc.offerLocal(ev, localGroups, done) {
				unlock()
				if err := svc.deliverLocalAtLeastOnce(ctx, ev, localGroups, done); err != nil {
					svc.forgetAll(waitPeers, seq)
					return &PublishError{Topic: t, Seq: seq, Missing: append(slices.Clone(waitPeers), svc.cfg.Self), Err: err}
				}
			}
			waits = append(waits, &pendingAck{done: done})
			waitPeers = append(waitPeers, svc.cfg.Self)
		}
	}
	unlock()
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

// waitRoom waits while ctx lasts for room in tg's queue.
func (svc *Service) waitRoom(ctx context.Context, tg *peerTarget) error {
	po, ok := svc.sender(tg)
	if !ok {
		return ErrClosed
	}
	return po.waitRoom(ctx)
}

// offerLocal hands an at-least-once ev to the local subscriptions if
// every chosen one has room, and then closes done once all have handled
// it; false means it was not handed over.
func (svc *Service) offerLocal(ev *Event, groups []string, done chan struct{}) bool {
	n, ok := svc.local.deliver(ev, groups, func() { close(done) })
	if ok && n == 0 {
		close(done) // unsubscribed meanwhile: nothing to wait for
	}
	return ok
}

// deliverLocalAtLeastOnce hands ev to the local subscriptions, waiting
// while ctx lasts for room in their queues.
func (svc *Service) deliverLocalAtLeastOnce(ctx context.Context, ev *Event, groups []string, done chan struct{}) error {
	wait := time.Millisecond
	for {
		if svc.offerLocal(ev, groups, done) {
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
