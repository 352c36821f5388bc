package pubsub

import (
	"github.com/org/macula/internal/sentinel"
	"github.com/org/macula/topic"
)

// QoS is a delivery guarantee.
type QoS int

const (
	// AtMostOnce sends each event once, without acknowledgement; events
	// may be lost to failures or full queues. The default.
	AtMostOnce QoS = iota
	// AtLeastOnce resends each event until every subscriber node
	// acknowledges it; subscribers suppress duplicates.
	AtLeastOnce
)

// String names the QoS.
func (q QoS) String() string {
	if q == AtLeastOnce {
		return "at-least-once"
	}
	return "at-most-once"
}

func (q QoS) valid() bool { return q == AtMostOnce || q == AtLeastOnce }

// PublishOption sets an option of one Publish. An invalid option makes
// Publish fail, before anything is sent, with an error wrapping
// [ErrInvalidOption] that names the option and the cause.
type PublishOption func(*publishOptions) error

type publishOptions struct {
	qos QoS
}

// WithQoS sets the delivery guarantee of a Publish: [AtMostOnce] (the
// default) sends each event once, without acknowledgement; [AtLeastOnce]
// resends it until every subscriber node known at publish time has
// acknowledged it (after its handlers returned), and subscribers suppress
// duplicates. Any other value is invalid.
func WithQoS(q QoS) PublishOption {
	return func(o *publishOptions) error {
		if !q.valid() {
			return sentinel.Option(ErrInvalidOption, "WithQoS", "unknown QoS %d", int(q))
		}
		o.qos = q
		return nil
	}
}

// SubscribeOption sets an option of one Subscribe. An invalid option
// makes Subscribe fail, before anything is stored, with an error wrapping
// [ErrInvalidOption] that names the option and the cause.
type SubscribeOption func(*subscribeOptions) error

type subscribeOptions struct {
	group  string
	buffer int
}

// WithQueueGroup makes the subscription a member of the named queue
// group: each event goes to one member of the group across the mesh. The
// name follows the syntax of topics (see package topic), without
// wildcards; an invalid name also matches [ErrInvalidTopic]. Default: no
// group, every subscription gets every event.
func WithQueueGroup(name string) SubscribeOption {
	return func(o *subscribeOptions) error {
		if err := topic.Validate(name); err != nil {
			return sentinel.Option(ErrInvalidOption, "WithQueueGroup", "%w", err)
		}
		o.group = name
		return nil
	}
}

// WithBuffer sets the capacity n (n >= 1) of the subscription's queue of
// events waiting for its handler; default [Config].BufferSize (1024, see
// [DefaultBufferSize]). When the queue is full, at-most-once events are
// dropped (see [Subscription.Dropped]) and at-least-once events are left
// unacknowledged, so that the publisher resends them.
func WithBuffer(n int) SubscribeOption {
	return func(o *subscribeOptions) error {
		if n < 1 {
			return sentinel.Option(ErrInvalidOption, "WithBuffer", "capacity %d, want at least 1", n)
		}
		o.buffer = n
		return nil
	}
}
