package routing

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// newWatchDHT returns an unstarted DHT on its own memNet.
func newWatchDHT(t *testing.T) *DHT {
	t.Helper()
	id := newIdentity(t)
	d, err := New(Config{Realm: testRealm, Identity: id, Querier: newMemNet().querier(id.ID())})
	require.NoError(t, err)
	return d
}

func TestHandleWatchPushesChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newWatchDHT(t)
		defer d.Close()
		owner := newIdentity(t)
		peer := Contact{ID: newIdentity(t).ID()}
		rec := newTestRecord(t, owner, KindSub, "room.a", "v1", 1)
		events := make(chan []*Record, 16)
		done := make(chan error, 1)
		go func() {
			done <- d.HandleWatch(context.Background(), peer, rec.Key, 10*time.Second, func(r []*Record) error {
				events <- r
				return nil
			})
		}()
		require.Empty(t, <-events, "the current records come first")

		require.NoError(t, d.HandleStore(peer, rec))
		got := <-events
		require.Len(t, got, 1)
		require.Equal(t, uint64(1), got[0].Seq)

		// An identical copy, a stale record and another key change nothing.
		require.NoError(t, d.HandleStore(peer, rec.clone()))
		other := newTestRecord(t, owner, KindSub, "room.b", "x", 1)
		require.NoError(t, d.HandleStore(peer, other))
		rec2 := newTestRecord(t, owner, KindSub, "room.a", "v2", 2)
		require.NoError(t, d.HandleStore(peer, rec2))
		require.ErrorIs(t, d.HandleStore(peer, rec), ErrStale)
		got = <-events
		require.Len(t, got, 1)
		require.Equal(t, "v2", string(got[0].Value))
		synctest.Wait()
		require.Empty(t, events)

		tomb := resign(rec2, owner, func(r *Record) { r.Seq, r.Tombstone, r.Value = 3, true, nil })
		require.NoError(t, d.HandleStore(peer, tomb))
		got = <-events
		require.Len(t, got, 1)
		require.True(t, got[0].Tombstone)

		// The lease ends the watch cleanly.
		require.Equal(t, 1, d.watches.count())
		time.Sleep(10 * time.Second)
		require.NoError(t, <-done)
		require.Equal(t, 0, d.watches.count())
	})
}

func TestHandleWatchExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newWatchDHT(t)
		defer d.Close()
		d.Start()
		owner := newIdentity(t)
		rec := newTestRecord(t, owner, KindSub, "room.a", "v1", 1) // lives 1 min
		require.NoError(t, d.HandleStore(Contact{ID: owner.ID()}, rec))
		events := make(chan []*Record, 16)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- d.HandleWatch(ctx, d.Self(), rec.Key, 5*time.Minute, func(r []*Record) error {
				events <- r
				return nil
			})
		}()
		require.Len(t, <-events, 1)
		start := time.Now()
		require.Empty(t, <-events, "the sweep of the expired record is pushed")
		require.LessOrEqual(t, time.Since(start), time.Minute+d.sweepInterval())
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
	})
}

func TestHandleWatchLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newWatchDHT(t)
		ctx := context.Background()
		nop := func([]*Record) error { return nil }
		key := KeyFor(testRealm, KindSub, "busy")
		var wg sync.WaitGroup
		errs := make(chan error, MaxWatchersPerKey+MaxWatchesPerPeer)
		for range MaxWatchersPerKey {
			p := Contact{ID: newIdentity(t).ID()}
			wg.Go(func() { errs <- d.HandleWatch(ctx, p, key, time.Hour, nop) })
		}
		synctest.Wait()
		require.ErrorIs(t, d.HandleWatch(ctx, Contact{ID: newIdentity(t).ID()}, key, time.Hour, nop), ErrLimit)

		greedy := Contact{ID: newIdentity(t).ID()}
		for i := range MaxWatchesPerPeer {
			k := KeyFor(testRealm, KindSub, fmt.Sprintf("k%d", i))
			wg.Go(func() { errs <- d.HandleWatch(ctx, greedy, k, time.Hour, nop) })
		}
		synctest.Wait()
		require.Equal(t, MaxWatchersPerKey+MaxWatchesPerPeer, d.watches.count())
		// Its watch rate's burst is its whole allowance: the next is
		// refused for the rate, and, once a token has come back, for the
		// allowance.
		require.ErrorIs(t, d.HandleWatch(ctx, greedy, KeyFor(testRealm, KindSub, "one.more"), time.Hour, nop), ErrRateLimited)
		require.Equal(t, uint64(1), d.Stats().WatchesRefused)
		time.Sleep(time.Second / DefaultWatchRate)
		require.ErrorIs(t, d.HandleWatch(ctx, greedy, KeyFor(testRealm, KindSub, "one.more"), time.Hour, nop), ErrLimit)
		require.Equal(t, uint64(1), d.Stats().WatchesRefused)

		// Close ends every watch.
		require.NoError(t, d.Close())
		wg.Wait()
		close(errs)
		for err := range errs {
			require.ErrorIs(t, err, ErrClosed)
		}
		require.Equal(t, 0, d.watches.count())
	})
}

func TestWatchOverQUIC(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nodes := quicMesh(t, 50)
		ctx := context.Background()
		a, b := nodes[3], nodes[17]
		key := KeyFor("org.example.dht", KindSub, "room.temp")

		// A local watch on every node records when its store first held
		// each version: the moment a storing node accepted the STORE.
		var (
			mu       sync.Mutex
			accepted = make(map[uint64]time.Time)
		)
		lctx, lcancel := context.WithCancel(ctx)
		var lwg sync.WaitGroup
		for _, nd := range nodes {
			lwg.Go(func() {
				_ = nd.dht.HandleWatch(lctx, nd.dht.Self(), key, MaxWatchLease, func(recs []*Record) error {
					now := time.Now()
					mu.Lock()
					defer mu.Unlock()
					for _, r := range recs {
						if _, ok := accepted[r.Seq]; !ok {
							accepted[r.Seq] = now
						}
					}
					return nil
				})
			})
		}
		totalWatches := func() int {
			n := 0
			for _, nd := range nodes {
				n += nd.dht.watches.count()
			}
			return n
		}

		wctx, wcancel := context.WithCancel(ctx)
		ch, err := a.dht.Watch(wctx, key)
		require.NoError(t, err)
		require.Empty(t, <-ch)
		// Wait for A's watches of itself and of the WatchPeers closest
		// nodes: those, and no other node, serve two watches (their own
		// and A's).
		for i := 0; totalWatches() < len(nodes)+1+DefaultWatchPeers; i++ {
			require.Less(t, i, 1000, "watches not opened")
			time.Sleep(time.Millisecond)
		}
		time.Sleep(time.Second)
		require.Equal(t, len(nodes)+1+DefaultWatchPeers, totalWatches())
		others := slices.DeleteFunc(slices.Clone(nodes), func(nd *quicNode) bool { return nd == a })
		for i, nd := range closestNodes(others, key, len(others)) {
			want := 1
			if i < DefaultWatchPeers {
				want = 2
			}
			require.Equal(t, want, nd.dht.watches.count(), "the node %d-th closest to the key", i+1)
		}

		// step runs change on B and returns the set A receives, with the
		// virtual time from the first storing node accepting the change.
		step := func(change func() error) ([]*Record, time.Duration, time.Duration) {
			putStart := time.Now()
			putDone := make(chan time.Duration, 1)
			go func() {
				require.NoError(t, change())
				putDone <- time.Since(putStart)
			}()
			got := <-ch
			recv := time.Now()
			putTook := <-putDone
			mu.Lock()
			defer mu.Unlock()
			var first time.Time
			for _, at := range accepted {
				if at.After(putStart) && (first.IsZero() || at.Before(first)) {
					first = at
				}
			}
			require.False(t, first.IsZero(), "no storing node accepted")
			return got, recv.Sub(first), putTook
		}

		rec, err := b.dht.NewRecord(KindSub, "room.temp", []byte("21C"))
		require.NoError(t, err)
		got, delivery, putTook := step(func() error { return b.dht.Put(ctx, rec) })
		require.Len(t, got, 1)
		require.Equal(t, "21C", string(got[0].Value))
		t.Logf("put: delivered %v after the first accepted STORE (put took %v)", delivery, putTook)
		require.LessOrEqual(t, delivery, 10*time.Millisecond)

		rec2, err := b.dht.NewRecord(KindSub, "room.temp", []byte("22C"))
		require.NoError(t, err)
		got, delivery, putTook = step(func() error { return b.dht.Put(ctx, rec2) })
		require.Len(t, got, 1)
		require.Equal(t, "22C", string(got[0].Value))
		t.Logf("update: delivered %v after the first accepted STORE (put took %v)", delivery, putTook)
		require.LessOrEqual(t, delivery, 10*time.Millisecond)

		got, delivery, putTook = step(func() error { return b.dht.Remove(ctx, KindSub, "room.temp") })
		require.Empty(t, got)
		t.Logf("remove: delivered %v after the first accepted STORE (remove took %v)", delivery, putTook)
		require.LessOrEqual(t, delivery, 10*time.Millisecond)

		// Cancelling ends the watch: the channel closes and the storing
		// nodes drop their watches.
		wcancel()
		for range ch {
		}
		time.Sleep(100 * time.Millisecond)
		require.Equal(t, len(nodes), totalWatches())
		lcancel()
		lwg.Wait()
		require.Equal(t, 0, totalWatches())
	})
}

func TestDHTWatchRenewsLeaseAndEndsAtClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 30, nil)
		c.bootstrap(t, 5, 4)
		ctx := context.Background()
		watcher, owner := c.nodes[0], c.nodes[1]
		rec, err := owner.NewRecord(KindRPC, "svc.echo", []byte("v1"))
		require.NoError(t, err)
		require.NoError(t, owner.Put(ctx, rec))

		ch, err := watcher.Watch(ctx, rec.Key)
		require.NoError(t, err)
		got := <-ch
		for len(got) == 0 {
			got = <-ch
		}
		require.Len(t, got, 1)
		require.Equal(t, "v1", string(got[0].Value))

		// Well past several leases, changes still arrive.
		time.Sleep(3*DefaultWatchLease + time.Second)
		rec2, err := owner.NewRecord(KindRPC, "svc.echo", []byte("v2"))
		require.NoError(t, err)
		start := time.Now()
		require.NoError(t, owner.Put(ctx, rec2))
		got = <-ch
		require.Len(t, got, 1)
		require.Equal(t, "v2", string(got[0].Value))
		require.Equal(t, start, time.Now(), "memnet delivers at once")

		// Close ends the watch and closes the channel.
		require.NoError(t, watcher.Close())
		for range ch {
		}
		_, err = watcher.Watch(ctx, rec.Key)
		require.ErrorIs(t, err, ErrClosed)
	})
}

func TestDHTWatchNeedsWatcher(t *testing.T) {
	id := newIdentity(t)
	d, err := New(Config{Realm: testRealm, Identity: id, Querier: struct{ Querier }{newMemNet().querier(id.ID())}})
	require.NoError(t, err)
	defer d.Close()
	_, err = d.Watch(context.Background(), KeyFor(testRealm, KindSub, "x"))
	require.ErrorIs(t, err, ErrWatchUnsupported)
}
