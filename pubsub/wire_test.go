package pubsub

import (
	"bytes"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"

	"github.com/org/macula/protocol"
)

// reference is what wireEvent must encode to: protocol.AppendFrame of the
// same Event.
func reference(t require.TestingT, e *wireEvent, maxFrame int) ([]byte, error) {
	pe := &protocol.Event{
		Topic: e.topic, Data: e.data, ContentType: e.contentType, Publisher: e.publisher,
		Seq: e.seq, TimeUnixNano: e.timeUnixNano, Qos: e.qos, Signature: e.signature,
		QueueGroups: e.queueGroups, PublisherKey: e.publisherKey,
	}
	return protocol.AppendFrame(nil, &protocol.Envelope{Body: &protocol.Envelope_Event{Event: pe}}, maxFrame)
}

// checkWire checks that e encodes byte for byte like proto, decodes back
// to the same Event, and appends after what b holds.
func checkWire(t require.TestingT, e *wireEvent) {
	want, err := reference(t, e, protocol.DefaultMaxFrameSize)
	require.NoError(t, err)
	got, err := e.frame(protocol.DefaultMaxFrameSize)
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.Equal(t, len(got), cap(got), "frame is sized exactly")

	prefix := []byte("earlier frames")
	appended, err := e.appendFrame(bytes.Clone(prefix), protocol.DefaultMaxFrameSize)
	require.NoError(t, err)
	require.Equal(t, append(bytes.Clone(prefix), want...), appended)

	fr := protocol.NewFrameReader(bytes.NewReader(got), 0)
	var env protocol.Envelope
	require.NoError(t, fr.ReadFrame(&env))
	pe := env.GetEvent()
	require.NotNil(t, pe)
	require.Equal(t, e.topic, pe.GetTopic())
	require.Equal(t, e.data, nilIfEmpty(pe.GetData()))
	require.Equal(t, e.contentType, pe.GetContentType())
	require.Equal(t, e.publisher, nilIfEmpty(pe.GetPublisher()))
	require.Equal(t, e.seq, pe.GetSeq())
	require.Equal(t, e.timeUnixNano, pe.GetTimeUnixNano())
	require.Equal(t, e.qos, pe.GetQos())
	require.Equal(t, e.signature, nilIfEmpty(pe.GetSignature()))
	require.Equal(t, e.queueGroups, pe.GetQueueGroups())
	require.Equal(t, e.publisherKey, nilIfEmpty(pe.GetPublisherKey()))
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func TestWireEventMatchesProto(t *testing.T) {
	pub := bytes.Repeat([]byte{7}, 32)
	cases := map[string]*wireEvent{
		"empty":         {},
		"only topic":    {topic: "a"},
		"plain":         {topic: "bench.data", data: make([]byte, 128), contentType: "application/octet-stream", publisher: pub, seq: 1 << 62, timeUnixNano: 1_700_000_000_000_000_000},
		"at least once": {topic: "a.b", data: []byte("x"), publisher: pub, seq: 1, timeUnixNano: 1, qos: protocol.QoS_QOS_AT_LEAST_ONCE},
		"negative time": {topic: "a", timeUnixNano: -1},
		"min time":      {topic: "a", timeUnixNano: math.MinInt64},
		"signed": {
			topic: "orders.eu", data: []byte(`{"id":1}`), contentType: "application/json", publisher: pub,
			seq: 42, timeUnixNano: 5, signature: bytes.Repeat([]byte{1}, 64), publisherKey: bytes.Repeat([]byte{2}, 32),
		},
		"groups":       {topic: "jobs.run", data: []byte{0}, publisher: pub, seq: 3, queueGroups: []string{"workers", "audit"}},
		"empty group":  {topic: "jobs.run", queueGroups: []string{""}},
		"everything":   {topic: "t", data: []byte{1}, contentType: "c", publisher: pub, seq: 1, timeUnixNano: 1, qos: 1, signature: []byte{1}, queueGroups: []string{"g"}, publisherKey: []byte{1}},
		"large data":   {topic: "big", data: make([]byte, 300_000), publisher: pub, seq: 1},
		"unknown qos":  {topic: "q", qos: 99},
		"16 KiB topic": {topic: string(bytes.Repeat([]byte{'a'}, 16<<10))},
	}
	for name, e := range cases {
		t.Run(name, func(t *testing.T) { checkWire(t, e) })
	}
}

func TestWireEventMatchesProtoProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		bs := func(label string, max int) []byte {
			if rapid.Bool().Draw(t, label+" set") {
				return rapid.SliceOfN(rapid.Byte(), 1, max).Draw(t, label)
			}
			return nil
		}
		e := &wireEvent{
			topic:        rapid.StringMatching(`[a-z.]{0,40}`).Draw(t, "topic"),
			data:         bs("data", 3000),
			contentType:  rapid.StringMatching(`[a-z/;= ]{0,30}`).Draw(t, "contentType"),
			publisher:    bs("publisher", 40),
			seq:          rapid.Uint64().Draw(t, "seq"),
			timeUnixNano: rapid.Int64().Draw(t, "time"),
			qos:          protocol.QoS(rapid.Int32Range(0, 3).Draw(t, "qos")),
			signature:    bs("signature", 70),
			publisherKey: bs("key", 40),
		}
		if rapid.Bool().Draw(t, "groups set") {
			e.queueGroups = rapid.SliceOfN(rapid.StringMatching(`[a-z]{0,12}`), 1, 5).Draw(t, "groups")
		}
		checkWire(t, e)
	})
}

func TestWireEventFrameLimit(t *testing.T) {
	e := &wireEvent{topic: "a.b", data: make([]byte, 1000), seq: 9}
	want, err := reference(t, e, 0)
	require.NoError(t, err)
	env := len(want) - 2 // a two-byte length prefix
	require.Equal(t, env, proto.Size(&protocol.Envelope{Body: &protocol.Envelope_Event{Event: &protocol.Event{Topic: "a.b", Data: make([]byte, 1000), Seq: 9}}}))

	got, err := e.appendFrame([]byte("keep"), env)
	require.NoError(t, err, "an envelope of exactly the limit is fine")
	require.Equal(t, append([]byte("keep"), want...), got)

	_, refErr := reference(t, e, env-1)
	require.ErrorIs(t, refErr, protocol.ErrFrameTooLarge)
	got, err = e.appendFrame([]byte("keep"), env-1)
	require.ErrorIs(t, err, ErrMessageTooLarge)
	require.ErrorIs(t, err, protocol.ErrFrameTooLarge)
	require.Equal(t, []byte("keep"), got, "nothing appended")
}

func TestWireEventDoesNotAllocate(t *testing.T) {
	e := &wireEvent{topic: "bench.data", data: make([]byte, 128), contentType: "application/octet-stream", publisher: make([]byte, 32), seq: 1, timeUnixNano: 1}
	buf := make([]byte, 0, 1024)
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		buf, err = e.appendFrame(buf[:0], protocol.DefaultMaxFrameSize)
		if err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs)
}

func BenchmarkEventFrame(b *testing.B) {
	pub := make([]byte, 32)
	data := make([]byte, 128)
	b.Run("proto", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			pe := &protocol.Event{Topic: "bench.data", Data: data, ContentType: "application/octet-stream", Publisher: pub, Seq: 1, TimeUnixNano: 1}
			if _, err := protocol.AppendFrame(nil, &protocol.Envelope{Body: &protocol.Envelope_Event{Event: pe}}, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("wire", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			e := wireEvent{topic: "bench.data", data: data, contentType: "application/octet-stream", publisher: pub, seq: 1, timeUnixNano: 1}
			if _, err := e.frame(protocol.DefaultMaxFrameSize); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestAckFrameMatchesProto(t *testing.T) {
	check := func(t require.TestingT, pub []byte, seq uint64) {
		want, err := protocol.AppendFrame([]byte("x"), &protocol.Envelope{Body: &protocol.Envelope_Ack{Ack: &protocol.Ack{Publisher: pub, Seq: seq}}}, 0)
		require.NoError(t, err)
		require.Equal(t, want, appendAckFrame([]byte("x"), pub, seq))
	}
	check(t, bytes.Repeat([]byte{9}, 32), 1<<63)
	check(t, nil, 0)
	check(t, []byte{1}, 0)
	check(t, nil, 1)
	rapid.Check(t, func(t *rapid.T) {
		check(t, rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "pub"), rapid.Uint64().Draw(t, "seq"))
	})
}
