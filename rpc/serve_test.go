package rpc

import (
	"context"
	"errors"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/internal/codec"
	"github.com/org/macula/protocol"
	"github.com/org/macula/topic"
	"github.com/org/macula/transport"
)

func TestBadInputFromTheAPI(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t, 2, meshConfig{service: func(_ int, cfg *Config) { cfg.MaxFrameSize = 64 << 10 }})
		m.register(0, "data.echo", func(_ context.Context, inv *Invocation) (any, error) { return inv.Args, nil })
		svc := m.nodes[1].svc
		ctx := context.Background()

		// Oversized arguments are refused before anything is sent.
		require.Equal(t, 64<<10-FrameOverhead, svc.MaxPayload())
		rep, err := svc.Call(ctx, "data.echo", make([]byte, svc.MaxPayload()))
		require.NoError(t, err, "the maximum fits")
		require.Len(t, rep.Data, svc.MaxPayload())
		received := m.nodes[0].svc.Stats().Received
		_, err = svc.Call(ctx, "data.echo", make([]byte, svc.MaxPayload()+1))
		require.ErrorIs(t, err, ErrMessageTooLarge)
		require.ErrorIs(t, svc.Cast(ctx, "data.echo", make([]byte, svc.MaxPayload()+1)), ErrMessageTooLarge)
		_, err = svc.CallTo(ctx, m.nodes[0].ID(), "data.echo", make([]byte, svc.MaxPayload()+1))
		require.ErrorIs(t, err, ErrMessageTooLarge)
		require.Equal(t, received, m.nodes[0].svc.Stats().Received, "nothing was sent")

		// Arguments that cannot be encoded.
		_, err = svc.Call(ctx, "data.echo", make(chan int))
		require.ErrorIs(t, err, codec.ErrEncode)

		// Invalid procedure names.
		for _, name := range []string{"", "a..b", "a.*", "a.#", "a b", ".a", "a."} {
			_, err := svc.Call(ctx, name, nil)
			require.ErrorIs(t, err, ErrInvalidProcedure, "%q", name)
			require.ErrorIs(t, err, topic.ErrInvalidTopic, "%q", name)
			require.ErrorIs(t, svc.Cast(ctx, name, nil), ErrInvalidProcedure, "%q", name)
			_, err = svc.CallTo(ctx, m.nodes[0].ID(), name, nil)
			require.ErrorIs(t, err, ErrInvalidProcedure, "%q", name)
			_, err = svc.Register(ctx, name, addHandler)
			require.ErrorIs(t, err, topic.ErrInvalidTopic, "%q", name)
		}

		// Reserved names, nil handlers, invalid options.
		for _, name := range []string{HealthProcedure, "_mesh.thing", "_x"} {
			_, err := svc.Register(ctx, name, addHandler)
			require.ErrorIs(t, err, ErrReservedProcedure, "%q", name)
		}
		_, err = svc.Register(ctx, "a.b", nil)
		require.ErrorIs(t, err, ErrInvalidHandler)
		_, err = svc.Register(ctx, "a.b", addHandler, WithMaxConcurrent(0))
		require.ErrorIs(t, err, ErrInvalidOption)
		for _, opt := range []CallOption{WithPolicy(Policy(9)), WithMaxAttempts(0)} {
			_, err = svc.Call(ctx, "data.echo", nil, opt)
			require.ErrorIs(t, err, ErrInvalidOption)
		}
		require.False(t, svc.hasLocal("a.b"), "nothing was registered")

		// The provider still serves.
		rep, err = svc.Call(ctx, "data.echo", []byte("still here"))
		require.NoError(t, err)
		require.Equal(t, "still here", string(rep.Data))
	})
}

// rawStream opens an RPC stream from node from to node to.
func rawStream(t *testing.T, m *testMesh, from, to int) *transport.Stream {
	t.Helper()
	ctx := context.Background()
	_, err := m.nodes[from].tr.Connect(ctx, m.nodes[to].ID(), []string{m.nodes[to].addr})
	require.NoError(t, err)
	st, err := m.nodes[from].tr.OpenStream(ctx, m.nodes[to].ID(), protocol.StreamRPC)
	require.NoError(t, err)
	return st
}

// exchange writes frames on a new stream and returns the first frame read
// back, or the read error.
func exchange(t *testing.T, m *testMesh, frames ...*protocol.Envelope) (*protocol.Envelope, error) {
	t.Helper()
	st := rawStream(t, m, 1, 0)
	defer st.Close()
	for _, f := range frames {
		require.NoError(t, st.WriteFrame(f))
	}
	var env protocol.Envelope
	if err := st.ReadFrame(&env); err != nil {
		return nil, err
	}
	return &env, nil
}

func callFrame(c *protocol.RpcCall) *protocol.Envelope {
	return &protocol.Envelope{Body: &protocol.Envelope_RpcCall{RpcCall: c}}
}

func TestBadInputOnTheWire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t, 2, meshConfig{service: func(_ int, cfg *Config) { cfg.MaxFrameSize = 64 << 10 }})
		started := make(chan struct{}, 1)
		handlerErr := make(chan error, 1)
		m.register(0, "math.add", addHandler)
		m.register(0, "work.wait", func(ctx context.Context, _ *Invocation) (any, error) {
			started <- struct{}{}
			<-ctx.Done()
			handlerErr <- ctx.Err()
			return nil, ctx.Err()
		})
		provider := m.nodes[0].svc
		wantError := func(env *protocol.Envelope, err error, id uint64, code protocol.ErrorCode) {
			t.Helper()
			require.NoError(t, err)
			require.NotNil(t, env.GetRpcError(), "got %v", env)
			require.Equal(t, id, env.GetRpcError().GetCallId())
			require.Equal(t, code, env.GetRpcError().GetCode())
		}

		// Bytes that are no frame: the transport resets the stream.
		for _, junk := range [][]byte{
			{0xff, 0xff, 0xff, 0xff, 0x0f}, // a length over the maximum
			{0x03, 0xff, 0xff, 0xff},       // a body that is not protobuf
			{0x02, 0xfa, 0x01},             // an Envelope with an unknown field only
			{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, // a varint too long
		} {
			st := rawStream(t, m, 1, 0)
			_, err := st.Write(junk)
			require.NoError(t, err)
			var env protocol.Envelope
			err = st.ReadFrame(&env)
			require.Error(t, err, "junk %x", junk)
			_, coded := transport.StreamCode(err)
			require.True(t, coded || errors.Is(err, io.EOF), "junk %x: %v", junk, err)
			_ = st.Close()
		}

		// Frames of the wrong kind or with bad fields get an RpcError.
		env, err := exchange(t, m, &protocol.Envelope{Body: &protocol.Envelope_RpcResult{RpcResult: &protocol.RpcResult{CallId: 7}}})
		wantError(env, err, 0, protocol.CodeProtocol)
		env, err = exchange(t, m, callFrame(&protocol.RpcCall{CallId: 1, Procedure: "bad..name"}))
		wantError(env, err, 1, protocol.CodeInvalidArgument)
		env, err = exchange(t, m, callFrame(&protocol.RpcCall{CallId: 2, Procedure: "no.such"}))
		wantError(env, err, 2, protocol.CodeNoProvider)
		env, err = exchange(t, m, callFrame(&protocol.RpcCall{CallId: 3, Procedure: "_peer.secret"}))
		wantError(env, err, 3, protocol.CodeNoProvider)
		env, err = exchange(t, m, callFrame(&protocol.RpcCall{CallId: 4, Procedure: "math.add", Args: make([]byte, provider.MaxPayload()+1)}))
		wantError(env, err, 4, protocol.CodeFrameTooLarge)
		env, err = exchange(t, m, callFrame(&protocol.RpcCall{CallId: 5, Procedure: "math.add", DeadlineUnixNano: time.Now().Add(-time.Second).UnixNano()}))
		wantError(env, err, 5, protocol.CodeTimeout)

		// Bad arguments reach the handler, which says so.
		st := rawStream(t, m, 1, 0)
		require.NoError(t, st.WriteFrame(callFrame(&protocol.RpcCall{CallId: 6, Procedure: "math.add", Args: []byte("{"), ContentType: codec.JSON})))
		var got protocol.Envelope
		require.NoError(t, st.ReadFrame(&got))
		require.Equal(t, uint64(6), got.GetRpcAccept().GetCallId())
		got.Reset()
		require.NoError(t, st.ReadFrame(&got))
		wantError(&got, nil, 6, protocol.CodeInvalidArgument)
		_ = st.Close()

		// A caller that sends nothing is dropped after AcceptTimeout.
		st = rawStream(t, m, 1, 0)
		start := time.Now()
		err = st.ReadFrame(&got)
		require.Error(t, err)
		require.Equal(t, oneWay+DefaultAcceptTimeout+oneWay, time.Since(start), "the type byte arrives, the provider waits, its reset comes back")
		_ = st.Close()

		// A frame after the call, while the handler runs, breaks the
		// protocol: the handler is cancelled and the stream reset.
		st = rawStream(t, m, 1, 0)
		require.NoError(t, st.WriteFrame(callFrame(&protocol.RpcCall{CallId: 8, Procedure: "work.wait"})))
		got.Reset()
		require.NoError(t, st.ReadFrame(&got))
		require.NotNil(t, got.GetRpcAccept())
		<-started
		require.NoError(t, st.WriteFrame(callFrame(&protocol.RpcCall{CallId: 9, Procedure: "work.wait"})))
		require.ErrorIs(t, <-handlerErr, context.Canceled)
		err = st.ReadFrame(&got)
		code, ok := transport.StreamCode(err)
		require.True(t, ok, "%v", err)
		require.Equal(t, protocol.CodeProtocol, code)
		_ = st.Close()

		synctest.Wait()
		stats := provider.Stats()
		require.Equal(t, uint64(4+6+1), stats.Refused, "junk, bad frames and the silent caller")
		require.Zero(t, stats.Panics)

		// The node keeps serving.
		rep, err := m.nodes[1].svc.Call(context.Background(), "math.add", [2]int{20, 22})
		require.NoError(t, err)
		var sum int
		require.NoError(t, rep.Decode(&sum))
		require.Equal(t, 42, sum)
	})
}
