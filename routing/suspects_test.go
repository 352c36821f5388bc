package routing

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/security"
)

func TestSuspects(t *testing.T) {
	s := newSuspects()
	a, b := security.NodeID{1}, security.NodeID{2}
	now := time.Now()
	s.add(a, now)
	require.True(t, s.has(a, now.Add(suspectFor-1)))
	require.False(t, s.has(b, now))
	require.False(t, s.has(a, now.Add(suspectFor)))
	require.Empty(t, s.at, "expired suspicions are forgotten")

	s.add(a, now)
	s.clear(a)
	require.False(t, s.has(a, now))

	// Bounded: a full memory forgets the expired, then the older half.
	for i := range maxSuspects {
		s.add(security.NodeID{byte(i), byte(i >> 8), 1}, now.Add(time.Duration(i)*suspectFor/maxSuspects))
	}
	require.Len(t, s.at, maxSuspects)
	s.add(b, now.Add(suspectFor))
	require.Less(t, len(s.at), maxSuspects*2/3)
	require.True(t, s.has(b, now.Add(suspectFor)))
	s.prune(now.Add(3 * suspectFor))
	require.Empty(t, s.at)
}

// TestSuspectNotRelearned checks that a node that failed is not added
// back from another node's answer, but is as soon as it shows up itself.
func TestSuspectNotRelearned(t *testing.T) {
	c := newCluster(t, 20, nil)
	c.bootstrap(t, 3, 1)
	asker := c.nodes[0]
	victim := c.nodes[1]
	asker.AddPeer(victim.Self())
	c.net.kill(victim.Self().ID)
	_, stats, err := asker.FindClosest(t.Context(), KeyOf(victim.Self().ID))
	require.NoError(t, err)
	require.Equal(t, 1, stats.Failed)
	// Others still list the victim, but asker neither asks nor keeps it.
	_, stats, err = asker.FindClosest(t.Context(), KeyOf(victim.Self().ID))
	require.NoError(t, err)
	require.Zero(t, stats.Failed)
	require.False(t, asker.table.contains(victim.Self().ID))
	// A query from the victim itself proves it alive.
	asker.HandleFindNode(victim.Self(), KeyOf(victim.Self().ID))
	require.True(t, asker.table.contains(victim.Self().ID))
}

// TestRemovedPeerNotQueried checks DHT hygiene for a node membership
// reports dead: RemovePeer drops it at once, and no lookup queries it
// afterwards, although other nodes' tables still list it.
func TestRemovedPeerNotQueried(t *testing.T) {
	c := newCluster(t, 20, nil)
	c.bootstrap(t, 3, 1)
	asker := c.nodes[0]
	victim := c.nodes[1]
	asker.AddPeer(victim.Self())
	c.net.kill(victim.Self().ID)
	asker.RemovePeer(victim.Self().ID)
	require.False(t, asker.table.contains(victim.Self().ID))
	for range 3 {
		_, stats, err := asker.FindClosest(t.Context(), KeyOf(victim.Self().ID))
		require.NoError(t, err)
		require.Zero(t, stats.Failed, "the removed node was queried")
		require.False(t, asker.table.contains(victim.Self().ID))
	}
	// Back alive (membership reports it again): routed to at once.
	asker.AddPeer(victim.Self())
	require.True(t, asker.table.contains(victim.Self().ID))
}
