package pubsub

import (
	"context"
	"time"

	"github.com/org/macula/internal/codec"
	"github.com/org/macula/security"
)

// Event is a published event as a subscriber receives it. Handlers share
// one Event per delivery and must not modify it.
type Event struct {
	// Topic is the topic it was published on.
	Topic string
	// Data is the payload, encoded by the publisher.
	Data []byte
	// ContentType says how Data is encoded: application/octet-stream,
	// application/x-protobuf or application/json.
	ContentType string
	// Publisher is the publishing node.
	Publisher security.NodeID
	// Seq is the publisher's sequence number of the event; it grows with
	// every event the publisher sends.
	Seq uint64
	// Time is the publisher's clock when it published.
	Time time.Time
	// Signer is the node whose signature over the event was verified: the
	// Publisher when the event was signed (see Config.Signer), zero when
	// it was not. A signed event keeps its signature when forwarded, so
	// Signer names the publisher whichever node passed the event on.
	Signer security.NodeID
}

// Decode decodes Data into v, a pointer, by the payload rule: a *[]byte
// takes the bytes, a proto.Message protobuf, anything else JSON. Errors
// wrap [ErrDecode].
func (e *Event) Decode(v any) error { return codec.Decode(e.Data, e.ContentType, v) }

// Handler receives the events of a subscription, one at a time, in order.
// Its context ends when the subscription ends or the node closes.
type Handler func(ctx context.Context, ev *Event)
