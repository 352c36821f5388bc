package transport

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestConnect(t *testing.T) {
	onBoth(t, func(t *testing.T, nw network) {
		conns := nw.conns(3)
		a, b, c := newNode(t, conns[0]), newNode(t, conns[1]), newNode(t, conns[2])
		ctx := context.Background()

		// A bad address first, then the right one: the second is dialed.
		p, err := a.Connect(ctx, b.ID(), []string{"not-an-address", b.Addr().String()})
		require.NoError(t, err)
		require.Equal(t, b.ID(), p.ID)
		require.True(t, p.Outbound)

		// Connected already: no dial, even without addresses.
		p, err = a.Connect(ctx, b.ID(), nil)
		require.NoError(t, err)
		require.Equal(t, b.ID(), p.ID)

		_, err = a.Connect(ctx, c.ID(), nil)
		require.ErrorIs(t, err, ErrUnreachable)
		// c's address claimed by someone else: the identity check refuses it.
		_, err = a.Connect(ctx, c.ID(), []string{b.Addr().String()})
		require.ErrorIs(t, err, ErrUnreachable)
		_, ok := a.Peer(c.ID())
		require.False(t, ok)
	})
}
