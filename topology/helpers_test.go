package topology

import (
	"encoding/binary"

	"github.com/org/macula/security"
)

// testID returns a node ID whose first four bytes are i, big-endian, so
// that IDs sort like their numbers and Short() shows them.
func testID(i int) security.NodeID {
	var id security.NodeID
	binary.BigEndian.PutUint32(id[:], uint32(i))
	id[31] = 0xff // never the zero ID, even for i = 0
	return id
}

// testIDs returns testID(from) ... testID(to).
func testIDs(from, to int) []security.NodeID {
	ids := make([]security.NodeID, 0, to-from+1)
	for i := from; i <= to; i++ {
		ids = append(ids, testID(i))
	}
	return ids
}

// overlay returns the graph of every member's Neighbours, with one edge
// per pair that either side lists, leaving out the nodes in skip.
func overlay(members []security.NodeID, k int, skip map[security.NodeID]bool) *Graph {
	g := NewGraph()
	for _, a := range members {
		if skip[a] {
			continue
		}
		g.AddNode(a, "")
		for _, b := range Neighbours(a, members, k) {
			if !skip[b] {
				g.AddEdge(a, b)
			}
		}
	}
	return g
}
