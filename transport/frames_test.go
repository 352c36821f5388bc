package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/protocol"
)

// echoHandler answers every frame with the same frame and records the error
// that ended the stream.
func echoHandler(errs chan<- error) StreamHandler {
	return func(_ context.Context, s *Stream) {
		var env protocol.Envelope
		for {
			if err := s.ReadFrame(&env); err != nil {
				if !errors.Is(err, io.EOF) {
					errs <- err
				}
				return
			}
			if err := s.WriteFrame(&env); err != nil {
				errs <- err
				return
			}
		}
	}
}

func ping(nonce uint64) *protocol.Envelope {
	return &protocol.Envelope{Body: &protocol.Envelope_Ping{Ping: &protocol.Ping{Nonce: nonce}}}
}

// roundTrip sends one frame on a new stream and checks the echo.
func roundTrip(t *testing.T, from *Transport, to *Transport) {
	t.Helper()
	s, err := from.OpenStream(context.Background(), to.ID(), protocol.StreamRPC)
	require.NoError(t, err)
	require.NoError(t, s.WriteFrame(ping(7)))
	var env protocol.Envelope
	require.NoError(t, s.ReadFrame(&env))
	require.Equal(t, uint64(7), env.GetPing().GetNonce())
	require.NoError(t, s.CloseWrite())
}

// readCode reads from s until it fails and returns the stream error code.
func readCode(t *testing.T, s *Stream) protocol.ErrorCode {
	t.Helper()
	_ = s.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	for {
		_, err := s.Read(buf)
		if err != nil {
			code, ok := StreamCode(err)
			require.True(t, ok, "stream ended without a code: %v", err)
			return code
		}
	}
}

func TestBadFramesCloseOnlyTheirStream(t *testing.T) {
	onBoth(t, func(t *testing.T, nw network) {
		conns := nw.conns(2)
		errs := make(chan error, 8)
		violations := make(chan ViolationEvent, 8)
		a := newNode(t, conns[0], func(c *Config) { c.MaxFrameSize = 1024 })
		b := newNode(t, conns[1], func(c *Config) {
			c.MaxFrameSize = 1024
			c.OnViolation = func(ev ViolationEvent) { violations <- ev }
		})
		b.Handle(protocol.StreamRPC, echoHandler(errs))
		dial(t, a, b)
		roundTrip(t, a, b)

		cases := []struct {
			name    string
			payload []byte
			code    protocol.ErrorCode
			err     error
		}{
			{"garbage", []byte{0x05, 0xff, 0xff, 0xff, 0xff, 0xff}, protocol.CodeOf(protocol.ErrMalformedFrame), protocol.ErrMalformedFrame},
			{"oversized", binary.AppendUvarint(nil, 1025), protocol.CodeFrameTooLarge, protocol.ErrFrameTooLarge},
			{"no body", []byte{0x00}, protocol.CodeOf(protocol.ErrUnknownMessage), protocol.ErrUnknownMessage},
		}
		for _, tc := range cases {
			s, err := a.OpenStream(context.Background(), b.ID(), protocol.StreamRPC)
			require.NoError(t, err)
			_, err = s.Write(tc.payload)
			require.NoError(t, err)
			require.Equal(t, tc.code, readCode(t, s), tc.name)
			require.ErrorIs(t, <-errs, tc.err, tc.name)
			// It is reported, naming the peer.
			ev := <-violations
			require.ErrorIs(t, ev.Err, tc.err, tc.name)
			require.Equal(t, a.ID(), ev.Peer)
			require.Equal(t, uint64(1), ev.Count)
			// The connection and the node keep working.
			roundTrip(t, a, b)
			_, err = a.Ping(context.Background(), b.ID())
			require.NoError(t, err, tc.name)
		}

		// A frame over the limit is refused before anything is sent.
		s, err := a.OpenStream(context.Background(), b.ID(), protocol.StreamRPC)
		require.NoError(t, err)
		big := &protocol.Envelope{Body: &protocol.Envelope_Error{Error: &protocol.Error{Message: string(make([]byte, 2048))}}}
		require.ErrorIs(t, s.WriteFrame(big), protocol.ErrFrameTooLarge)
		s.Abort(protocol.CodeCancelled)
	})
}

func TestUnknownStreamTypeRefused(t *testing.T) {
	onBoth(t, func(t *testing.T, nw network) {
		conns := nw.conns(2)
		violations := make(chan ViolationEvent, 1)
		a := newNode(t, conns[0])
		b := newNode(t, conns[1], func(c *Config) { c.OnViolation = func(ev ViolationEvent) { violations <- ev } })
		errs := make(chan error, 1)
		b.Handle(protocol.StreamRPC, echoHandler(errs))
		dial(t, a, b)
		s, err := a.OpenStream(context.Background(), b.ID(), protocol.StreamType(99))
		require.NoError(t, err)
		require.Equal(t, protocol.CodeUnknownStreamType, readCode(t, s))
		ev := <-violations
		require.ErrorIs(t, ev.Err, ErrUnknownStreamType)
		require.Equal(t, a.ID(), ev.Peer)
		roundTrip(t, a, b)
	})
}

func TestBadControlFrameClosesOnlyThatConnection(t *testing.T) {
	onBoth(t, func(t *testing.T, nw network) {
		conns := nw.conns(3)
		a, b, c := newNode(t, conns[0]), newNode(t, conns[1]), newNode(t, conns[2])
		dial(t, a, b)
		dial(t, c, b)
		eventually(t, 2*time.Second, func() bool { return len(b.Peers()) == 2 }, "b sees a and c")

		// a's control stream to b carries garbage.
		pc := a.peers.get(b.ID())
		require.NotNil(t, pc)
		pc.writeMu.Lock()
		_, err := pc.ctrl.Write([]byte{0x03, 0xff, 0xff, 0xff})
		pc.writeMu.Unlock()
		require.NoError(t, err)

		<-pc.conn.Context().Done()
		code, ok := StreamCode(context.Cause(pc.conn.Context()))
		require.True(t, ok)
		require.Equal(t, protocol.CodeOf(protocol.ErrMalformedFrame), code)
		eventually(t, 2*time.Second, func() bool { _, ok := b.Peer(a.ID()); return !ok }, "b drops a")

		// b still serves c, and a can come back.
		_, err = c.Ping(context.Background(), b.ID())
		require.NoError(t, err)
		dial(t, a, b)
		_, err = a.Ping(context.Background(), b.ID())
		require.NoError(t, err)
	})
}
