package routing

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
)

// TestStoreRateLimitOverQUIC has one node flood another with five times
// its StoreBurst of STOREs at once while a third stores a few: the
// flooder gets exactly StoreBurst through, the rest fail with
// ErrRateLimited and are counted and reported, and every store of the
// well-behaved node succeeds. The flooder's bucket then refills at
// StoreRate: one store a second later, a full burst after burst/rate.
func TestStoreRateLimitOverQUIC(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const (
			rate   = 1.0 // per second: no whole token comes back during the flood
			burst  = 20
			flood  = 5 * burst
			polite = burst - 5
		)
		log := newRefusalLog()
		nodes := quicMeshWith(t, 5, func(c *Config) {
			c.StoreRate, c.StoreBurst = rate, burst
			log.hook(c)
		})
		ctx := context.Background()
		target, flooder, good := nodes[0], nodes[1], nodes[2]
		records := func(nd *quicNode, prefix string, n int) []*Record {
			out := make([]*Record, n)
			for i := range out {
				r, err := nd.dht.NewRecord(KindRPC, fmt.Sprintf("%s.%d", prefix, i), nil)
				require.NoError(t, err)
				out[i] = r
			}
			return out
		}
		storeAll := func(q *QUICQuerier, recs []*Record) []error {
			errs := make([]error, len(recs))
			var wg sync.WaitGroup
			for i, r := range recs {
				wg.Go(func() { errs[i] = q.Store(ctx, target.dht.Self(), r) })
			}
			wg.Wait()
			return errs
		}
		fq, gq := NewQUICQuerier(flooder.tr), NewQUICQuerier(good.tr)
		accepted := func(errs []error) int {
			t.Helper()
			n := 0
			for _, err := range errs {
				if err == nil {
					n++
				} else {
					require.ErrorIs(t, err, ErrRateLimited)
				}
			}
			return n
		}

		start := time.Now()
		var floodErrs, goodErrs []error
		var wg sync.WaitGroup
		wg.Go(func() { floodErrs = storeAll(fq, records(flooder, "flood", flood)) })
		wg.Go(func() { goodErrs = storeAll(gq, records(good, "good", polite)) })
		wg.Wait()
		require.Less(t, time.Since(start), time.Second, "the flood is over before a token comes back")
		require.Equal(t, burst, accepted(floodErrs))
		for i, err := range goodErrs {
			require.NoError(t, err, "store %d of the well-behaved node", i)
		}
		require.Equal(t, burst+polite, target.dht.store.len())
		st := target.dht.Stats().Refused
		require.EqualValues(t, flood-burst, st.RateLimited)
		require.EqualValues(t, flood-burst, st.Total())
		got := log.from(target.id.ID(), flooder.id.ID())
		require.Len(t, got, flood-burst)
		for _, r := range got {
			require.ErrorIs(t, r.err, ErrRateLimited)
			require.Equal(t, "rpc", r.rec.Kind)
		}
		require.Empty(t, log.from(target.id.ID(), good.id.ID()))

		// One token a second.
		time.Sleep(time.Second)
		require.Equal(t, 1, accepted(storeAll(fq, records(flooder, "later", 3))))
		// The whole burst after burst/rate.
		time.Sleep(burst / rate * time.Second)
		require.Equal(t, burst, accepted(storeAll(fq, records(flooder, "rested", burst))))
		require.EqualValues(t, flood-burst+2, target.dht.Stats().Refused.RateLimited)
	})
}

// limitLog records OnLimitExceeded events, by reporting node.
type limitLog struct {
	mu  sync.Mutex
	evs map[security.NodeID][]LimitEvent
}

// hook makes c's node report to l.
func (l *limitLog) hook(c *Config) {
	self := c.Identity.ID()
	c.OnLimitExceeded = func(ev LimitEvent) {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.evs == nil {
			l.evs = make(map[security.NodeID][]LimitEvent)
		}
		l.evs[self] = append(l.evs[self], ev)
	}
}

func (l *limitLog) of(id security.NodeID) []LimitEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]LimitEvent(nil), l.evs[id]...)
}

// TestQueryRateLimitOverQUIC has one node flood another with five times
// its QueryBurst of FIND_NODE queries at once while a third queries a
// few: the flooder gets exactly its tokens left answered (QueryBurst, less
// what the mesh's bootstrap took), the rest are refused
// with CodeRateLimited, counted and reported once (virtual time stands
// still), and every query of the well-behaved node is answered. A lookup
// of the flooder's that meets the refusal keeps the busy node in its
// table, as it would not keep a failed one.
func TestQueryRateLimitOverQUIC(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const (
			burst  = 10
			flood  = 5 * burst
			polite = 5
		)
		var log limitLog
		nodes := quicMeshWith(t, 4, func(c *Config) {
			c.QueryRate, c.QueryBurst = 1e-6, burst // no token comes back
			log.hook(c)
		})
		ctx := context.Background()
		target, flooder, good := nodes[0], nodes[1], nodes[2]
		queryAll := func(q *QUICQuerier, n int) []error {
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range errs {
				wg.Go(func() { _, errs[i] = q.FindNode(ctx, target.dht.Self(), KeyOf(good.id.ID())) })
			}
			wg.Wait()
			return errs
		}
		// The mesh's own bootstrap lookups may have taken a token.
		left := tokensLeft(target.dht.limits.query, flooder.id.ID())
		require.Greater(t, left, burst/2)
		var floodErrs, goodErrs []error
		var wg sync.WaitGroup
		wg.Go(func() { floodErrs = queryAll(NewQUICQuerier(flooder.tr), flood) })
		wg.Go(func() { goodErrs = queryAll(NewQUICQuerier(good.tr), polite) })
		wg.Wait()
		answered := 0
		for _, err := range floodErrs {
			if err == nil {
				answered++
				continue
			}
			require.ErrorIs(t, err, &protocol.CodeError{Code: protocol.CodeRateLimited})
			require.True(t, busy(err))
		}
		require.Equal(t, left, answered)
		for i, err := range goodErrs {
			require.NoError(t, err, "query %d of the well-behaved node", i)
		}
		require.Equal(t, uint64(flood-left), target.dht.Stats().QueriesRefused)
		require.Equal(t, []LimitEvent{{Peer: flooder.id.ID(), Request: RequestQuery, Refused: 1}}, log.of(target.id.ID()))

		// The flooder's own lookup meets the refusal and keeps the node.
		_, st, err := flooder.dht.FindClosest(ctx, KeyOf(target.id.ID()))
		require.NoError(t, err)
		require.Positive(t, st.Failed)
		require.Contains(t, contactIDs(flooder.dht.Routes()), target.id.ID())
		require.False(t, flooder.dht.suspects.has(target.id.ID(), time.Now()))
	})
}

// TestWatchRateLimitOverQUIC opens watches from one node faster than the
// watched node's WatchRate: the burst is served, the next watch fails
// with ErrRateLimited, and another node's watch is served.
func TestWatchRateLimitOverQUIC(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const burst = 2
		nodes := quicMeshWith(t, 3, func(c *Config) { c.WatchRate, c.WatchBurst = 1e-6, burst })
		target, flooder, good := nodes[0], nodes[1], nodes[2]
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		watch := func(from *quicNode, name string) <-chan error {
			done := make(chan error, 1)
			key := KeyFor("org.example.dht", KindSub, name)
			go func() {
				done <- NewQUICQuerier(from.tr).Watch(ctx, target.dht.Self(), key, time.Hour, func([]*Record) {})
			}()
			return done
		}
		var served []<-chan error
		for i := range burst {
			served = append(served, watch(flooder, fmt.Sprintf("w%d", i)))
		}
		time.Sleep(100 * time.Millisecond) // both are served (virtual time)
		require.Equal(t, burst, target.dht.watches.count())
		err := <-watch(flooder, "one.too.many")
		require.ErrorIs(t, err, ErrRateLimited)
		served = append(served, watch(good, "w0"))
		time.Sleep(time.Second)
		for _, done := range served {
			select {
			case err := <-done:
				t.Fatalf("a watch within the rate ended: %v", err)
			default:
			}
		}
		require.Equal(t, uint64(1), target.dht.Stats().WatchesRefused)
		require.Equal(t, burst+1, target.dht.watches.count())
		cancel()
		for _, done := range served {
			require.ErrorIs(t, <-done, context.Canceled)
		}
	})
}

// tokensLeft returns how many whole tokens id's bucket in l holds now.
func tokensLeft(l *senderLimiter, id security.NodeID) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.buckets[id]; ok {
		return int(b.lim.TokensAt(time.Now()))
	}
	return l.burst
}

// contactIDs returns the IDs of cs.
func contactIDs(cs []Contact) []security.NodeID {
	out := make([]security.NodeID, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}
