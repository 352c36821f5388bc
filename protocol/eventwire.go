package protocol

import (
	"bytes"
	"fmt"
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// EventDecoder decodes event frames (from [FrameReader.ReadRawFrame])
// without protobuf reflection, for the receiving end of a busy event
// stream. It keeps the last topic and content type, so a stream of events
// on one topic allocates no string for them. One EventDecoder serves one
// stream; it is not safe for concurrent use.
type EventDecoder struct {
	topic, contentType string
}

// Decode decodes b, an encoded Envelope, into ev when the Envelope holds
// an Event, and reports whether it did. ev is reset first. Data is
// copied; Publisher, Signature and PublisherKey alias b and are valid
// only as long as b is. Unknown fields are skipped, as protobuf does. A
// body that is not valid protobuf returns an error wrapping
// [ErrMalformedFrame]. For an Envelope without an event (another message,
// or none) it returns false and no error, and the caller decodes b in full
// to see what it is.
func (d *EventDecoder) Decode(b []byte, ev *Event) (bool, error) {
	ev.Reset()
	found := false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false, malformed(protowire.ParseError(n))
		}
		if num > protowire.MaxValidNumber {
			return false, malformed(fmt.Errorf("field number %d", num))
		}
		b = b[n:]
		if num == FieldEnvelopeEvent && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return false, malformed(protowire.ParseError(n))
			}
			// Repeated occurrences merge, as in protobuf.
			if err := d.decodeEvent(v, ev); err != nil {
				return false, err
			}
			found = true
			b = b[n:]
			continue
		}
		if isKnownEnvelopeField(num) {
			return false, nil // another message: decode in full
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return false, malformed(protowire.ParseError(n))
		}
		b = b[n:]
	}
	return found, nil
}

// isKnownEnvelopeField reports whether num is a field of Envelope (a body
// of the oneof), so an Envelope holding it may not be an event.
func isKnownEnvelopeField(num protowire.Number) bool {
	return envelopeFields().ByNumber(num) != nil
}

// envelopeFields is looked up on first use: the descriptors are not ready
// while package variables are initialized.
var envelopeFields = sync.OnceValue(func() protoreflect.FieldDescriptors {
	return (&Envelope{}).ProtoReflect().Descriptor().Fields()
})

func (d *EventDecoder) decodeEvent(b []byte, ev *Event) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return malformed(protowire.ParseError(n))
		}
		if num > protowire.MaxValidNumber {
			return malformed(fmt.Errorf("field number %d", num))
		}
		b = b[n:]
		switch {
		case typ == protowire.BytesType && num >= FieldEventTopic && num <= FieldEventPublisherKey && num != FieldEventSeq && num != FieldEventTimeUnixNano && num != FieldEventQoS:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return malformed(protowire.ParseError(n))
			}
			b = b[n:]
			if err := d.setBytes(ev, num, v); err != nil {
				return err
			}
		case typ == protowire.VarintType && (num == FieldEventSeq || num == FieldEventTimeUnixNano || num == FieldEventQoS):
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return malformed(protowire.ParseError(n))
			}
			b = b[n:]
			switch num {
			case FieldEventSeq:
				ev.Seq = v
			case FieldEventTimeUnixNano:
				ev.TimeUnixNano = int64(v)
			default:
				ev.Qos = QoS(int32(v))
			}
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return malformed(protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	return nil
}

// setBytes sets the length-delimited field num of ev to v.
func (d *EventDecoder) setBytes(ev *Event, num protowire.Number, v []byte) error {
	switch num {
	case FieldEventTopic:
		ev.Topic = intern(&d.topic, v)
	case FieldEventContentType:
		ev.ContentType = intern(&d.contentType, v)
	case FieldEventQueueGroups:
		ev.QueueGroups = append(ev.QueueGroups, string(v))
	case FieldEventData:
		ev.Data = bytes.Clone(v)
	case FieldEventPublisher:
		ev.Publisher = v
	case FieldEventSignature:
		ev.Signature = v
	case FieldEventPublisherKey:
		ev.PublisherKey = v
	}
	if (num == FieldEventTopic || num == FieldEventContentType || num == FieldEventQueueGroups) && !utf8.Valid(v) {
		return fmt.Errorf("%w: field %d of an event is not UTF-8", ErrMalformedFrame, num)
	}
	return nil
}

// intern returns v as a string, reusing *last when it holds the same bytes.
func intern(last *string, v []byte) string {
	if string(v) != *last {
		*last = string(v)
	}
	return *last
}

func malformed(err error) error {
	return fmt.Errorf("%w: %w", ErrMalformedFrame, err)
}
