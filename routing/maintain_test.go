package routing

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// holders returns how many nodes of c store a live record under key.
func holders(c *cluster, key Key) int {
	n := 0
	for _, d := range c.nodes {
		if !d.isClosed() && len(d.store.get(key, time.Now())) > 0 {
			n++
		}
	}
	return n
}

// closestLive returns the indexes in c.nodes of the k open nodes closest
// to key, closest first.
func closestLive(c *cluster, key Key, k int) []int {
	pos := keyPosition(key)
	var live []int
	for i, d := range c.nodes {
		if !d.isClosed() {
			live = append(live, i)
		}
	}
	slices.SortFunc(live, func(a, b int) int {
		return compareDistance(xor(c.nodes[a].selfPos, pos), xor(c.nodes[b].selfPos, pos))
	})
	return live[:min(k, len(live))]
}

// holderSet returns the indexes in c.nodes of the open nodes that store a
// live record under key, sorted.
func holderSet(c *cluster, key Key) []int {
	var out []int
	for i, d := range c.nodes {
		if !d.isClosed() && len(d.store.get(key, time.Now())) > 0 {
			out = append(out, i)
		}
	}
	return out
}

// requireHeldByClosest asserts the DHT's placement invariant on a stable,
// bootstrapped cluster: the record under key is held by exactly the k
// open nodes closest to it — every one of them has a copy (so any lookup
// finds it) and no other node does (a holder hands a record only to a node
// that displaces the Kth closest, counting itself).
func requireHeldByClosest(t *testing.T, c *cluster, key Key, k int) {
	t.Helper()
	want := closestLive(c, key, k)
	slices.Sort(want)
	require.Equal(t, want, holderSet(c, key), "holders (node indexes) should be the %d closest open nodes", k)
}

// TestStartRepublishesAndExpires runs the background loop in virtual
// time: the owner republishes at TTL/2 with a fresh expiry, and once the
// owner is gone its record is swept everywhere within TTL of its last
// republish.
func TestStartRepublishesAndExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ttl = 100 * time.Second
		c := newCluster(t, 12, func(cfg *Config) { cfg.K = 4; cfg.TTL = ttl })
		defer c.close()
		c.bootstrap(t, 3, 1)
		for _, d := range c.nodes {
			d.Start()
		}
		ctx := context.Background()
		owner := c.nodes[0]
		rec, err := owner.NewRecord(KindRPC, "svc", []byte("v"))
		require.NoError(t, err)
		require.NoError(t, owner.Put(ctx, rec))
		start := time.Now()
		requireHeldByClosest(t, c, rec.Key, 4)

		// Just before TTL/2 nothing has been republished.
		time.Sleep(ttl/2 - time.Second)
		synctest.Wait()
		require.Equal(t, rec, owner.ownRecords()[rec.Key].rec)

		// At TTL/2 (a sweep tick) the owner re-signs and republishes.
		time.Sleep(time.Second)
		synctest.Wait()
		fresh := owner.ownRecords()[rec.Key].rec
		require.Equal(t, start.Add(ttl/2+ttl), fresh.Expires)
		require.Equal(t, rec.Seq, fresh.Seq)
		require.NoError(t, fresh.Verify(testRealm, time.Now()))
		got, err := c.nodes[5].Get(ctx, rec.Key)
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, fresh.Expires, got[0].Expires)

		// Past the first copy's expiry the record lives on, on the same
		// nodes: each republish reached the K closest and no other.
		time.Sleep(ttl/2 + time.Second)
		synctest.Wait()
		requireHeldByClosest(t, c, rec.Key, 4)

		// The owner leaves; its last copy expires at start+2*TTL (it
		// republished at start+TTL) and is swept by the next tick.
		lastExpiry := owner.ownRecords()[rec.Key].rec.Expires
		require.Equal(t, start.Add(2*ttl), lastExpiry)
		c.net.kill(owner.Self().ID)
		require.NoError(t, owner.Close())
		// The owner may have been one of the K holders: the others keep
		// their copies until they expire.
		left := holderSet(c, rec.Key)
		require.GreaterOrEqual(t, len(left), 3)
		time.Sleep(time.Until(lastExpiry) - time.Nanosecond)
		synctest.Wait()
		require.Equal(t, left, holderSet(c, rec.Key))
		time.Sleep(ttl / 10)
		synctest.Wait()
		for _, d := range c.nodes[1:] {
			require.Zero(t, d.store.len(), "swept by %s", d.Self().ID.Short())
		}
		got, err = c.nodes[5].Get(ctx, rec.Key)
		require.NoError(t, err)
		require.Empty(t, got)
	})
}

// TestHandoffToNewCloserNode adds a node closer to a stored key than any
// holder: the holders hand the record to it as soon as they learn of it.
func TestHandoffToNewCloserNode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 15, func(cfg *Config) { cfg.K = 3 })
		defer c.close()
		c.bootstrap(t, 3, 1)
		for _, d := range c.nodes {
			d.Start()
		}
		ctx := context.Background()
		rec, err := c.nodes[0].NewRecord(KindSub, "anchor", []byte("v"))
		require.NoError(t, err)
		require.NoError(t, c.nodes[0].Put(ctx, rec))

		// A newcomer closer to the key than every current node.
		pos := keyPosition(rec.Key)
		best := xor(nodePosition(c.nodes[0].Self().ID), pos)
		for _, d := range c.nodes {
			if dist := xor(d.selfPos, pos); closer(dist, best) {
				best = dist
			}
		}
		var newcomer *DHT
		for newcomer == nil {
			d := c.add(t, func(cfg *Config) { cfg.K = 3 })
			if closer(xor(d.selfPos, pos), best) {
				newcomer = d
			} else {
				c.net.kill(d.Self().ID)
				require.NoError(t, d.Close())
			}
		}
		require.Zero(t, newcomer.store.len())
		for _, d := range c.nodes {
			if !d.isClosed() && len(d.store.get(rec.Key, time.Now())) > 0 {
				d.AddPeer(newcomer.Self())
			}
		}
		synctest.Wait()
		require.Len(t, newcomer.store.get(rec.Key, time.Now()), 1)
	})
}

// TestQueryTimeout checks that a silent node costs a lookup exactly one
// QueryTimeout and is then dropped.
func TestQueryTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = 300 * time.Millisecond
		c := newCluster(t, 10, func(cfg *Config) { cfg.QueryTimeout = timeout })
		defer c.close()
		c.bootstrap(t, 3, 1)
		asker := c.nodes[0]
		victim := asker.Routes()[0].ID
		c.net.silence(victim)
		start := time.Now()
		_, stats, err := asker.FindClosest(context.Background(), KeyOf(victim))
		require.NoError(t, err)
		require.Equal(t, timeout, time.Since(start))
		require.Equal(t, 1, stats.Failed)
		for _, p := range asker.Routes() {
			require.NotEqual(t, victim, p.ID)
		}

		// Close ends a lookup stuck on silent nodes at once.
		for _, d := range c.nodes[1:] {
			c.net.silence(d.Self().ID)
			asker.AddPeer(d.Self())
		}
		done := make(chan error, 1)
		go func() {
			_, _, err := asker.FindClosest(context.Background(), KeyOf(victim))
			done <- err
		}()
		time.Sleep(timeout / 2)
		synctest.Wait()
		start = time.Now()
		require.NoError(t, asker.Close())
		require.ErrorIs(t, <-done, ErrClosed)
		require.Zero(t, time.Since(start))
	})
}

// TestRefresh checks that the refresh lookups run at RefreshInterval and
// fill the table of a node that only knew one peer.
func TestRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		edit := func(cfg *Config) { cfg.RefreshInterval = time.Minute }
		c := newCluster(t, 30, edit)
		defer c.close()
		c.bootstrap(t, 3, 1)
		loner := c.add(t, edit)
		loner.AddPeer(c.nodes[0].Self())
		loner.Start()
		time.Sleep(time.Minute - time.Millisecond)
		synctest.Wait()
		require.Len(t, loner.Routes(), 1)
		time.Sleep(c.nodes[0].sweepInterval())
		synctest.Wait()
		require.Greater(t, len(loner.Routes()), 20)
	})
}

func TestRandomKeyAt(t *testing.T) {
	c := newCluster(t, 1, nil)
	d := c.nodes[0]
	for cpl := range 8 {
		require.Equal(t, cpl, commonPrefixLen(keyPosition(d.randomKeyAt(cpl)), d.selfPos))
	}
}

// TestRepublishShortRecord checks that a record put with a lifetime
// shorter than TTL/2 is republished before it expires.
func TestRepublishShortRecord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ttl = 100 * time.Second
		c := newCluster(t, 5, func(cfg *Config) { cfg.TTL = ttl })
		defer c.close()
		c.bootstrap(t, 2, 1)
		for _, d := range c.nodes {
			d.Start()
		}
		owner := c.nodes[0]
		rec, err := NewRecord(testRealm, KindNode, owner.Self().ID.String(), nil, 30*time.Second, 1, c.ids[0])
		require.NoError(t, err)
		require.NoError(t, owner.Put(t.Context(), rec))
		time.Sleep(ttl / 10) // first tick: 20 s left, within TTL/2
		synctest.Wait()
		got, err := c.nodes[3].Get(t.Context(), rec.Key)
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, time.Now().Add(ttl), got[0].Expires)
	})
}
