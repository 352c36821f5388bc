package protocol

import (
	"bytes"
	"io"
	"testing"

	"google.golang.org/protobuf/proto"
)

// benchEvent returns an Envelope carrying a typical Event that encodes to
// 128 bytes.
func benchEvent(b *testing.B) *Envelope {
	ev := &Event{
		Topic:        "bench.events.created",
		ContentType:  "application/json",
		Publisher:    sampleNodeID,
		Seq:          1,
		TimeUnixNano: 1_700_000_000_000_000_000,
	}
	env := &Envelope{Body: &Envelope_Event{Event: ev}}
	for n := 0; proto.Size(env) < 128; n++ {
		ev.Data = bytes.Repeat([]byte{'x'}, n)
	}
	if proto.Size(env) != 128 {
		b.Fatalf("event is %d bytes", proto.Size(env))
	}
	return env
}

func BenchmarkWriteFrame(b *testing.B) {
	env := benchEvent(b)
	b.SetBytes(int64(proto.Size(env)))
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteFrame(io.Discard, env, DefaultMaxFrameSize); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadFrame(b *testing.B) {
	env := benchEvent(b)
	const batch = 1024
	var stream []byte
	for range batch {
		stream, _ = AppendFrame(stream, env, DefaultMaxFrameSize)
	}
	r := bytes.NewReader(stream)
	fr := NewFrameReader(r, DefaultMaxFrameSize)
	var got Envelope
	b.SetBytes(int64(proto.Size(env)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if n == batch {
			r.Reset(stream)
			fr = NewFrameReader(r, DefaultMaxFrameSize)
			n = 0
		}
		if err := fr.ReadFrame(&got); err != nil {
			b.Fatal(err)
		}
		n++
	}
}
