package macula_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula"
	"github.com/org/macula/meshtest"
)

func routeIDs(n *macula.Node) map[macula.NodeID]bool {
	out := map[macula.NodeID]bool{}
	for _, r := range n.Routes() {
		out[r.ID] = true
	}
	return out
}

func TestRoutingTableFollowsMembership(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 10
		m := meshtest.New(t, n, meshtest.WithBootstrapTo(0))
		require.True(t, m.WaitFor(10*time.Second, func() bool {
			for i := range n {
				if len(m.Node(i).Routes()) != n-1 {
					return false
				}
			}
			return true
		}), "every node routes to the 9 others")
		for i := range n {
			require.False(t, routeIDs(m.Node(i))[m.Node(i).ID()], "a node is not in its own table")
			for _, r := range m.Node(i).Routes() {
				require.NotEmpty(t, r.Addrs, "routes carry addresses")
			}
		}

		dead := m.Node(6).ID()
		m.Kill(6)
		require.True(t, m.WaitFor(time.Minute, func() bool {
			for i := range n {
				if nd := m.Node(i); nd != nil && routeIDs(nd)[dead] {
					return false
				}
			}
			return true
		}), "a failed member leaves every routing table")
	})
}
