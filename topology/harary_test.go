package topology

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/org/macula/security"
)

func TestNeighboursSmall(t *testing.T) {
	// Members are testID(0) ... testID(n-1): ring position = number.
	for _, tc := range []struct {
		n, k, self int
		want       []int
	}{
		{n: 1, k: 2, self: 0, want: nil},
		{n: 2, k: 1, self: 0, want: []int{1}},
		{n: 2, k: 2, self: 1, want: []int{0}},
		{n: 3, k: 1, self: 0, want: []int{1, 2}}, // k = 1 gets the ring
		{n: 3, k: 2, self: 2, want: []int{0, 1}},
		{n: 4, k: 8, self: 1, want: []int{2, 3, 0}},
		{n: 5, k: 1, self: 0, want: []int{1, 4}},
		{n: 5, k: 2, self: 0, want: []int{1, 4}},
		{n: 5, k: 2, self: 4, want: []int{0, 3}},
		{n: 6, k: 2, self: 3, want: []int{4, 2}},
		{n: 6, k: 3, self: 0, want: []int{1, 3, 5}},
		{n: 6, k: 3, self: 4, want: []int{5, 1, 3}},
		{n: 6, k: 4, self: 0, want: []int{1, 2, 4, 5}},
		// k odd, n odd: chords i -- i+3 for i = 0, 1, 2, so 0 has two.
		{n: 5, k: 3, self: 0, want: []int{1, 2, 3, 4}},
		{n: 5, k: 3, self: 1, want: []int{2, 4, 0}},
		{n: 5, k: 3, self: 2, want: []int{3, 0, 1}},
		{n: 5, k: 3, self: 3, want: []int{4, 0, 2}},
		{n: 5, k: 3, self: 4, want: []int{0, 1, 3}},
		{n: 9, k: 5, self: 0, want: []int{1, 2, 4, 5, 7, 8}},
		{n: 9, k: 5, self: 6, want: []int{7, 8, 1, 4, 5}},
		{n: 10, k: 5, self: 7, want: []int{8, 9, 2, 5, 6}},
	} {
		t.Run(fmt.Sprintf("n=%d/k=%d/self=%d", tc.n, tc.k, tc.self), func(t *testing.T) {
			var want []security.NodeID
			for _, i := range tc.want {
				want = append(want, testID(i))
			}
			require.Equal(t, want, Neighbours(testID(tc.self), testIDs(0, tc.n-1), tc.k))
		})
	}
}

func TestNeighboursInput(t *testing.T) {
	self := testID(3)
	ring := testIDs(1, 6)
	want := Neighbours(self, ring, 2)
	require.Equal(t, []security.NodeID{testID(4), testID(2)}, want)

	for _, tc := range []struct {
		name    string
		self    security.NodeID
		members []security.NodeID
		k       int
		want    []security.NodeID
	}{
		{"self left out", self, []security.NodeID{testID(1), testID(2), testID(4), testID(5), testID(6)}, 2, want},
		{"shuffled with duplicates", self, []security.NodeID{testID(6), self, testID(2), testID(1), testID(6), testID(4), testID(5), testID(2)}, 2, want},
		{"zero IDs ignored", self, append([]security.NodeID{{}, {}}, ring...), 2, want},
		{"no members", self, nil, 2, nil},
		{"only self", self, []security.NodeID{self, self}, 2, nil},
		{"zero self", security.NodeID{}, ring, 2, nil},
		{"k zero", self, ring, 0, nil},
		{"k negative", self, ring, -1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			members := slices.Clone(tc.members)
			require.Equal(t, tc.want, Neighbours(tc.self, tc.members, tc.k))
			require.Equal(t, members, tc.members, "members must not be modified")
		})
	}
}

// TestNeighboursKConnectedExhaustive checks, for every small n and k, that
// removing any k-1 nodes leaves the overlay connected.
func TestNeighboursKConnectedExhaustive(t *testing.T) {
	for n := 1; n <= 12; n++ {
		for k := 1; k <= 6; k++ {
			ids := testIDs(0, n-1)
			remove := min(k-1, n-1)
			forEachSubset(n, remove, func(subset []int) {
				skip := make(map[security.NodeID]bool, len(subset))
				for _, i := range subset {
					skip[ids[i]] = true
				}
				require.True(t, overlay(ids, k, skip).Connected(), "n=%d k=%d removed %v", n, k, subset)
			})
		}
	}
}

// forEachSubset calls f with every subset of {0..n-1} of size r, in
// increasing order. f must not keep the slice.
func forEachSubset(n, r int, f func([]int)) {
	s := make([]int, r)
	var rec func(start, depth int)
	rec = func(start, depth int) {
		if depth == r {
			f(s)
			return
		}
		for i := start; i <= n-(r-depth); i++ {
			s[depth] = i
			rec(i+1, depth+1)
		}
	}
	rec(0, 0)
}

// wantDegree is the degree Neighbours gives the node at ring position i.
func wantDegree(n, k, i int) int {
	switch {
	case n-1 <= k:
		return n - 1
	case k == 1:
		return 2
	case k%2 == 1 && n%2 == 1 && i == 0:
		return k + 1
	default:
		return k
	}
}

func TestNeighboursProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 300).Draw(t, "n")
		k := rapid.IntRange(1, 8).Draw(t, "k")
		rng := rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "seed"), 0))

		ring := make([]security.NodeID, n)
		for i := range ring {
			for j := range ring[i] {
				ring[i][j] = byte(rng.Uint32())
			}
		}
		slices.SortFunc(ring, security.NodeID.Compare)
		ring = slices.Compact(ring)
		n = len(ring)
		pos := make(map[security.NodeID]int, n)
		for i, id := range ring {
			pos[id] = i
		}

		// Each node sees the membership in its own order, with a
		// duplicate, and with or without itself.
		members := slices.Clone(ring)
		adj := make(map[security.NodeID][]security.NodeID, n)
		for i, self := range ring {
			rng.Shuffle(len(members), func(a, b int) { members[a], members[b] = members[b], members[a] })
			view := append(slices.Clone(members), members[0])
			if rng.IntN(2) == 0 {
				view = slices.DeleteFunc(view, func(id security.NodeID) bool { return id == self })
			}
			nb := Neighbours(self, view, k)
			adj[self] = nb

			if len(nb) != wantDegree(n, k, i) {
				t.Fatalf("node %d of %d (k=%d) has %d neighbours, want %d", i, n, k, len(nb), wantDegree(n, k, i))
			}
			if len(nb) < min(k, n-1) {
				t.Fatalf("node %d has degree %d < min(k, n-1)", i, len(nb))
			}
			last := 0
			for _, b := range nb {
				off := (pos[b] - i + n) % n
				if off <= last {
					t.Fatalf("node %d: neighbours %v not distinct, in ring order and without self", i, nb)
				}
				last = off
			}
		}
		g := NewGraph()
		for _, a := range ring {
			g.AddNode(a, "")
			for _, b := range adj[a] {
				if !slices.Contains(adj[b], a) {
					t.Fatalf("%s lists %s but not the reverse", a.Short(), b.Short())
				}
				g.AddEdge(a, b)
			}
		}
		if !g.Connected() {
			t.Fatalf("overlay of %d nodes with k=%d is not connected", n, k)
		}
		if g.MinDegree() < min(k, n-1) {
			t.Fatalf("min degree %d < min(k, n-1)", g.MinDegree())
		}

		// Removing k-1 nodes, at random or as one run of ring neighbours,
		// leaves the rest connected.
		if r := min(k-1, n-1); r > 0 {
			random := rng.Perm(n)[:r]
			start := rng.IntN(n)
			run := make([]int, r)
			for j := range run {
				run[j] = (start + j) % n
			}
			for _, removed := range [][]int{random, run} {
				skip := make(map[int]bool, r)
				for _, i := range removed {
					skip[i] = true
				}
				h := NewGraph()
				for i, a := range ring {
					if skip[i] {
						continue
					}
					h.AddNode(a, "")
					for _, b := range adj[a] {
						if !skip[pos[b]] {
							h.AddEdge(a, b)
						}
					}
				}
				if !h.Connected() {
					t.Fatalf("n=%d k=%d: removing positions %v disconnects the overlay", n, k, removed)
				}
			}
		}
	})
}

func BenchmarkNeighbours(b *testing.B) {
	for _, k := range []int{2, 5} {
		b.Run(fmt.Sprintf("n=1000/k=%d", k), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			members := make([]security.NodeID, 1000)
			for i := range members {
				for j := range members[i] {
					members[i][j] = byte(rng.Uint32())
				}
			}
			self := members[500]
			b.ReportAllocs()
			for b.Loop() {
				Neighbours(self, members, k)
			}
		})
	}
}
