package routing

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/org/macula/security"
)

// TestClosestIsXOROrdered checks that Closest returns the n peers of the
// table nearest to the key, nearest first, by the XOR distance of their
// SHA-256 positions.
func TestClosestIsXOROrdered(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		self := security.NodeID(bytes32().Draw(t, "self"))
		tb, err := newTable(self, rapid.IntRange(1, 8).Draw(t, "k"))
		require.NoError(t, err)
		defer tb.close()
		ids := rapid.SliceOfNDistinct(bytes32(), 0, 60, func(a [32]byte) [32]byte { return a }).Draw(t, "peers")
		for _, id := range ids {
			tb.add(Contact{ID: security.NodeID(id)})
		}
		key := Key(bytes32().Draw(t, "key"))
		n := rapid.IntRange(0, 70).Draw(t, "n")
		all := tb.all()
		got := tb.closest(key, n)
		require.Len(t, got, min(n, len(all)))

		pos := keyPosition(key)
		dist := func(c Contact) []byte {
			d := xor(nodePosition(c.ID), pos)
			return d[:]
		}
		for i := 1; i < len(got); i++ {
			require.Negative(t, bytes.Compare(dist(got[i-1]), dist(got[i])), "not sorted by distance")
		}
		if len(got) > 0 && len(got) < len(all) {
			farthest := dist(got[len(got)-1])
			inGot := map[security.NodeID]bool{}
			for _, c := range got {
				inGot[c.ID] = true
			}
			for _, c := range all {
				if !inGot[c.ID] {
					require.Positive(t, bytes.Compare(dist(c), farthest), "a closer peer was left out")
				}
			}
		}
		for _, c := range all {
			require.NotEqual(t, self, c.ID)
		}
	})
}

func TestDistanceHelpers(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a := position(bytes32().Draw(t, "a"))
		b := position(bytes32().Draw(t, "b"))
		require.Equal(t, xor(a, b), xor(b, a))
		require.Equal(t, position{}, xor(a, a))
		require.Equal(t, 256, commonPrefixLen(a, a))
		cpl := commonPrefixLen(a, b)
		if cpl < 256 {
			require.NotEqual(t, a[cpl/8]>>(7-cpl%8)&1, b[cpl/8]>>(7-cpl%8)&1)
			require.Equal(t, 1, int(xor(a, b)[cpl/8]>>(7-cpl%8)&1))
		}
		require.Equal(t, bytes.Compare(a[:], b[:]) < 0, closer(a, b))
	})
	// Our positions are kbucket's.
	id := security.NodeID{1, 2, 3}
	require.Equal(t, nodePosition(id), keyPosition(KeyOf(id)))
}

func TestLatencies(t *testing.T) {
	l := newLatencies()
	p := peerID(security.NodeID{1})
	require.Zero(t, l.LatencyEWMA(p))
	l.RecordLatency(p, 100)
	require.EqualValues(t, 100, l.LatencyEWMA(p))
	l.RecordLatency(p, 200)
	require.EqualValues(t, 110, l.LatencyEWMA(p))
	l.RemovePeer(p)
	require.Zero(t, l.LatencyEWMA(p))
}

// bytes32 generates 32 random bytes.
func bytes32() *rapid.Generator[[32]byte] {
	return rapid.Custom(func(t *rapid.T) [32]byte {
		return [32]byte(rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "bytes"))
	})
}
