package directory

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/routing"
	"github.com/org/macula/security"
)

// fakeSource serves watches from a table the test changes; each watch gets
// the current set at once and every later change.
type fakeSource struct {
	mu      sync.Mutex
	recs    map[routing.Key][]*routing.Record
	subs    map[routing.Key][]chan []*routing.Record
	watches int
	fail    error
	// blind: the next watch gets the current set only, never a change,
	// as a watch placed on nodes that never get the record would.
	blind bool
}

func newFakeSource() *fakeSource {
	return &fakeSource{recs: map[routing.Key][]*routing.Record{}, subs: map[routing.Key][]chan []*routing.Record{}}
}

func (f *fakeSource) Watch(ctx context.Context, key routing.Key) (<-chan []*routing.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	f.watches++
	ch := make(chan []*routing.Record, 16)
	ch <- f.recs[key]
	if f.blind {
		f.blind = false
	} else {
		f.subs[key] = append(f.subs[key], ch)
	}
	out := make(chan []*routing.Record)
	go func() {
		defer close(out)
		for {
			select {
			case r := <-ch:
				select {
				case out <- r:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

func (f *fakeSource) set(key routing.Key, recs ...*routing.Record) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recs[key] = recs
	for _, ch := range f.subs[key] {
		select {
		case ch <- recs:
		default:
		}
	}
}

func record(t *testing.T, name string) *routing.Record {
	t.Helper()
	id, err := security.GenerateIdentity()
	require.NoError(t, err)
	r, err := routing.NewRecord("org.example", routing.KindSub, name, []byte("v"), time.Minute, 1, id)
	require.NoError(t, err)
	return r
}

func TestLookupFollowsChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFakeSource()
		key := routing.KeyFor("org.example", routing.KindSub, "a")
		r1, r2 := record(t, "a"), record(t, "a")
		src.set(key, r1)
		c, err := New(Config{Source: src})
		require.NoError(t, err)
		defer c.Close()
		ctx := context.Background()

		got, err := c.Lookup(ctx, key)
		require.NoError(t, err)
		require.Equal(t, []*routing.Record{r1}, got)

		src.set(key, r1, r2)
		synctest.Wait()
		got, err = c.Lookup(ctx, key)
		require.NoError(t, err)
		require.Len(t, got, 2)

		c.SetDown(r1.Owner, true)
		require.True(t, c.IsDown(r1.Owner))
		got, err = c.Lookup(ctx, key)
		require.NoError(t, err)
		require.Equal(t, []*routing.Record{r2}, got)
		c.SetDown(r1.Owner, false)
		got, err = c.Lookup(ctx, key)
		require.NoError(t, err)
		require.Len(t, got, 2)

		src.set(key)
		synctest.Wait()
		got, err = c.Lookup(ctx, key)
		require.NoError(t, err)
		require.Empty(t, got)
		require.Equal(t, 1, src.watches, "one watch serves every lookup")
	})
}

func TestFirstLookupErrorIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFakeSource()
		boom := errors.New("boom")
		src.fail = boom
		c, err := New(Config{Source: src})
		require.NoError(t, err)
		defer c.Close()
		key := routing.KeyFor("org.example", routing.KindRPC, "svc")
		_, err = c.Lookup(context.Background(), key)
		require.ErrorIs(t, err, boom)
		synctest.Wait()
		require.Equal(t, 0, c.Len())
		src.mu.Lock()
		src.fail = nil
		src.mu.Unlock()
		got, err := c.Lookup(context.Background(), key)
		require.NoError(t, err)
		require.Empty(t, got)
	})
}

func TestIdleEntriesAreDroppedAndWatchesRenewed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFakeSource()
		c, err := New(Config{Source: src, IdleTimeout: 90 * time.Second, Renew: 30 * time.Second})
		require.NoError(t, err)
		defer c.Close()
		key := routing.KeyFor("org.example", routing.KindSub, "a")
		// A key with a record: an empty set is renewed sooner
		// (TestEmptyWatchIsRenewedSoon).
		src.set(key, record(t, "a"))
		_, err = c.Lookup(context.Background(), key)
		require.NoError(t, err)
		time.Sleep(61 * time.Second)
		synctest.Wait()
		require.Equal(t, 1, c.Len())
		src.mu.Lock()
		require.Equal(t, 3, src.watches, "renewed every 30 s")
		src.mu.Unlock()
		time.Sleep(60 * time.Second)
		synctest.Wait()
		require.Equal(t, 0, c.Len(), "idle for over 90 s")
	})
}

func TestMaxEntriesEvictsLeastRecentlyUsed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := New(Config{Source: newFakeSource(), MaxEntries: 2})
		require.NoError(t, err)
		defer c.Close()
		ctx := context.Background()
		k := func(n string) routing.Key { return routing.KeyFor("org.example", routing.KindSub, n) }
		_, _ = c.Lookup(ctx, k("a"))
		time.Sleep(time.Second)
		_, _ = c.Lookup(ctx, k("b"))
		time.Sleep(time.Second)
		_, _ = c.Lookup(ctx, k("a"))
		_, _ = c.Lookup(ctx, k("c"))
		synctest.Wait()
		require.Equal(t, 2, c.Len())
		c.mu.Lock()
		_, hasB := c.entries[k("b")]
		c.mu.Unlock()
		require.False(t, hasB)
	})
}

func TestClosedLookupAndWaitingLookups(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		block := &blockingSource{}
		c, err := New(Config{Source: block})
		require.NoError(t, err)
		done := make(chan error)
		go func() {
			_, err := c.Lookup(context.Background(), routing.KeyFor("org.example", routing.KindSub, "a"))
			done <- err
		}()
		synctest.Wait()
		c.Close()
		require.ErrorIs(t, <-done, ErrClosed)
		_, err = c.Lookup(context.Background(), routing.KeyFor("org.example", routing.KindSub, "a"))
		require.ErrorIs(t, err, ErrClosed)

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		c2, err := New(Config{Source: block})
		require.NoError(t, err)
		defer c2.Close()
		_, err = c2.Lookup(ctx, routing.KeyFor("org.example", routing.KindSub, "a"))
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
}

// blockingSource's watches never send.
type blockingSource struct{}

func (blockingSource) Watch(ctx context.Context, _ routing.Key) (<-chan []*routing.Record, error) {
	ch := make(chan []*routing.Record)
	go func() { <-ctx.Done(); close(ch) }()
	return ch, nil
}

func TestGenerationChangesWithLookupAnswers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFakeSource()
		key := routing.KeyFor("org.example", routing.KindSub, "a")
		r1, r2 := record(t, "a"), record(t, "a")
		src.set(key, r1)
		c, err := New(Config{Source: src})
		require.NoError(t, err)
		defer c.Close()
		ctx := context.Background()

		_, err = c.Lookup(ctx, key)
		require.NoError(t, err)
		g := c.Generation()
		_, err = c.Lookup(ctx, key)
		require.NoError(t, err)
		synctest.Wait()
		require.Equal(t, g, c.Generation(), "lookups alone change nothing")

		src.set(key, r1, r2)
		synctest.Wait()
		require.NotEqual(t, g, c.Generation(), "a new record")
		g = c.Generation()

		// The same set again (a renewed watch) is no change.
		same := *r1
		src.set(key, &same, r2)
		synctest.Wait()
		require.Equal(t, g, c.Generation())
		// A new version of a record is one.
		newer := *r1
		newer.Seq++
		src.set(key, &newer, r2)
		synctest.Wait()
		require.NotEqual(t, g, c.Generation(), "a new version")
		g = c.Generation()

		c.SetDown(r1.Owner, true)
		require.NotEqual(t, g, c.Generation(), "marked down")
		g = c.Generation()
		c.SetDown(r1.Owner, true)
		require.Equal(t, g, c.Generation(), "already down")
		c.SetDown(r1.Owner, false)
		require.NotEqual(t, g, c.Generation(), "marked up")
		g = c.Generation()

		// An idle entry is dropped: a change too, since the next lookup
		// starts a new watch.
		time.Sleep(DefaultIdleTimeout + 2*DefaultRenew)
		synctest.Wait()
		require.Zero(t, c.Len())
		require.NotEqual(t, g, c.Generation(), "dropped")
	})
}

func TestNewInvalidConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no source":    {},
		"negative TTL": {Source: newFakeSource(), IdleTimeout: -time.Second},
		"negative max": {Source: newFakeSource(), MaxEntries: -1},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(cfg)
			require.ErrorIs(t, err, ErrInvalidConfig)
		})
	}
}

// TestEmptyWatchIsRenewedSoon: a watch that reports no record is started
// afresh within seconds, not after a whole Renew: its first lookup may
// have gone to the wrong nodes (a restarted node's routing table is still
// filling), and then it never sees the record appear.
func TestEmptyWatchIsRenewedSoon(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeSource()
		f.blind = true
		c, err := New(Config{Source: f})
		require.NoError(t, err)
		defer c.Close()
		key := routing.KeyFor("org.example", routing.KindSub, "svc")
		recs, err := c.Lookup(context.Background(), key)
		require.NoError(t, err)
		require.Empty(t, recs)
		rec := record(t, "svc")
		f.set(key, rec) // the blind first watch never hears of it

		time.Sleep(emptyRenew + time.Millisecond)
		synctest.Wait()
		recs, err = c.Lookup(context.Background(), key)
		require.NoError(t, err)
		require.Len(t, recs, 1, "renewed after %v, long before Renew (%v)", emptyRenew, DefaultRenew)

		f.mu.Lock()
		watches := f.watches
		f.mu.Unlock()
		require.Equal(t, 2, watches)
		// A set with records is not renewed early.
		time.Sleep(10 * emptyRenew)
		synctest.Wait()
		f.mu.Lock()
		require.Equal(t, 2, f.watches)
		f.mu.Unlock()
	})
}
