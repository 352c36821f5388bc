package protocol

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"sort"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// sortedSamples returns the sample names in a fixed order.
func sortedSamples() ([]string, map[string]*Envelope) {
	samples := sampleEnvelopes()
	names := make([]string, 0, len(samples))
	for name := range samples {
		names = append(names, name)
	}
	sort.Strings(names)
	return names, samples
}

// readAll reads frames until an error and returns them with that error.
func readAll(r io.Reader, maxSize int) ([]*Envelope, error) {
	fr := NewFrameReader(r, maxSize)
	var out []*Envelope
	for {
		env := new(Envelope)
		if err := fr.ReadFrame(env); err != nil {
			return out, err
		}
		out = append(out, env)
	}
}

func TestRoundTripEveryMessage(t *testing.T) {
	names, samples := sortedSamples()
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, WriteFrame(&buf, samples[name], DefaultMaxFrameSize))
			got, err := readAll(&buf, DefaultMaxFrameSize)
			require.ErrorIs(t, err, io.EOF)
			require.Len(t, got, 1)
			requireProtoEqual(t, samples[name], got[0])
		})
	}
}

func TestRoundTripBackToBack(t *testing.T) {
	names, samples := sortedSamples()
	var want []*Envelope
	var stream bytes.Buffer
	for range 3 {
		for _, name := range names {
			require.NoError(t, WriteFrame(&stream, samples[name], DefaultMaxFrameSize))
			want = append(want, samples[name])
		}
	}
	// A large frame (decoded outside the read buffer) between small ones.
	big := &Envelope{Body: &Envelope_Event{Event: &Event{Topic: "big", Data: bytes.Repeat([]byte{7}, 3*readBufferSize)}}}
	require.NoError(t, WriteFrame(&stream, big, DefaultMaxFrameSize))
	require.NoError(t, WriteFrame(&stream, samples["ping"], DefaultMaxFrameSize))
	want = append(want, big, samples["ping"])
	data := stream.Bytes()

	readers := []struct {
		name string
		r    func() io.Reader
	}{
		{"whole", func() io.Reader { return bytes.NewReader(data) }},
		{"one byte at a time", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data)) }},
		{"half reads", func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) }},
		{"EOF with data", func() io.Reader { return iotest.DataErrReader(bytes.NewReader(data)) }},
	}
	for _, rr := range readers {
		t.Run(rr.name, func(t *testing.T) {
			got, err := readAll(rr.r(), DefaultMaxFrameSize)
			require.ErrorIs(t, err, io.EOF)
			require.Len(t, got, len(want))
			for i := range want {
				requireProtoEqual(t, want[i], got[i])
			}
		})
	}
}

func TestAppendFrameBatches(t *testing.T) {
	names, samples := sortedSamples()
	var batch, single bytes.Buffer
	var b []byte
	for _, name := range names {
		var err error
		b, err = AppendFrame(b, samples[name], DefaultMaxFrameSize)
		require.NoError(t, err)
		require.NoError(t, WriteFrame(&single, samples[name], DefaultMaxFrameSize))
	}
	batch.Write(b)
	require.Equal(t, single.Bytes(), batch.Bytes(), "a batch is the frames back to back")

	got, err := readAll(&batch, DefaultMaxFrameSize)
	require.ErrorIs(t, err, io.EOF)
	require.Len(t, got, len(names))
}

func TestFrameIsProtodelim(t *testing.T) {
	env := sampleEnvelopes()["event"]
	frame := encodeFrame(t, env)
	n, k := protowire.ConsumeVarint(frame)
	require.Positive(t, k)
	require.EqualValues(t, len(frame)-k, n)
	want, err := proto.Marshal(env)
	require.NoError(t, err)
	require.Equal(t, want, frame[k:])
}

// writeRecorder records each Write call.
type writeRecorder struct{ writes [][]byte }

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

func TestWriteFrameSingleWrite(t *testing.T) {
	names, samples := sortedSamples()
	for _, name := range names {
		var w writeRecorder
		require.NoError(t, WriteFrame(&w, samples[name], DefaultMaxFrameSize))
		require.Len(t, w.writes, 1, name)
		require.Equal(t, encodeFrame(t, samples[name]), w.writes[0], name)
	}
}

func TestWriteFrameWriterError(t *testing.T) {
	boom := errors.New("boom")
	err := WriteFrame(failWriter{boom}, sampleEnvelopes()["ping"], DefaultMaxFrameSize)
	require.ErrorIs(t, err, boom)
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestWriteFrameRefusesBodyless(t *testing.T) {
	for name, env := range map[string]*Envelope{"empty": {}, "nil": nil} {
		t.Run(name, func(t *testing.T) {
			var w writeRecorder
			require.ErrorIs(t, WriteFrame(&w, env, DefaultMaxFrameSize), ErrUnknownMessage)
			require.Empty(t, w.writes)
			b, err := AppendFrame([]byte("x"), env, DefaultMaxFrameSize)
			require.ErrorIs(t, err, ErrUnknownMessage)
			require.Equal(t, []byte("x"), b)
		})
	}
}

func TestWriteFrameEncodeError(t *testing.T) {
	// proto3 strings must be valid UTF-8.
	env := &Envelope{Body: &Envelope_Event{Event: &Event{Topic: "\xff"}}}
	var w writeRecorder
	require.Error(t, WriteFrame(&w, env, DefaultMaxFrameSize))
	require.Empty(t, w.writes)
	b, err := AppendFrame([]byte("x"), env, DefaultMaxFrameSize)
	require.Error(t, err)
	require.Equal(t, []byte("x"), b)
}

// sizedEnvelope returns an Envelope whose encoding is exactly size bytes.
func sizedEnvelope(t testing.TB, size int) *Envelope {
	t.Helper()
	for pad := range 4 {
		for n := max(size-16, 0); n <= size; n++ {
			env := &Envelope{Body: &Envelope_Event{Event: &Event{
				Data:        make([]byte, n),
				ContentType: string(make([]byte, pad)),
			}}}
			if proto.Size(env) == size {
				return env
			}
		}
	}
	t.Fatalf("no envelope of %d bytes", size)
	return nil
}

func TestFrameSizeBoundary(t *testing.T) {
	tests := []struct {
		name    string
		maxSize int // passed to the functions
		limit   int // in effect
	}{
		{"small", 100, 100},
		{"read buffer", readBufferSize, readBufferSize},
		{"past read buffer", 2 * readBufferSize, 2 * readBufferSize},
		{"zero means default", 0, DefaultMaxFrameSize},
		{"negative means default", -1, DefaultMaxFrameSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			atMax := sizedEnvelope(t, tt.limit)
			overMax := sizedEnvelope(t, tt.limit+1)

			t.Run("write at max", func(t *testing.T) {
				var w writeRecorder
				require.NoError(t, WriteFrame(&w, atMax, tt.maxSize))
				require.Len(t, w.writes, 1)
				_, err := AppendFrame(nil, atMax, tt.maxSize)
				require.NoError(t, err)
			})
			t.Run("write over max", func(t *testing.T) {
				var w writeRecorder
				require.ErrorIs(t, WriteFrame(&w, overMax, tt.maxSize), ErrFrameTooLarge)
				require.Empty(t, w.writes)
				b, err := AppendFrame([]byte("x"), overMax, tt.maxSize)
				require.ErrorIs(t, err, ErrFrameTooLarge)
				require.Equal(t, []byte("x"), b)
			})

			// Frames encoded without a limit, read with one.
			atFrame, err := AppendFrame(nil, atMax, tt.limit+1)
			require.NoError(t, err)
			overFrame, err := AppendFrame(nil, overMax, tt.limit+1)
			require.NoError(t, err)

			t.Run("read at max", func(t *testing.T) {
				fr := NewFrameReader(bytes.NewReader(atFrame), tt.maxSize)
				var env Envelope
				require.NoError(t, fr.ReadFrame(&env))
				requireProtoEqual(t, atMax, &env)
				require.ErrorIs(t, fr.ReadFrame(&env), io.EOF)
			})
			t.Run("read over max", func(t *testing.T) {
				fr := NewFrameReader(bytes.NewReader(overFrame), tt.maxSize)
				var env Envelope
				require.ErrorIs(t, fr.ReadFrame(&env), ErrFrameTooLarge)
				require.Nil(t, env.GetBody())
			})
		})
	}
}

func TestReadFrameTruncated(t *testing.T) {
	names, samples := sortedSamples()
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			frame := encodeFrame(t, samples[name])
			for n := 1; n < len(frame); n++ {
				var env Envelope
				err := NewFrameReader(bytes.NewReader(frame[:n]), DefaultMaxFrameSize).ReadFrame(&env)
				require.ErrorIs(t, err, io.ErrUnexpectedEOF, "cut after %d of %d bytes", n, len(frame))
				require.Nil(t, env.GetBody())
			}
		})
	}
	t.Run("after a whole frame", func(t *testing.T) {
		frame := encodeFrame(t, samples["ping"])
		data := append(bytes.Clone(frame), frame[:len(frame)-1]...)
		got, err := readAll(bytes.NewReader(data), DefaultMaxFrameSize)
		require.Len(t, got, 1)
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	})
	t.Run("in a multi-byte length", func(t *testing.T) {
		frame := encodeFrame(t, sizedEnvelope(t, 300))
		require.GreaterOrEqual(t, frame[0], byte(0x80))
		err := NewFrameReader(bytes.NewReader(frame[:1]), DefaultMaxFrameSize).ReadFrame(new(Envelope))
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	})
}

func TestReadFrameEmptyStream(t *testing.T) {
	err := NewFrameReader(bytes.NewReader(nil), DefaultMaxFrameSize).ReadFrame(new(Envelope))
	require.Equal(t, io.EOF, err, "a clean end is exactly io.EOF")
}

// frameOf returns a frame with the given raw body.
func frameOf(body ...byte) []byte {
	return append(protowire.AppendVarint(nil, uint64(len(body))), body...)
}

func TestReadFrameErrors(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"varint overflow", bytes.Repeat([]byte{0xff}, 11), ErrMalformedFrame},
		{"varint too big in last byte", append(bytes.Repeat([]byte{0xff}, 9), 0x02), ErrMalformedFrame},
		{"huge length", protowire.AppendVarint(nil, 1<<62), ErrFrameTooLarge},
		{"max uint64 length", protowire.AppendVarint(nil, ^uint64(0)), ErrFrameTooLarge},
		{"length just over the limit", protowire.AppendVarint(nil, DefaultMaxFrameSize+1), ErrFrameTooLarge},
		{"garbage body", frameOf(0xff, 0xff, 0xff, 0xff), ErrMalformedFrame},
		{"field number zero", frameOf(0x00, 0x00), ErrMalformedFrame},
		{"stray end group", frameOf(0x0c), ErrMalformedFrame},
		{"body length past frame", frameOf(0x0a, 0x05, 0x08), ErrMalformedFrame},
		{"invalid utf-8", frameOf(0x0a, 0x03, 0x22, 0x01, 0xff), ErrMalformedFrame},
		{"empty envelope", frameOf(), ErrUnknownMessage},
		{"only an unknown field", frameOf(0xc0, 0x02, 0x01), ErrUnknownMessage}, // field 40, varint 1
		{"unknown body message", frameOf(0xc2, 0x02, 0x00), ErrUnknownMessage},  // field 40, empty message
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var env Envelope
			err := NewFrameReader(bytes.NewReader(tt.data), DefaultMaxFrameSize).ReadFrame(&env)
			require.ErrorIs(t, err, tt.want)
			require.Nil(t, env.GetBody())
		})
	}
}

func TestReadFrameUnknownMessageIsSkippable(t *testing.T) {
	ping := encodeFrame(t, sampleEnvelopes()["ping"])
	data := append(frameOf(0xc2, 0x02, 0x00), ping...)
	fr := NewFrameReader(bytes.NewReader(data), DefaultMaxFrameSize)
	var env Envelope
	err := fr.ReadFrame(&env)
	require.ErrorIs(t, err, ErrUnknownMessage)
	require.ErrorContains(t, err, "field 40")
	require.Equal(t, CodeUnknownMessage, CodeOf(err))
	require.NoError(t, fr.ReadFrame(&env))
	requireProtoEqual(t, sampleEnvelopes()["ping"], &env)
	require.ErrorIs(t, fr.ReadFrame(&env), io.EOF)
}

func TestReadFrameErrorsAreSticky(t *testing.T) {
	ping := encodeFrame(t, sampleEnvelopes()["ping"])
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"malformed", append(frameOf(0xff, 0xff), ping...), ErrMalformedFrame},
		{"too large", append(protowire.AppendVarint(nil, 1<<30), ping...), ErrFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := NewFrameReader(bytes.NewReader(tt.data), DefaultMaxFrameSize)
			first := fr.ReadFrame(new(Envelope))
			require.ErrorIs(t, first, tt.want)
			var env Envelope
			require.Equal(t, first, fr.ReadFrame(&env), "later reads repeat the error")
			require.Nil(t, env.GetBody())
		})
	}
}

func TestReadFrameReaderError(t *testing.T) {
	boom := errors.New("boom")
	t.Run("before a frame", func(t *testing.T) {
		err := NewFrameReader(iotest.ErrReader(boom), DefaultMaxFrameSize).ReadFrame(new(Envelope))
		require.ErrorIs(t, err, boom)
		require.NotErrorIs(t, err, ErrMalformedFrame)
	})
	t.Run("inside a frame", func(t *testing.T) {
		frame := encodeFrame(t, sampleEnvelopes()["hello"])
		r := io.MultiReader(bytes.NewReader(frame[:5]), iotest.ErrReader(boom))
		err := NewFrameReader(r, DefaultMaxFrameSize).ReadFrame(new(Envelope))
		require.ErrorIs(t, err, boom)
		require.NotErrorIs(t, err, ErrMalformedFrame)
	})
}

func TestReadFrameTooLargeDoesNotAllocateBody(t *testing.T) {
	const limit = 64 << 20
	data := protowire.AppendVarint(nil, limit+1) // no body follows
	fr := NewFrameReader(bytes.NewReader(data), limit)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := fr.ReadFrame(new(Envelope))
	runtime.ReadMemStats(&after)
	require.ErrorIs(t, err, ErrFrameTooLarge, "refused before trying to read the body")
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20))
}

func TestReadFrameDoesNotAliasBuffer(t *testing.T) {
	first := &Envelope{Body: &Envelope_Event{Event: &Event{Topic: "a.b", Data: []byte("first")}}}
	second := &Envelope{Body: &Envelope_Event{Event: &Event{Topic: "c.d", Data: []byte("other")}}}
	data := append(encodeFrame(t, first), encodeFrame(t, second)...)
	// Refill the read buffer with the second frame in place of the first.
	r := iotest.OneByteReader(bytes.NewReader(data))
	fr := NewFrameReader(r, DefaultMaxFrameSize)
	var a, b Envelope
	require.NoError(t, fr.ReadFrame(&a))
	require.NoError(t, fr.ReadFrame(&b))
	requireProtoEqual(t, first, &a)
	requireProtoEqual(t, second, &b)
}

func TestReadFrameReusesEnvelope(t *testing.T) {
	names, samples := sortedSamples()
	var stream bytes.Buffer
	for _, name := range names {
		require.NoError(t, WriteFrame(&stream, samples[name], DefaultMaxFrameSize))
	}
	fr := NewFrameReader(&stream, DefaultMaxFrameSize)
	var env Envelope
	for _, name := range names {
		require.NoError(t, fr.ReadFrame(&env))
		requireProtoEqual(t, samples[name], &env) // nothing left over from the previous frame
	}
}
