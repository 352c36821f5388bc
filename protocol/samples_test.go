package protocol

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// sampleNodeID is a recognizable 32-byte node ID.
var sampleNodeID = bytes.Repeat([]byte{0xa5}, 32)

func sampleRecord() *Record {
	return &Record{
		Key:             bytes.Repeat([]byte{0x11}, 32),
		Owner:           sampleNodeID,
		Kind:            "rpc",
		Name:            "billing.charge",
		Value:           []byte("provider"),
		ExpiresUnixNano: 1_700_000_300_000_000_000,
		Seq:             3,
		Signature:       bytes.Repeat([]byte{0x5a}, 64),
		Tombstone:       true,
		OwnerKey:        bytes.Repeat([]byte{0x3c}, 32),
	}
}

func sampleNodeInfo() *NodeInfo {
	return &NodeInfo{NodeId: sampleNodeID, Addrs: []string{"10.0.0.1:4433", "[::1]:4433"}}
}

// sampleEnvelopes returns one Envelope for every body type, each with its
// fields set, keyed by body field name.
func sampleEnvelopes() map[string]*Envelope {
	return map[string]*Envelope{
		"hello": {Body: &Envelope_Hello{Hello: &Hello{
			VersionMajor: VersionMajor, VersionMinor: VersionMinor + 7, NodeId: sampleNodeID,
			Realm: "org.example.mesh", Addrs: []string{"192.0.2.1:4433"},
			Capabilities: []string{"watch", "datagrams"}, Software: "macula/test",
			Instance: 1764027937000000000, DialSeq: 3,
		}}},
		"ping":      {Body: &Envelope_Ping{Ping: &Ping{Nonce: 0xdeadbeef}}},
		"pong":      {Body: &Envelope_Pong{Pong: &Pong{Nonce: 0xdeadbeef}}},
		"close":     {Body: &Envelope_Close{Close: &Close{Code: CodeShutdown, Reason: "bye"}}},
		"error":     {Body: &Envelope_Error{Error: &Error{Code: CodeRateLimited, Message: "slow down"}}},
		"heartbeat": {Body: &Envelope_Heartbeat{Heartbeat: &Heartbeat{TimeUnixNano: 1_700_000_000_000_000_000}}},
		"publish": {Body: &Envelope_Publish{Publish: &Publish{
			Topic: "orders.eu.created", Data: []byte(`{"id":1}`), ContentType: "application/json",
			Publisher: sampleNodeID, Seq: 9, TimeUnixNano: 1_700_000_000_000_000_001,
			Qos: QoS_QOS_AT_LEAST_ONCE, Signature: []byte{1, 2, 3}, PublisherKey: []byte{7, 8},
		}}},
		"subscribe":   {Body: &Envelope_Subscribe{Subscribe: &Subscribe{Pattern: "orders.*.#", QueueGroup: "workers", SubscriptionId: 4}}},
		"unsubscribe": {Body: &Envelope_Unsubscribe{Unsubscribe: &Unsubscribe{Pattern: "orders.*.#", QueueGroup: "workers", SubscriptionId: 4}}},
		"event": {Body: &Envelope_Event{Event: &Event{
			Topic: "orders.eu.created", Data: []byte(`{"id":1}`), ContentType: "application/json",
			Publisher: sampleNodeID, Seq: 10, TimeUnixNano: -1,
			Qos: QoS_QOS_AT_LEAST_ONCE, Signature: []byte{4, 5, 6}, QueueGroups: []string{"workers"}, PublisherKey: []byte{9},
		}}},
		"ack": {Body: &Envelope_Ack{Ack: &Ack{Publisher: sampleNodeID, Seq: 10}}},
		"rpc_call": {Body: &Envelope_RpcCall{RpcCall: &RpcCall{
			CallId: 77, Procedure: "billing.charge", Args: []byte{0, 1, 2}, ContentType: "application/cbor",
			DeadlineUnixNano: 1_700_000_005_000_000_000, Idempotent: true, Cast: true,
		}}},
		"rpc_accept":          {Body: &Envelope_RpcAccept{RpcAccept: &RpcAccept{CallId: 77}}},
		"rpc_result":          {Body: &Envelope_RpcResult{RpcResult: &RpcResult{CallId: 77, Data: []byte("ok"), ContentType: "text/plain", Signature: []byte{1}, SignerKey: []byte{2}}}},
		"rpc_error":           {Body: &Envelope_RpcError{RpcError: &RpcError{CallId: 77, Code: CodeNoProvider, Message: "nobody home"}}},
		"find_node":           {Body: &Envelope_FindNode{FindNode: &FindNode{Target: sampleNodeID}}},
		"find_node_response":  {Body: &Envelope_FindNodeResponse{FindNodeResponse: &FindNodeResponse{Closer: []*NodeInfo{sampleNodeInfo(), sampleNodeInfo()}}}},
		"find_value":          {Body: &Envelope_FindValue{FindValue: &FindValue{Key: sampleRecord().GetKey()}}},
		"find_value_response": {Body: &Envelope_FindValueResponse{FindValueResponse: &FindValueResponse{Records: []*Record{sampleRecord()}, Closer: []*NodeInfo{sampleNodeInfo()}}}},
		"store":               {Body: &Envelope_Store{Store: &Store{Record: sampleRecord()}}},
		"store_response":      {Body: &Envelope_StoreResponse{StoreResponse: &StoreResponse{Code: CodeInvalidArgument, Message: "bad signature"}}},
		"watch":               {Body: &Envelope_Watch{Watch: &Watch{Key: sampleRecord().GetKey(), LeaseMillis: 30_000}}},
		"watch_event":         {Body: &Envelope_WatchEvent{WatchEvent: &WatchEvent{Key: sampleRecord().GetKey(), Records: []*Record{sampleRecord(), {}}}}},
	}
}

// TestSamplesCoverEveryMessage keeps sampleEnvelopes complete: every body
// type, with every field of its message set.
func TestSamplesCoverEveryMessage(t *testing.T) {
	samples := sampleEnvelopes()
	body := (&Envelope{}).ProtoReflect().Descriptor().Oneofs().ByName("body")
	require.Equal(t, body.Fields().Len(), len(samples))
	for i := range body.Fields().Len() {
		fd := body.Fields().Get(i)
		env, ok := samples[string(fd.Name())]
		require.True(t, ok, "no sample for %s", fd.Name())
		require.Equal(t, fd, env.ProtoReflect().WhichOneof(body), "sample %s sets another body", fd.Name())
		requireAllFieldsSet(t, env.ProtoReflect().Get(fd).Message())
	}
}

// TestRecordValuesCoverEveryField round-trips the messages stored as DHT
// record values, with every field set.
func TestRecordValuesCoverEveryField(t *testing.T) {
	for _, m := range []proto.Message{
		&Interest{Subscriptions: []*Subscribe{{Pattern: "a.*", QueueGroup: "g", SubscriptionId: 1}}, Addrs: []string{"10.0.0.1:4433"}},
		&Provider{Procedure: "svc.add", Addrs: []string{"10.0.0.1:4433"}},
	} {
		requireAllFieldsSet(t, m.ProtoReflect())
		b, err := proto.Marshal(m)
		require.NoError(t, err)
		got := m.ProtoReflect().New().Interface()
		require.NoError(t, proto.Unmarshal(b, got))
		requireProtoEqual(t, m, got)
	}
}

func requireAllFieldsSet(t *testing.T, m protoreflect.Message) {
	t.Helper()
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		require.True(t, m.Has(fd), "%s not set", fd.FullName())
		if fd.Message() != nil && !fd.IsList() {
			requireAllFieldsSet(t, m.Get(fd).Message())
		}
	}
}

// encodeFrame returns env's frame, failing the test on error.
func encodeFrame(t testing.TB, env *Envelope) []byte {
	t.Helper()
	b, err := AppendFrame(nil, env, DefaultMaxFrameSize)
	require.NoError(t, err)
	return b
}

// testingT is what requireProtoEqual needs; *testing.T and *rapid.T have it.
type testingT interface {
	require.TestingT
	Helper()
}

// requireProtoEqual fails unless want and got are equal messages.
func requireProtoEqual(t testingT, want, got proto.Message) {
	t.Helper()
	if !proto.Equal(want, got) {
		require.Failf(t, "messages differ", "want %v\ngot  %v", want, got)
	}
}
