package macula_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula"
)

// TestMessageSigning: with WithMessageSigning, events and call results
// name their verified signer; a node that requires signatures refuses an
// unsigned peer's events and results, audits them, and keeps serving
// signing peers.
func TestMessageSigning(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	newNode := func(opts ...macula.Option) *macula.Node {
		n, err := macula.New(append([]macula.Option{macula.WithListenAddr("127.0.0.1:0")}, opts...)...)
		require.NoError(t, err)
		t.Cleanup(func() { _ = n.Close() })
		return n
	}
	var audit syncBuffer
	strict := newNode(macula.WithMessageSigning(true), macula.WithAuditLog(&audit))
	signer := newNode(macula.WithMessageSigning(false))
	plain := newNode()
	require.NoError(t, signer.Join(ctx, strict.URI()))
	require.NoError(t, plain.Join(ctx, strict.URI()))

	events := make(chan *macula.Event, 10)
	_, err := strict.Subscribe(ctx, "news.#", func(_ context.Context, ev *macula.Event) { events <- ev })
	require.NoError(t, err)
	for _, n := range []*macula.Node{strict, signer, plain} {
		_, err := n.Register(ctx, "who."+n.ID().Short(), func(context.Context, *macula.Invocation) (any, error) { return "me", nil })
		require.NoError(t, err)
	}

	// A signing peer's event and result carry its verified signature.
	require.NoError(t, signer.Publish(ctx, "news.signed", "x", macula.WithQoS(macula.AtLeastOnce)))
	ev := <-events
	require.Equal(t, "news.signed", ev.Topic)
	require.Equal(t, signer.ID(), ev.Signer)
	rep, err := strict.CallTo(ctx, signer.ID(), "who."+signer.ID().Short(), nil)
	require.NoError(t, err)
	require.Equal(t, signer.ID(), rep.Signer)
	// The strict node signs its own results; the plain node checks
	// nothing and reports the signer it verified all the same.
	rep, err = plain.CallTo(ctx, strict.ID(), "who."+strict.ID().Short(), nil)
	require.NoError(t, err)
	require.Equal(t, strict.ID(), rep.Signer)

	// An unsigned peer is refused on both paths, and audited.
	pctx, pcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err = plain.Publish(pctx, "news.unsigned", "y", macula.WithQoS(macula.AtLeastOnce))
	pcancel()
	require.ErrorIs(t, err, macula.ErrNotAcknowledged, "a refused unsigned event is never acknowledged")
	_, err = strict.CallTo(ctx, plain.ID(), "who."+plain.ID().Short(), nil)
	require.ErrorIs(t, err, macula.ErrUnsigned)
	require.Eventually(t, func() bool {
		kinds := map[string]bool{}
		for _, rec := range auditLines(t, &audit) {
			if rec["kind"] == "bad_signature" && rec["peer"] == plain.ID().String() {
				kinds[rec["action"].(string)+" "+rec["name"].(string)] = true
			}
		}
		return kinds["publish news.unsigned"] && kinds["call who."+plain.ID().Short()]
	}, 5*time.Second, 10*time.Millisecond, audit.String())

	// Still serving the signing peer.
	require.NoError(t, signer.Publish(ctx, "news.again", "z"))
	select {
	case ev := <-events:
		require.Equal(t, "news.again", ev.Topic)
	case <-time.After(5 * time.Second):
		t.Fatal("no event from the signing peer after the refusals")
	}
}
