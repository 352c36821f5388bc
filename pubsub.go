package macula

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/org/macula/directory"
	"github.com/org/macula/membership"
	"github.com/org/macula/protocol"
	"github.com/org/macula/pubsub"
	"github.com/org/macula/security"
	"github.com/org/macula/transport"
)

// Event is a published event as a subscriber receives it; Decode decodes
// its payload.
type Event = pubsub.Event

// Subscription is an active subscription; Unsubscribe ends it and Dropped
// counts the events its full queue dropped.
type Subscription = pubsub.Subscription

// QoS is a delivery guarantee: AtMostOnce (the default) or AtLeastOnce.
type QoS = pubsub.QoS

// Delivery guarantees.
const (
	// AtMostOnce sends each event once, without acknowledgement.
	AtMostOnce = pubsub.AtMostOnce
	// AtLeastOnce resends each event until every subscriber node has
	// acknowledged it (after its handlers returned); duplicates are
	// suppressed at the subscriber.
	AtLeastOnce = pubsub.AtLeastOnce
)

// PublishOption sets an option of one Publish.
type PublishOption = pubsub.PublishOption

// SubscribeOption sets an option of one Subscribe.
type SubscribeOption = pubsub.SubscribeOption

// PublishError names the subscriber nodes that did not acknowledge an
// at-least-once event; it matches ErrNotAcknowledged.
type PublishError = pubsub.PublishError

// ErrNotAcknowledged is matched by the error of an at-least-once Publish
// that some subscriber nodes did not acknowledge in time.
var ErrNotAcknowledged = pubsub.ErrNotAcknowledged

// The options of Publish and Subscribe are package pubsub's, documented
// there once, with their defaults; an invalid one makes Publish or
// Subscribe fail, before anything is sent or stored, with an error that
// names the option and matches ErrInvalidOption.

// WithQoS sets the delivery guarantee of one Publish (default AtMostOnce);
// see [pubsub.WithQoS].
func WithQoS(q QoS) PublishOption { return pubsub.WithQoS(q) }

// WithQueueGroup puts a subscription in a queue group; see
// [pubsub.WithQueueGroup].
func WithQueueGroup(name string) SubscribeOption { return pubsub.WithQueueGroup(name) }

// WithBuffer sets the capacity of a subscription's queue (default 1024);
// see [pubsub.WithBuffer].
func WithBuffer(n int) SubscribeOption { return pubsub.WithBuffer(n) }

// System topics each node publishes to its own subscribers only; subscribe
// with patterns such as "_mesh.#". The payload is JSON (see SystemEvent).
const (
	TopicPeerConnected    = "_mesh.peer.connected"
	TopicPeerDisconnected = "_mesh.peer.disconnected"
	TopicMemberJoined     = "_mesh.member.joined"
	TopicMemberLeft       = "_mesh.member.left"
	TopicMemberFailed     = "_mesh.member.failed"
	TopicMemberUpdated    = "_mesh.member.updated"
	// TopicMemberSuspected: a member missed probes; it is declared failed
	// unless it refutes in time.
	TopicMemberSuspected = "_mesh.member.suspected"
	// TopicMemberRefuted: a suspected member proved itself alive.
	TopicMemberRefuted = "_mesh.member.refuted"
)

// SystemEvent is the payload of the system topics.
type SystemEvent struct {
	// Node is the peer or member concerned.
	Node NodeID `json:"node"`
	// Addrs are its addresses.
	Addrs []string `json:"addrs,omitempty"`
	// State is its membership state, for member events.
	State string `json:"state,omitempty"`
	// Reason is why a connection ended, for peer.disconnected.
	Reason string `json:"reason,omitempty"`
}

// Publish sends payload on topic to every subscriber in the realm, once
// per subscriber node, directly. A []byte payload is sent as is, a
// proto.Message as protobuf, anything else as JSON. Invalid or reserved
// topics fail with ErrInvalidTopic, payloads over the limit with
// ErrMessageTooLarge and invalid options with ErrInvalidOption, before
// anything is sent. With WithQoS(AtLeastOnce)
// it returns once every subscriber node known at publish time has
// acknowledged the event, or a *PublishError naming those that have not
// when ctx ends.
func (n *Node) Publish(ctx context.Context, topic string, payload any, opts ...PublishOption) error {
	if n.isClosing() {
		return ErrClosed
	}
	if err := n.checkLocal(security.ActionPublish, topic); err != nil {
		return err
	}
	return n.pubsub.Publish(ctx, topic, payload, opts...)
}

// Subscribe calls fn for every event published in the realm on a topic
// matching pattern: "*" matches one segment, a final "#" one or more
// ("sensors.*", "sensors.#"). ctx bounds Subscribe itself (storing the
// subscription in the DHT); the subscription lasts until Unsubscribe or
// Close. Each subscription has its own goroutine and bounded queue, so a
// slow handler holds up no other. fn's context ends with the
// subscription. Invalid patterns fail with ErrInvalidTopic, invalid
// options with ErrInvalidOption and a nil fn with ErrInvalidHandler.
func (n *Node) Subscribe(ctx context.Context, pattern string, fn func(context.Context, *Event), opts ...SubscribeOption) (*Subscription, error) {
	if n.isClosing() {
		return nil, ErrClosed
	}
	if fn == nil {
		return nil, fmt.Errorf("%w: pattern %q", pubsub.ErrInvalidHandler, pattern)
	}
	if err := n.checkLocal(security.ActionSubscribe, pattern); err != nil {
		return nil, err
	}
	return n.pubsub.Subscribe(ctx, pattern, fn, opts...)
}

// PubSubStats returns the node's pub/sub counters.
func (n *Node) PubSubStats() PubSubStats {
	return n.pubsub.Stats()
}

// buildMessaging builds the directory cache, the pub/sub engine and the
// RPC engine on the DHT. Pub/sub and RPC serve the streams the transport
// hands them from the moment it starts, and need no start of their own.
func (n *Node) buildMessaging() error {
	d := n.dht
	dir, err := directory.New(directory.Config{Source: d, Logger: n.log})
	if err != nil {
		return err
	}
	n.dir = dir
	n.parts.add("directory", nil, func() error { dir.Close(); return nil })
	pcfg := pubsub.Config{
		Self:         n.ID(),
		Realm:        n.cfg.realm,
		Addrs:        n.advertise,
		Network:      n.tr,
		Records:      d,
		Directory:    dir,
		MaxFrameSize: n.cfg.maxFrameSize,
		Logger:       n.log,
	}
	if n.cfg.acl != nil {
		pcfg.AuthorizePublish = func(pub NodeID, topic string) error {
			return n.authorizePeer(pub, security.ActionPublish, topic)
		}
	}
	pcfg.Signer, pcfg.RequireSignatures = n.messageSigning()
	pcfg.OnRefused = func(from NodeID, topic string, err error) {
		n.auditRefused(from, security.ActionPublish, topic, err)
	}
	ps, err := pubsub.New(pcfg)
	if err != nil {
		return fmt.Errorf("macula: start pub/sub: %w", err)
	}
	n.pubsub = ps
	n.parts.add("pub/sub", n.startMessaging, ps.Close)
	return n.buildRPC()
}

// startMessaging follows membership to hide the records of departed
// members and publish the system events.
func (n *Node) startMessaging() error {
	events := n.members.Watch(n.ctx)
	n.goFunc(func() {
		for ev := range events {
			n.memberChanged(ev)
		}
	})
	return nil
}

// memberChanged hides or shows a member's records and publishes the
// matching system event.
func (n *Node) memberChanged(ev MemberEvent) {
	if ev.Member.ID == n.ID() {
		return
	}
	topic := TopicMemberUpdated
	switch ev.Type {
	case membership.EventJoin:
		topic = TopicMemberJoined
		n.dir.SetDown(ev.Member.ID, false)
	case membership.EventLeave:
		topic = TopicMemberLeft
		n.dir.SetDown(ev.Member.ID, true)
	case membership.EventFail:
		topic = TopicMemberFailed
		n.dir.SetDown(ev.Member.ID, true)
		n.dropFailedPeer(ev.Member.ID)
	case membership.EventSuspect:
		topic = TopicMemberSuspected
	case membership.EventRefute:
		topic = TopicMemberRefuted
	}
	n.publishSystem(topic, SystemEvent{Node: ev.Member.ID, Addrs: ev.Member.Meta.Addrs, State: ev.Member.State.String()})
}

// dropFailedPeer closes the connection to a member that membership
// declared dead. A crashed node sends no CONNECTION_CLOSE, so without
// this its connection, and every stream on it, would wait out QUIC's idle
// timeout: a call it had accepted would hang until its deadline instead
// of failing over (an idempotent call moves on to the next provider when
// its stream breaks), and at-least-once events queued to it would wait as
// long before their retry. If the member was alive after all (a false
// suspicion), the next exchange dials again. The code is Timeout, not
// Shutdown: the peer must not take it for this node leaving.
func (n *Node) dropFailedPeer(id NodeID) {
	if err := n.tr.Disconnect(id, protocol.CodeTimeout, "declared dead by membership"); err == nil {
		n.log.Debug("closed the connection to a member declared dead", zap.Stringer("member", id))
	}
}

// peerChanged publishes a connection event; it runs in the transport's
// callback and does not block.
func (n *Node) peerChanged(ev transport.PeerEvent) {
	se := SystemEvent{Node: ev.Peer.ID, Addrs: ev.Peer.AdvertisedAddrs}
	if ev.Connected {
		n.publishSystem(TopicPeerConnected, se)
		return
	}
	if ev.Err != nil {
		se.Reason = ev.Err.Error()
	}
	n.publishSystem(TopicPeerDisconnected, se)
}

func (n *Node) publishSystem(topic string, se SystemEvent) {
	if err := n.pubsub.PublishLocal(topic, se); err != nil {
		n.log.Debug("system event not published", zap.String("topic", topic), zap.Error(err))
	}
}
