package macula_test

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula"
	"github.com/org/macula/meshtest"
	"github.com/org/macula/topology"
)

// fastMembership shortens SWIM's timers for real-time tests (Close waits
// out one probe interval).
var fastMembership = macula.WithMembershipConfig(macula.MembershipConfig{
	ProbeInterval: 200 * time.Millisecond, ProbeTimeout: 100 * time.Millisecond,
})

// overlayOK reports whether g has want nodes, is connected, and every node
// has at least k links.
func overlayOK(g *macula.Graph, want, k int) bool {
	return len(g.Nodes) == want && g.Connected() && g.MinDegree() >= k
}

func memberCounts(nodes []*macula.Node) []int {
	out := make([]int, len(nodes))
	for i, nd := range nodes {
		for _, m := range nd.Members() {
			if m.State == macula.MemberAlive {
				out[i]++
			}
		}
	}
	return out
}

func TestTwentyNodesOverUDPFormAConnectedOverlay(t *testing.T) {
	const n, k = 20, 2
	nodes := make([]*macula.Node, n)
	var err error
	// memberlist's LAN timers (1 s probes): this test shares 2 cores with
	// the rest of the suite under -race, and faster probes would see CPU
	// stalls as failures.
	nodes[0], err = macula.New(macula.WithListenAddr("127.0.0.1:0"))
	require.NoError(t, err)
	for i := 1; i < n; i++ {
		nodes[i], err = macula.New(macula.WithListenAddr("127.0.0.1:0"),
			macula.WithBootstrap(nodes[0].Addr().String()))
		require.NoError(t, err)
	}
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, nd := range nodes {
			wg.Go(func() { _ = nd.Close() })
		}
		wg.Wait()
	})

	require.Eventually(t, func() bool {
		for _, nd := range nodes {
			if len(nd.Members()) != n {
				return false
			}
		}
		return true
	}, time.Minute, 50*time.Millisecond, "membership converges: %v", memberCounts(nodes))

	// Every node's view of the overlay: all 20 nodes, connected, degree >= k.
	require.Eventually(t, func() bool {
		for _, nd := range nodes {
			if !overlayOK(nd.Topology(), n, k) {
				return false
			}
		}
		return true
	}, time.Minute, 50*time.Millisecond, "every node sees a connected overlay with degree >= %d", k)

	g := nodes[7].Topology()
	dot := g.DOT()
	require.Contains(t, dot, "graph macula")
	js, err := g.JSON()
	require.NoError(t, err)
	back, err := topology.ParseGraphJSON(js)
	require.NoError(t, err)
	require.True(t, overlayOK(back, n, k))
	// Each node really is connected to its overlay neighbours.
	for _, nd := range nodes {
		peers := map[macula.NodeID]bool{}
		for _, p := range nd.Peers() {
			peers[p.ID] = true
		}
		for _, e := range g.Edges {
			if e.From == nd.ID() {
				require.True(t, peers[e.To])
			}
			if e.To == nd.ID() {
				require.True(t, peers[e.From])
			}
		}
	}
}

func TestOverlaySurvivesFailuresInVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n, k = 12, 3
		m := meshtest.New(t, n, meshtest.WithBootstrapTo(0), meshtest.WithNodeOptions(macula.WithTopology(k)))
		require.True(t, m.WaitFor(15*time.Second, func() bool {
			for i := range n {
				if !overlayOK(m.Node(i).Topology(), n, k) {
					return false
				}
			}
			return true
		}), "a connected overlay of degree >= %d", k)

		// Kill two nodes (k-1 = 2 failures keep a Harary graph connected);
		// once membership drops them, the survivors re-form a degree-k overlay.
		m.Kill(4, 9)
		require.True(t, m.WaitFor(2*time.Minute, func() bool {
			for i := range n {
				if nd := m.Node(i); nd != nil && !overlayOK(nd.Topology(), n-2, k) {
					return false
				}
			}
			return true
		}), "survivors re-form the overlay")
	})
}
