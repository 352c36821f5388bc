package pubsub

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/org/macula/protocol"
)

// wireEvent is an event to encode as an event-stream frame: the fields of
// protocol.Event, encoded without reflection and byte for byte as
// proto.Marshal encodes them (fields in number order, zero values left
// out), inside an Envelope and behind its length, as
// protocol.AppendFrame frames it.
type wireEvent struct {
	topic        string
	data         []byte
	contentType  string
	publisher    []byte
	seq          uint64
	timeUnixNano int64
	qos          protocol.QoS
	signature    []byte
	queueGroups  []string
	publisherKey []byte
}

// sizeLen is the size of a length-delimited field of n bytes, with its
// one-byte tag (field numbers below 16).
func sizeLen(n int) int { return 1 + protowire.SizeBytes(n) }

// eventSize is the size of the encoded Event.
func (e *wireEvent) eventSize() int {
	n := 0
	if len(e.topic) > 0 {
		n += sizeLen(len(e.topic))
	}
	if len(e.data) > 0 {
		n += sizeLen(len(e.data))
	}
	if len(e.contentType) > 0 {
		n += sizeLen(len(e.contentType))
	}
	if len(e.publisher) > 0 {
		n += sizeLen(len(e.publisher))
	}
	if e.seq != 0 {
		n += 1 + protowire.SizeVarint(e.seq)
	}
	if e.timeUnixNano != 0 {
		n += 1 + protowire.SizeVarint(uint64(e.timeUnixNano))
	}
	if e.qos != 0 {
		n += 1 + protowire.SizeVarint(uint64(e.qos))
	}
	if len(e.signature) > 0 {
		n += sizeLen(len(e.signature))
	}
	for _, g := range e.queueGroups {
		n += sizeLen(len(g))
	}
	if len(e.publisherKey) > 0 {
		n += sizeLen(len(e.publisherKey))
	}
	return n
}

// frameSize returns the size of the encoded Envelope and of the whole
// frame (with its length prefix) for an Event of eventSize bytes.
func frameSize(eventSize int) (envelope, frame int) {
	envelope = protowire.SizeTag(protocol.FieldEnvelopeEvent) + protowire.SizeBytes(eventSize)
	return envelope, protowire.SizeVarint(uint64(envelope)) + envelope
}

// appendFrame appends e as one frame to b. An Envelope over maxFrame bytes
// fails with ErrMessageTooLarge (wrapping protocol.ErrFrameTooLarge) and
// leaves b unchanged.
func (e *wireEvent) appendFrame(b []byte, maxFrame int) ([]byte, error) {
	size := e.eventSize()
	env, _ := frameSize(size)
	if env > maxFrame {
		return b, fmt.Errorf("%w: %w: envelope of %d bytes, limit %d", ErrMessageTooLarge, protocol.ErrFrameTooLarge, env, maxFrame)
	}
	b = protowire.AppendVarint(b, uint64(env))
	b = protowire.AppendTag(b, protocol.FieldEnvelopeEvent, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	if len(e.topic) > 0 {
		b = protowire.AppendTag(b, protocol.FieldEventTopic, protowire.BytesType)
		b = protowire.AppendString(b, e.topic)
	}
	if len(e.data) > 0 {
		b = protowire.AppendTag(b, protocol.FieldEventData, protowire.BytesType)
		b = protowire.AppendBytes(b, e.data)
	}
	if len(e.contentType) > 0 {
		b = protowire.AppendTag(b, protocol.FieldEventContentType, protowire.BytesType)
		b = protowire.AppendString(b, e.contentType)
	}
	if len(e.publisher) > 0 {
		b = protowire.AppendTag(b, protocol.FieldEventPublisher, protowire.BytesType)
		b = protowire.AppendBytes(b, e.publisher)
	}
	if e.seq != 0 {
		b = protowire.AppendTag(b, protocol.FieldEventSeq, protowire.VarintType)
		b = protowire.AppendVarint(b, e.seq)
	}
	if e.timeUnixNano != 0 {
		b = protowire.AppendTag(b, protocol.FieldEventTimeUnixNano, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(e.timeUnixNano))
	}
	if e.qos != 0 {
		b = protowire.AppendTag(b, protocol.FieldEventQoS, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(e.qos))
	}
	if len(e.signature) > 0 {
		b = protowire.AppendTag(b, protocol.FieldEventSignature, protowire.BytesType)
		b = protowire.AppendBytes(b, e.signature)
	}
	for _, g := range e.queueGroups {
		b = protowire.AppendTag(b, protocol.FieldEventQueueGroups, protowire.BytesType)
		b = protowire.AppendString(b, g)
	}
	if len(e.publisherKey) > 0 {
		b = protowire.AppendTag(b, protocol.FieldEventPublisherKey, protowire.BytesType)
		b = protowire.AppendBytes(b, e.publisherKey)
	}
	return b, nil
}

// frame returns e encoded as one frame in a slice of its own, exactly
// sized.
func (e *wireEvent) frame(maxFrame int) ([]byte, error) {
	_, n := frameSize(e.eventSize())
	return e.appendFrame(make([]byte, 0, n), maxFrame)
}

// appendAckFrame appends Envelope{ack: Ack{publisher, seq}} as one frame
// to b, byte for byte as protocol.AppendFrame encodes it.
func appendAckFrame(b []byte, publisher []byte, seq uint64) []byte {
	size := 0
	if len(publisher) > 0 {
		size += sizeLen(len(publisher))
	}
	if seq != 0 {
		size += 1 + protowire.SizeVarint(seq)
	}
	env := protowire.SizeTag(protocol.FieldEnvelopeAck) + protowire.SizeBytes(size)
	b = protowire.AppendVarint(b, uint64(env))
	b = protowire.AppendTag(b, protocol.FieldEnvelopeAck, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	if len(publisher) > 0 {
		b = protowire.AppendTag(b, protocol.FieldAckPublisher, protowire.BytesType)
		b = protowire.AppendBytes(b, publisher)
	}
	if seq != 0 {
		b = protowire.AppendTag(b, protocol.FieldAckSeq, protowire.VarintType)
		b = protowire.AppendVarint(b, seq)
	}
	return b
}
