package pubsub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/org/macula/internal/lifecycle"
	"github.com/org/macula/protocol"
	"github.com/org/macula/routing"
	"github.com/org/macula/security"
	"github.com/org/macula/topic"
	"github.com/org/macula/transport"
)

// unsubscribeTimeout bounds the record update of Unsubscribe, which takes
// no context.
const unsubscribeTimeout = 10 * time.Second

// Service is one node's pub/sub engine. It is safe for concurrent use.
type Service struct {
	cfg        Config
	log        *zap.Logger
	maxPayload int
	signKey    []byte // Signer's public key, sent with signed events

	// life owns the subscription, peer and ack-reader goroutines, and
	// counts the inbound event streams served on the transport's; ctx is
	// its context, which ends at Close.
	life lifecycle.Group
	ctx  context.Context

	local *registry
	seen  *dedup
	seq   atomic.Uint64
	// orderMu makes numbering an event and queueing it to its peers one
	// step, so that every peer's queue holds events in sequence order
	// whichever of several concurrent Publish calls numbers first.
	orderMu sync.Mutex
	subID   atomic.Uint64

	recMu sync.Mutex // serializes record updates

	outMu sync.Mutex
	peers map[security.NodeID]*peerOut

	inMu    sync.Mutex
	inbound map[security.NodeID]*inStream

	rrMu    sync.Mutex
	groupRR map[string]*atomic.Uint64

	planMu sync.RWMutex
	plans  map[string]*topicPlan

	intMu     sync.Mutex
	interests map[*routing.Record]*protocol.Interest

	stats counters
}

// counters are the Service's statistics.
type counters struct {
	published, sent, received, refused, deferred, sendFailed, resent atomic.Uint64
}

// Stats is a snapshot of a Service's counters.
type Stats struct {
	// Published counts events this node published (system events too).
	Published uint64
	// Sent counts events queued for other nodes, one per subscriber node.
	Sent uint64
	// Received counts events received from other nodes.
	Received uint64
	// Refused counts events refused as malformed, forged or denied by
	// AuthorizePublish, or for their signature.
	Refused uint64
	// Deferred counts at-least-once events left unacknowledged because a
	// subscription's queue was full or no subscription matched.
	Deferred uint64
	// SendFailed counts at-most-once events lost because their
	// subscriber node could not be reached.
	SendFailed uint64
	// Resent counts at-least-once events sent again.
	Resent uint64
	// Dropped counts events dropped by full subscription queues.
	Dropped uint64
	// Subscriptions is the number of active subscriptions.
	Subscriptions int
}

// New returns a running Service and registers its event-stream handler
// on cfg.Network.
func New(cfg Config) (*Service, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	svc := &Service{
		cfg:        cfg,
		log:        cfg.Logger,
		maxPayload: cfg.maxPayload(),
		local:      newRegistry(),
		seen:       newDedup(cfg.DedupWindow),
		peers:      make(map[security.NodeID]*peerOut),
		inbound:    make(map[security.NodeID]*inStream),
		groupRR:    make(map[string]*atomic.Uint64),
		plans:      make(map[string]*topicPlan),
		interests:  make(map[*routing.Record]*protocol.Interest),
	}
	svc.ctx = svc.life.Context()
	if cfg.Signer != nil {
		svc.signKey = cfg.Signer.PublicKey()
	}
	// Sequence numbers start at the clock so that they keep growing
	// across restarts of the node.
	svc.seq.Store(uint64(time.Now().UnixNano()))
	cfg.Network.Handle(protocol.StreamEvents, func(ctx context.Context, s *transport.Stream) {
		svc.serveEvents(ctx, s)
	})
	return svc, nil
}

// MaxPayload is the largest payload Publish accepts, in bytes.
func (svc *Service) MaxPayload() int { return svc.maxPayload }

// Close ends every subscription (queued events are not acknowledged, so
// at-least-once publishers resend them to the node's next life), stops
// the event streams and waits for every goroutine.
func (svc *Service) Close() error {
	if !svc.life.Stop() {
		return nil
	}
	svc.life.Wait()
	return nil
}

// Stats returns a snapshot of the counters.
func (svc *Service) Stats() Stats {
	st := Stats{
		Published:  svc.stats.published.Load(),
		Sent:       svc.stats.sent.Load(),
		Received:   svc.stats.received.Load(),
		Refused:    svc.stats.refused.Load(),
		Deferred:   svc.stats.deferred.Load(),
		SendFailed: svc.stats.sendFailed.Load(),
		Resent:     svc.stats.resent.Load(),
	}
	for _, s := range svc.local.all() {
		st.Dropped += s.Dropped()
		st.Subscriptions++
	}
	return st
}

// Subscribe calls fn with every event published in the realm on a topic
// matching pattern ("*" one segment, a final "#" one or more), from
// the moment Subscribe returns until Unsubscribe or Close. ctx bounds
// the call itself: validating and storing this node's subscription
// record in the DHT. Patterns starting with '_' see this node's system
// events and are not stored. An invalid pattern fails with
// ErrInvalidTopic, an invalid option with ErrInvalidOption (a bad queue
// group name matches both) and a nil fn with ErrInvalidHandler.
func (svc *Service) Subscribe(ctx context.Context, pattern string, fn Handler, opts ...SubscribeOption) (*Subscription, error) {
	if fn == nil {
		return nil, fmt.Errorf("%w: pattern %q", ErrInvalidHandler, pattern)
	}
	if err := topic.ValidatePattern(pattern); err != nil {
		return nil, err
	}
	o := subscribeOptions{buffer: svc.cfg.BufferSize}
	for _, f := range opts {
		if err := f(&o); err != nil {
			return nil, err
		}
	}
	sctx, cancel := context.WithCancel(svc.ctx)
	s := &Subscription{
		svc: svc, id: svc.subID.Add(1), pattern: pattern, group: o.group, fn: fn,
		queue: make(chan delivery, o.buffer), ctx: sctx, cancel: cancel,
	}
	// The subscription is added before its goroutine starts, so that no
	// event is missed, and removed again if the start is refused (Close
	// has begun: nothing is delivered any more).
	svc.local.add(s)
	if !svc.life.Go(s.run) {
		svc.local.remove(s)
		cancel()
		return nil, ErrClosed
	}
	if topic.IsReserved(pattern) {
		return s, nil
	}
	err := svc.syncAnchor(ctx, topic.Anchor(pattern))
	if err == nil || errors.Is(err, routing.ErrNoPeers) {
		// With no peer to store it, the DHT keeps the record and hands
		// it to the nodes that join.
		return s, nil
	}
	svc.local.remove(s)
	s.once.Do(func() {})
	s.stop(false)
	rctx, rcancel := context.WithTimeout(svc.ctx, unsubscribeTimeout)
	defer rcancel()
	_ = svc.syncAnchor(rctx, topic.Anchor(pattern))
	return nil, fmt.Errorf("macula: subscribe %s: %w", pattern, err)
}

// unsubscribe ends s and updates the record of its anchor.
func (svc *Service) unsubscribe(s *Subscription) error {
	if !svc.local.remove(s) {
		return nil
	}
	s.stop(true)
	if topic.IsReserved(s.pattern) {
		return nil
	}
	ctx, cancel := context.WithTimeout(svc.ctx, unsubscribeTimeout)
	defer cancel()
	if err := svc.syncAnchor(ctx, topic.Anchor(s.pattern)); err != nil && svc.ctx.Err() == nil {
		return fmt.Errorf("macula: unsubscribe %s: %w", s.pattern, err)
	}
	return nil
}
