package protocol

import (
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

// envelopeGen draws Envelopes of a few shapes with arbitrary field values.
func envelopeGen() *rapid.Generator[*Envelope] {
	bytesGen := rapid.SliceOfN(rapid.Byte(), 0, 600)
	return rapid.OneOf(
		rapid.Custom(func(t *rapid.T) *Envelope {
			return &Envelope{Body: &Envelope_Event{Event: &Event{
				Topic:        rapid.String().Draw(t, "topic"),
				Data:         bytesGen.Draw(t, "data"),
				Publisher:    bytesGen.Draw(t, "publisher"),
				Seq:          rapid.Uint64().Draw(t, "seq"),
				TimeUnixNano: rapid.Int64().Draw(t, "time"),
				Qos:          QoS(rapid.Int32Range(0, 3).Draw(t, "qos")),
			}}}
		}),
		rapid.Custom(func(t *rapid.T) *Envelope {
			return &Envelope{Body: &Envelope_RpcCall{RpcCall: &RpcCall{
				CallId:     rapid.Uint64().Draw(t, "call"),
				Procedure:  rapid.String().Draw(t, "procedure"),
				Args:       bytesGen.Draw(t, "args"),
				Idempotent: rapid.Bool().Draw(t, "idempotent"),
			}}}
		}),
		rapid.Custom(func(t *rapid.T) *Envelope {
			return &Envelope{Body: &Envelope_Close{Close: &Close{
				Code:   ErrorCode(rapid.Int32Range(-1, 40).Draw(t, "code")),
				Reason: rapid.String().Draw(t, "reason"),
			}}}
		}),
		rapid.Custom(func(t *rapid.T) *Envelope {
			return &Envelope{Body: &Envelope_Ping{Ping: &Ping{Nonce: rapid.Uint64().Draw(t, "nonce")}}}
		}),
	)
}

// TestFrameProperties: a frame is written and read back exactly when its
// encoded Envelope fits the limit, whatever the messages around it.
func TestFrameProperties(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		envs := rapid.SliceOfN(envelopeGen(), 1, 8).Draw(rt, "envelopes")
		maxSize := rapid.IntRange(1, 1500).Draw(rt, "maxSize")

		var stream bytes.Buffer
		var fits []*Envelope
		for _, env := range envs {
			err := WriteFrame(&stream, env, maxSize)
			if proto.Size(env) > maxSize {
				require.ErrorIs(rt, err, ErrFrameTooLarge)
				continue
			}
			require.NoError(rt, err)
			fits = append(fits, env)
		}

		got, err := readAll(&stream, maxSize)
		require.ErrorIs(rt, err, io.EOF)
		require.Len(rt, got, len(fits))
		for i := range fits {
			requireProtoEqual(rt, fits[i], got[i])
		}
	})
}
