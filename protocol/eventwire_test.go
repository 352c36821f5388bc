package protocol

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// TestEventDecoderAgreesWithProtobuf: for random events, the hand decoder
// reads what proto.Marshal wrote, field for field.
func TestEventDecoderAgreesWithProtobuf(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(s ...string) string { return s[rng.IntN(len(s))] }
	blob := func(max int) []byte {
		if rng.IntN(4) == 0 {
			return nil
		}
		b := make([]byte, rng.IntN(max))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	var d EventDecoder
	var got Event
	for i := range 2000 {
		want := &Event{
			Topic: pick("", "a.b", "sensors.kitchen.temp", "ü.x"), Data: blob(300),
			ContentType: pick("", "application/json", "application/octet-stream"),
			Publisher:   blob(40), Seq: rng.Uint64(), TimeUnixNano: rng.Int64() - rng.Int64(),
			Qos: QoS(rng.IntN(3)), Signature: blob(70), PublisherKey: blob(40),
		}
		for range rng.IntN(3) {
			want.QueueGroups = append(want.QueueGroups, pick("workers", "", "g2"))
		}
		b, err := proto.Marshal(&Envelope{Body: &Envelope_Event{Event: want}})
		require.NoError(t, err)
		ok, err := d.Decode(b, &got)
		require.NoError(t, err, "event %d", i)
		require.True(t, ok)
		require.True(t, proto.Equal(want, &got), "event %d: want %v, got %v", i, want, &got)
	}
}

func TestEventDecoderOtherMessagesAndErrors(t *testing.T) {
	var d EventDecoder
	var ev Event
	ack, err := proto.Marshal(&Envelope{Body: &Envelope_Ack{Ack: &Ack{Seq: 3}}})
	require.NoError(t, err)
	ok, err := d.Decode(ack, &ev)
	require.NoError(t, err)
	require.False(t, ok, "an ack is not an event")

	// An unknown field only: not an event; the caller decodes in full
	// and finds an unknown message.
	unknown := protowire.AppendTag(nil, 999, protowire.BytesType)
	unknown = protowire.AppendBytes(unknown, []byte("x"))
	ok, err = d.Decode(unknown, &ev)
	require.NoError(t, err)
	require.False(t, ok)

	// An event followed by an unknown field is an event.
	evb, err := proto.Marshal(&Envelope{Body: &Envelope_Event{Event: &Event{Topic: "a.b", Seq: 9}}})
	require.NoError(t, err)
	ok, err = d.Decode(append(bytes.Clone(evb), unknown...), &ev)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, uint64(9), ev.Seq)

	// Truncated and invalid bodies are malformed.
	for _, bad := range [][]byte{evb[:len(evb)-1], {0xff}, append(protowire.AppendTag(nil, 13, protowire.BytesType), 5, 0x0a, 0x03, 0xff, 0xfe, 0xfd)} {
		_, err := d.Decode(bad, &ev)
		require.True(t, errors.Is(err, ErrMalformedFrame), "%x: %v", bad, err)
	}
}

func TestReadRawFrame(t *testing.T) {
	var buf bytes.Buffer
	small := &Envelope{Body: &Envelope_Event{Event: &Event{Topic: "a.b", Data: []byte("x")}}}
	big := &Envelope{Body: &Envelope_Event{Event: &Event{Topic: "big", Data: bytes.Repeat([]byte{7}, 3*readBufferSize)}}}
	for _, env := range []*Envelope{small, big, small} {
		require.NoError(t, WriteFrame(&buf, env, 0))
	}
	fr := NewFrameReader(&buf, 0)
	for i, want := range []*Envelope{small, big, small} {
		b, err := fr.ReadRawFrame()
		require.NoError(t, err, i)
		var got Envelope
		require.NoError(t, proto.Unmarshal(b, &got))
		require.True(t, proto.Equal(want, &got), i)
	}
	_, err := fr.ReadRawFrame()
	require.ErrorIs(t, err, io.EOF)

	// Mixed with ReadFrame on one reader.
	buf.Reset()
	for _, env := range []*Envelope{small, small} {
		require.NoError(t, WriteFrame(&buf, env, 0))
	}
	fr = NewFrameReader(&buf, 0)
	_, err = fr.ReadRawFrame()
	require.NoError(t, err)
	var env Envelope
	require.NoError(t, fr.ReadFrame(&env))
	require.True(t, proto.Equal(small, &env))

	for name, tc := range map[string]struct {
		in   []byte
		want error
	}{
		"too large":         {protowire.AppendVarint(nil, 1025), ErrFrameTooLarge},
		"bad varint":        {bytes.Repeat([]byte{0xff}, 11), ErrMalformedFrame},
		"cut in the body":   {[]byte{5, 1, 2}, io.ErrUnexpectedEOF},
		"cut in the varint": {[]byte{0x80}, io.ErrUnexpectedEOF},
	} {
		fr := NewFrameReader(bytes.NewReader(tc.in), 1024)
		_, err := fr.ReadRawFrame()
		require.ErrorIs(t, err, tc.want, name)
		_, again := fr.ReadRawFrame()
		require.Equal(t, err, again, "%s: errors are sticky", name)
	}
}

// FuzzEventDecoder: whatever the bytes, the hand decoder never panics, and
// when it decodes an event, protobuf decodes the same event from them.
func FuzzEventDecoder(f *testing.F) {
	for _, ev := range []*Event{
		{Topic: "a.b", Data: []byte("x"), Seq: 1},
		{Topic: "s.k", ContentType: "application/json", Publisher: []byte{1, 2}, Signature: []byte{3}, PublisherKey: []byte{4}, QueueGroups: []string{"w"}, Qos: QoS_QOS_AT_LEAST_ONCE, TimeUnixNano: -5},
	} {
		b, err := proto.Marshal(&Envelope{Body: &Envelope_Event{Event: ev}})
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte{0x6a, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		var d EventDecoder
		var got Event
		ok, err := d.Decode(b, &got)
		if err != nil || !ok {
			return
		}
		var env Envelope
		require.NoError(t, proto.Unmarshal(b, &env), "protobuf refuses what the decoder took")
		// The decoder skips unknown fields; protobuf keeps them.
		env.GetEvent().ProtoReflect().SetUnknown(nil)
		require.True(t, proto.Equal(env.GetEvent(), &got), "want %v, got %v", env.GetEvent(), &got)
	})
}
