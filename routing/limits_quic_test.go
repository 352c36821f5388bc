package routing

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
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
