package rpc

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
	"github.com/org/macula/transport"
)

func TestSignedResultsNameTheirSigner(t *testing.T) {
	for _, signed := range []bool{true, false} {
		name := map[bool]string{true: "signed", false: "unsigned"}[signed]
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := newMesh(t, 2, meshConfig{sign: signed})
				m.register(0, "svc.add", addHandler)
				m.register(1, "svc.add", addHandler)
				ctx := context.Background()
				for _, caller := range []int{0, 1} {
					rep, err := m.nodes[caller].svc.CallTo(ctx, m.nodes[1].ID(), "svc.add", []int{2, 3})
					require.NoError(t, err)
					var sum int
					require.NoError(t, rep.Decode(&sum))
					require.Equal(t, 5, sum)
					want := security.NodeID{}
					if signed {
						want = m.nodes[1].ID()
					}
					require.Equal(t, want, rep.Signer, "caller %d", caller)
				}
			})
		})
	}
}

// TestForgedResultsAreRefused plays a modified provider that answers calls
// with results whose signature is wrong, to a caller that requires
// signatures.
func TestForgedResultsAreRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var refused []error
		m := newMesh(t, 3, meshConfig{sign: true, service: func(i int, cfg *Config) {
			cfg.RequireSignatures = true
			cfg.OnRefused = func(_ security.NodeID, _ string, err error) {
				mu.Lock()
				defer mu.Unlock()
				refused = append(refused, err)
			}
		}})
		caller, attacker, honest := m.nodes[0], m.nodes[1], m.nodes[2]
		m.register(2, "svc.add", addHandler)
		other, err := security.GenerateIdentity()
		require.NoError(t, err)
		ctx := context.Background()

		// answer is how the attacker turns the call it received into a
		// result.
		var answer func(call *protocol.RpcCall) *protocol.RpcResult
		attacker.tr.Handle(protocol.StreamRPC, func(_ context.Context, st *transport.Stream) {
			defer st.Close()
			var env protocol.Envelope
			if st.ReadFrame(&env) != nil || env.GetRpcCall() == nil {
				return
			}
			call := env.GetRpcCall()
			_ = st.WriteFrame(&protocol.Envelope{Body: &protocol.Envelope_RpcAccept{RpcAccept: &protocol.RpcAccept{CallId: call.GetCallId()}}})
			_ = st.WriteFrame(&protocol.Envelope{Body: &protocol.Envelope_RpcResult{RpcResult: answer(call)}})
		})
		sign := func(id *security.Identity, callID uint64, proc string, data []byte) *protocol.RpcResult {
			r := &protocol.RpcResult{CallId: callID, Data: data, ContentType: "application/json"}
			r.Signature = id.Sign(protocol.ResultSigningBytes(idBytes(caller.ID()), proc, callID, r.Data, r.ContentType))
			r.SignerKey = id.PublicKey()
			return r
		}
		for _, row := range []struct {
			attack string
			answer func(call *protocol.RpcCall) *protocol.RpcResult
			want   error
		}{
			{"changes a result after signing it", func(c *protocol.RpcCall) *protocol.RpcResult {
				r := sign(attacker.id, c.GetCallId(), c.GetProcedure(), []byte("5"))
				r.Data = []byte("6")
				return r
			}, ErrBadSignature},
			{"signs with another node's key", func(c *protocol.RpcCall) *protocol.RpcResult {
				return sign(other, c.GetCallId(), c.GetProcedure(), []byte("5"))
			}, ErrBadSignature},
			{"replays a result signed for another call", func(c *protocol.RpcCall) *protocol.RpcResult {
				r := sign(attacker.id, c.GetCallId()+1, c.GetProcedure(), []byte("5"))
				r.CallId = c.GetCallId()
				return r
			}, ErrBadSignature},
			{"answers unsigned", func(c *protocol.RpcCall) *protocol.RpcResult {
				return &protocol.RpcResult{CallId: c.GetCallId(), Data: []byte("5"), ContentType: "application/json"}
			}, ErrUnsigned},
		} {
			answer = row.answer
			before := caller.svc.Stats().BadResults
			_, err := caller.svc.CallTo(ctx, attacker.ID(), "svc.add", []int{2, 3})
			require.True(t, errors.Is(err, row.want), "%s: got %v", row.attack, err)
			require.Equal(t, before+1, caller.svc.Stats().BadResults, row.attack)
			mu.Lock()
			require.True(t, errors.Is(refused[len(refused)-1], row.want), row.attack)
			mu.Unlock()
			// A well-behaved provider is still served, and verified.
			rep, err := caller.svc.CallTo(ctx, honest.ID(), "svc.add", []int{2, 3})
			require.NoError(t, err, row.attack)
			require.Equal(t, honest.ID(), rep.Signer)
		}
		// The attacker's honest answer passes.
		answer = func(c *protocol.RpcCall) *protocol.RpcResult {
			return sign(attacker.id, c.GetCallId(), c.GetProcedure(), []byte("5"))
		}
		rep, err := caller.svc.CallTo(ctx, attacker.ID(), "svc.add", []int{2, 3})
		require.NoError(t, err)
		require.Equal(t, attacker.ID(), rep.Signer)
		require.Equal(t, "5", string(rep.Data))
	})
}

func idBytes(id security.NodeID) []byte { return id[:] }
