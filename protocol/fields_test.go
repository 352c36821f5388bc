package protocol

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

func TestFieldNumbers(t *testing.T) {
	for _, tc := range []struct {
		msg  protoreflect.ProtoMessage
		name protoreflect.Name
		num  protowire.Number
	}{
		{&Envelope{}, "event", FieldEnvelopeEvent},
		{&Envelope{}, "ack", FieldEnvelopeAck},
		{&Ack{}, "publisher", FieldAckPublisher},
		{&Ack{}, "seq", FieldAckSeq},
		{&Event{}, "topic", FieldEventTopic},
		{&Event{}, "data", FieldEventData},
		{&Event{}, "content_type", FieldEventContentType},
		{&Event{}, "publisher", FieldEventPublisher},
		{&Event{}, "seq", FieldEventSeq},
		{&Event{}, "time_unix_nano", FieldEventTimeUnixNano},
		{&Event{}, "qos", FieldEventQoS},
		{&Event{}, "signature", FieldEventSignature},
		{&Event{}, "queue_groups", FieldEventQueueGroups},
		{&Event{}, "publisher_key", FieldEventPublisherKey},
	} {
		fd := tc.msg.ProtoReflect().Descriptor().Fields().ByName(tc.name)
		require.NotNil(t, fd, tc.name)
		require.Equal(t, tc.num, fd.Number(), tc.name)
	}
}
