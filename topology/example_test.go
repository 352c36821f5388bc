package topology_test

import (
	"fmt"

	"github.com/org/macula/security"
	"github.com/org/macula/topology"
)

// ids returns n node IDs that sort in the order made.
func ids(n int) []security.NodeID {
	out := make([]security.NodeID, n)
	for i := range out {
		out[i][0] = byte(0x10 * (i + 1))
	}
	return out
}

func ExampleNeighbours() {
	members := ids(6)
	for _, k := range []int{2, 3} {
		fmt.Printf("k=%d:", k)
		for _, id := range topology.Neighbours(members[0], members, k) {
			fmt.Print(" ", id.Short())
		}
		fmt.Println()
	}
	// Output:
	// k=2: 20000000 60000000
	// k=3: 20000000 40000000 60000000
}

func ExampleGraph() {
	members := ids(8)
	g := topology.NewGraph()
	for _, a := range members {
		g.AddNode(a, "")
		for _, b := range topology.Neighbours(a, members, topology.DefaultK) {
			g.AddEdge(a, b)
		}
	}
	fmt.Println(len(g.Edges), "edges, connected:", g.Connected(), "min degree:", g.MinDegree())
	// Output:
	// 8 edges, connected: true min degree: 2
}
