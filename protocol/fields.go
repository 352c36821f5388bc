package protocol

import "google.golang.org/protobuf/encoding/protowire"

// Field numbers of the messages that are encoded or decoded by hand on the
// busiest path, the event stream (EventDecoder here, the event and ack
// encoders of package pubsub), as in macula.proto. TestFieldNumbers checks
// them against the generated descriptors.
const (
	FieldEnvelopeEvent protowire.Number = 13
	FieldEnvelopeAck   protowire.Number = 14

	FieldAckPublisher protowire.Number = 1
	FieldAckSeq       protowire.Number = 2

	FieldEventTopic        protowire.Number = 1
	FieldEventData         protowire.Number = 2
	FieldEventContentType  protowire.Number = 3
	FieldEventPublisher    protowire.Number = 4
	FieldEventSeq          protowire.Number = 5
	FieldEventTimeUnixNano protowire.Number = 6
	FieldEventQoS          protowire.Number = 7
	FieldEventSignature    protowire.Number = 8
	FieldEventQueueGroups  protowire.Number = 9
	FieldEventPublisherKey protowire.Number = 10
)
