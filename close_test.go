package macula_test

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/org/macula"
	"github.com/org/macula/internal/meshtest"
)

// TestCloseLeavesNoGoroutines connects nodes over real UDP, exercises them,
// closes them, and checks that not one goroutine is left.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := context.Background()
	nodes := make([]*macula.Node, 3)
	for i := range nodes {
		n, err := macula.New(macula.WithListenAddr("127.0.0.1:0"))
		require.NoError(t, err)
		nodes[i] = n
	}
	// A bootstrap loop that never succeeds must stop on Close too.
	lonely, err := macula.New(macula.WithListenAddr("127.0.0.1:0"), macula.WithBootstrap("127.0.0.1:9"))
	require.NoError(t, err)
	require.NoError(t, nodes[1].Join(ctx, nodes[0].Addr().String()))
	// Join returns at the first success, so join each one for a known state.
	require.NoError(t, nodes[2].Join(ctx, nodes[0].Addr().String()))
	require.NoError(t, nodes[2].Join(ctx, nodes[1].Addr().String()))
	for _, n := range nodes[1:] {
		_, err := n.Ping(ctx, nodes[0].ID())
		require.NoError(t, err)
	}
	for _, n := range append(nodes, lonely) {
		require.NoError(t, n.Close())
	}
}

// TestCloseInVirtualTime: synctest fails the test if any goroutine started
// in the bubble outlives it, so this also proves Close stops everything.
func TestCloseInVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := meshtest.New(t, 5)
		require.NoError(t, m.JoinAll(context.Background()))
		m.Kill(2)
		m.Restart(2)
		m.Close()
		synctest.Wait()
	})
}
