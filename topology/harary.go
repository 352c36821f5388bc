package topology

import (
	"slices"

	"github.com/org/macula/security"
)

// DefaultK is the default number of overlay links each node keeps: the
// degree k of the overlay graph built by [Neighbours].
const DefaultK = 2

// Neighbours returns the IDs self should keep long-lived links to, given
// the IDs of all alive members of the mesh and the overlay degree k.
//
// Every node that computes Neighbours from the same membership view gets
// the same overlay: the member IDs and self, deduplicated and sorted by
// [security.NodeID.Compare], form a ring of n nodes, and the links are
// those of the Harary graph H(k,n) on that ring:
//
//   - if n-1 <= k, every other member;
//   - if k = 1 and n > 2, the two ring neighbours, as for k = 2: a graph
//     where every node has one link is not connected;
//   - otherwise the floor(k/2) nearest nodes on each side of self on the
//     ring and, when k is odd, one more: the node opposite self on the
//     ring (n even), or, for n odd, position i links to i+(n+1)/2 for
//     0 <= i <= (n-1)/2, so the node at position 0 gets two such links.
//
// The relation is symmetric (A is among B's neighbours exactly when B is
// among A's), and the overlay is connected and k-connected: it stays
// connected after any k-1 nodes fail. Every node has exactly k links when
// n > k+1, except that for odd k and odd n the first node on the ring has
// k+1, and that k = 1 gives 2 links.
//
// members may or may not contain self, and duplicates are ignored. The
// zero NodeID means "none": it is ignored in members, and a zero self or
// k < 1 yields nil. The result never contains self; it lists the
// neighbours in ring order, starting with self's successor. It is nil when
// there is nobody to link to.
func Neighbours(self security.NodeID, members []security.NodeID, k int) []security.NodeID {
	if self.IsZero() || k < 1 {
		return nil
	}
	ring := make([]security.NodeID, 0, len(members)+1)
	ring = append(ring, self)
	for _, id := range members {
		if !id.IsZero() {
			ring = append(ring, id)
		}
	}
	slices.SortFunc(ring, security.NodeID.Compare)
	ring = slices.Compact(ring)
	i, _ := slices.BinarySearchFunc(ring, self, security.NodeID.Compare)
	pos := harary(len(ring), k, i)
	if len(pos) == 0 {
		return nil
	}
	out := make([]security.NodeID, len(pos))
	for j, p := range pos {
		out[j] = ring[p]
	}
	return out
}

// harary returns the ring positions linked to position i in the Harary
// graph H(k,n), in ring order starting from i+1. It requires 0 <= i < n
// and k >= 1.
func harary(n, k, i int) []int {
	if n <= 1 {
		return nil
	}
	if k == 1 && n > 2 {
		// No graph on more than two nodes where every node has one link
		// is connected, so k = 1 gets the ring of k = 2.
		k = 2
	}
	// offsets from i, each in 1..n-1.
	var offs []int
	if n-1 <= k {
		offs = make([]int, 0, n-1)
		for d := 1; d < n; d++ {
			offs = append(offs, d)
		}
	} else {
		// Here n >= k+2, so the offsets below are all distinct: the ring
		// offsets 1..r and n-r..n-1 do not meet because 2r <= k < n, and
		// the odd-k chords (n/2, or (n-1)/2 and (n+1)/2) lie strictly
		// between them because r < (n-1)/2.
		r := k / 2
		offs = make([]int, 0, k+1)
		for d := 1; d <= r; d++ {
			offs = append(offs, d, n-d)
		}
		if k%2 == 1 {
			switch {
			case n%2 == 0:
				offs = append(offs, n/2)
			case i <= (n-1)/2:
				// The chord i -- i+(n+1)/2 for 0 <= i <= (n-1)/2; the last
				// one, (n-1)/2 -- n, wraps to position 0.
				offs = append(offs, (n+1)/2)
				if i == 0 {
					offs = append(offs, (n-1)/2) // the chord from (n-1)/2
				}
			default:
				// i = j+(n+1)/2 for some j in 0..(n-3)/2: the chord back to j.
				offs = append(offs, n-(n+1)/2)
			}
		}
		slices.Sort(offs)
	}
	for j, d := range offs {
		offs[j] = (i + d) % n
	}
	return offs
}
