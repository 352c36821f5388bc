package pubsub

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
)

func TestSignedEventsNameTheirSigner(t *testing.T) {
	for _, signed := range []bool{true, false} {
		name := map[bool]string{true: "signed", false: "unsigned"}[signed]
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var mutate []func(*Config)
				if signed {
					mutate = append(mutate, signing)
				}
				nodes := mesh(t, 3, mutate...)
				ctx := context.Background()
				remote, local := &collector{}, &collector{}
				_, err := nodes[2].ps.Subscribe(ctx, "a.*", remote.handle)
				require.NoError(t, err)
				_, err = nodes[0].ps.Subscribe(ctx, "a.*", local.handle)
				require.NoError(t, err)
				require.NoError(t, nodes[0].ps.Publish(ctx, "a.b", []byte("x")))
				require.NoError(t, nodes[0].ps.Publish(ctx, "a.c", []byte("y"), WithQoS(AtLeastOnce)))
				time.Sleep(time.Second)
				want := security.NodeID{}
				if signed {
					want = nodes[0].id.ID()
				}
				for _, c := range []*collector{remote, local} {
					evs := c.all()
					require.Len(t, evs, 2)
					for _, ev := range evs {
						require.Equal(t, nodes[0].id.ID(), ev.Publisher)
						require.Equal(t, want, ev.Signer)
					}
				}
			})
		})
	}
}

// TestForgedEventsAreRefused plays a modified peer that writes raw events
// on its event stream to a subscriber that requires signatures.
func TestForgedEventsAreRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var refused []error
		nodes := mesh(t, 3, signing, func(c *Config) {
			c.RequireSignatures = true
			c.OnRefused = func(_ security.NodeID, _ string, err error) {
				mu.Lock()
				defer mu.Unlock()
				refused = append(refused, err)
			}
		})
		honest, attacker, sub := nodes[0], nodes[1], nodes[2]
		ctx := context.Background()
		got := &collector{}
		_, err := sub.ps.Subscribe(ctx, "a.#", got.handle)
		require.NoError(t, err)
		s, err := attacker.tr.OpenStream(ctx, sub.id.ID(), protocol.StreamEvents)
		require.NoError(t, err)
		defer s.Close()

		// signedBy returns an event on topic as pub publishes it, signed
		// with key's identity.
		signedBy := func(pub, key *security.Identity, topic, data string) *protocol.Event {
			pe := &protocol.Event{Topic: topic, Data: []byte(data), Publisher: idBytes(pub.ID()), Seq: 1, TimeUnixNano: 1}
			pe.Signature = key.Sign(protocol.EventSigningBytes(pe.Topic, pe.Data, pe.ContentType, pe.Publisher, pe.Seq, pe.TimeUnixNano, pe.Qos))
			pe.PublisherKey = key.PublicKey()
			return pe
		}
		tampered := signedBy(attacker.id, attacker.id, "a.tampered", "x")
		tampered.Data = []byte("changed")
		unsignedOther := &protocol.Event{Topic: "a.unsigned-other", Publisher: idBytes(honest.id.ID()), Seq: 2}
		unsignedOwn := &protocol.Event{Topic: "a.unsigned-own", Publisher: idBytes(attacker.id.ID()), Seq: 3}
		for _, row := range []struct {
			attack string
			event  *protocol.Event
			want   error
		}{
			{"changes the data of its own signed event", tampered, ErrBadSignature},
			{"signs an event in the honest node's name with its own key", signedBy(honest.id, attacker.id, "a.other-key", "x"), ErrBadSignature},
			{"sends an unsigned event in the honest node's name", unsignedOther, ErrForgedPublisher},
			{"sends an unsigned event of its own", unsignedOwn, ErrUnsigned},
		} {
			func() {
				before := sub.ps.Stats().Refused
				require.NoError(t, s.WriteFrame(&protocol.Envelope{Body: &protocol.Envelope_Event{Event: row.event}}))
				time.Sleep(100 * time.Millisecond)
				require.Equal(t, before+1, sub.ps.Stats().Refused, row.attack)
				mu.Lock()
				last := refused[len(refused)-1]
				mu.Unlock()
				require.True(t, errors.Is(last, row.want), "%s: got %v", row.attack, last)
				// The honest node is still served.
				n := got.len()
				require.NoError(t, honest.ps.Publish(ctx, "a.honest", []byte("ok")))
				time.Sleep(100 * time.Millisecond)
				require.Equal(t, n+1, got.len())
				require.Equal(t, "a.honest", got.all()[n].Topic, row.attack)
			}()
		}
		// A signed event forwarded by another node (as a gateway does)
		// keeps its publisher's signature and is delivered as the
		// publisher's.
		fwd := signedBy(honest.id, honest.id, "a.forwarded", "relayed")
		require.NoError(t, s.WriteFrame(&protocol.Envelope{Body: &protocol.Envelope_Event{Event: fwd}}))
		time.Sleep(100 * time.Millisecond)
		evs := got.all()
		last := evs[len(evs)-1]
		require.Equal(t, "a.forwarded", last.Topic)
		require.Equal(t, honest.id.ID(), last.Publisher)
		require.Equal(t, honest.id.ID(), last.Signer)
		for _, ev := range evs {
			require.NotContains(t, []string{"a.tampered", "a.other-key", "a.unsigned-other", "a.unsigned-own"}, ev.Topic)
		}
	})
}

func TestSignerMustBeSelf(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nodes := mesh(t, 1)
		other, err := security.GenerateIdentity()
		require.NoError(t, err)
		cfg := nodes[0].ps.cfg
		cfg.Signer = other
		_, err = cfg.withDefaults()
		require.ErrorIs(t, err, ErrInvalidConfig)
	})
}

func idBytes(id security.NodeID) []byte { return id[:] }
