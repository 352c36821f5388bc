package protocol

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
)

// fuzzMaxFrameSize keeps the fuzzer's allocations small.
const fuzzMaxFrameSize = 64 << 10

func FuzzReadFrame(f *testing.F) {
	names, samples := sortedSamples()
	var all []byte
	for _, name := range names {
		frame := encodeFrame(f, samples[name])
		f.Add(frame)
		all = append(all, frame...)
	}
	f.Add(all)
	f.Add([]byte{})
	f.Add(frameOf())
	f.Add(frameOf(0xc2, 0x02, 0x00))
	f.Add(protowire.AppendVarint(nil, fuzzMaxFrameSize+1))
	f.Add(bytes.Repeat([]byte{0xff}, 11))

	f.Fuzz(func(t *testing.T, data []byte) {
		fr := NewFrameReader(bytes.NewReader(data), fuzzMaxFrameSize)
		var env Envelope
		for {
			err := fr.ReadFrame(&env)
			if errors.Is(err, ErrUnknownMessage) {
				continue
			}
			if err != nil {
				// bytes.Reader fails only with io.EOF, so every error is one
				// of ours.
				ok := err == io.EOF || err == io.ErrUnexpectedEOF ||
					errors.Is(err, ErrFrameTooLarge) || errors.Is(err, ErrMalformedFrame)
				require.True(t, ok, "unexpected error %v", err)
				return
			}
			require.NotNil(t, env.GetBody())

			// What was read re-encodes and reads back equal.
			frame, err := AppendFrame(nil, &env, 0)
			require.NoError(t, err)
			var back Envelope
			require.NoError(t, NewFrameReader(bytes.NewReader(frame), 0).ReadFrame(&back))
			requireProtoEqual(t, &env, &back)
		}
	})
}
