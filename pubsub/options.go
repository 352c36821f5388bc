package pubsub

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

// PublishOption sets an option of one Publish.
type PublishOption func(*publishOptions)

type publishOptions struct {
	qos QoS
}

// WithQoS sets the delivery guarantee of a Publish; default AtMostOnce.
func WithQoS(q QoS) PublishOption {
	return func(o *publishOptions) { o.qos = q }
}

// SubscribeOption sets an option of one Subscribe.
type SubscribeOption func(*subscribeOptions)

type subscribeOptions struct {
	group  string
	buffer int
}

// WithQueueGroup makes the subscription a member of the named queue
// group: each event goes to one member of the group across the mesh.
func WithQueueGroup(name string) SubscribeOption {
	return func(o *subscribeOptions) { o.group = name }
}

// WithBuffer sets the capacity of the subscription's queue of events
// waiting for its handler; default [Config].BufferSize.
func WithBuffer(n int) SubscribeOption {
	return func(o *subscribeOptions) { o.buffer = n }
}
