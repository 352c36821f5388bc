package routing

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// crash stops nodes at one instant as a crash would: every socket closes
// first, so no peer hears a goodbye (no CONNECTION_CLOSE leaves, and
// packets to the nodes vanish), then their DHTs and transports are closed
// concurrently to free them.
func crash(nodes []*quicNode) {
	for _, nd := range nodes {
		_ = nd.conn.Close()
	}
	var wg sync.WaitGroup
	for _, nd := range nodes {
		wg.Go(func() { _ = nd.dht.Close(); _ = nd.tr.Close() })
	}
	wg.Wait()
}

// TestDHTChurnOverQUIC crashes 20% of a QUIC mesh at once, owners of
// records among them. One republish interval (TTL/2) later every record
// whose owner lives has been republished and is found from random live
// nodes; the records of crashed owners are still served until they
// expire, and then by no node.
func TestDHTChurnOverQUIC(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A short TTL keeps the virtual time short: republishing (TTL/2)
		// and sweeping (TTL/10) scale with it.
		const ttl = 60 * time.Second
		n := quicMeshSize(t)
		nodes := quicMeshWith(t, n, func(cfg *Config) { cfg.TTL = ttl })
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(3, 4))

		// 40 records from random owners, put all at once.
		recs := make([]stored, 40)
		for i := range recs {
			owner := nodes[rng.IntN(n)]
			rec, err := owner.dht.NewRecord(KindRPC, fmt.Sprintf("svc.churn%d", i), fmt.Appendf(nil, "value %d", i))
			require.NoError(t, err)
			recs[i] = stored{owner: owner, rec: rec}
		}
		putStart := time.Now()
		errs := make([]error, len(recs))
		var wg sync.WaitGroup
		for i, s := range recs {
			wg.Go(func() { errs[i] = s.owner.dht.Put(ctx, s.rec) })
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		// Crash one sweep tick after the puts, so each record's first
		// republish (the first tick at least TTL/2 after its put) falls
		// within TTL/2 of the crash, and none has come before it.
		putTook := time.Since(putStart)
		time.Sleep(nodes[0].dht.sweepInterval())
		synctest.Wait()
		crashAt := time.Now()
		t.Logf("puts took %v", putTook)
		require.Less(t, crashAt.Sub(putStart), ttl/5, "puts took too long for the schedule")

		// The victims: the owners of the first 5 records, then random
		// nodes up to 20%.
		dead := make(map[*quicNode]bool)
		for _, s := range recs[:5] {
			if len(dead) < n/5 {
				dead[s.owner] = true
			}
		}
		for _, i := range rng.Perm(n) {
			if len(dead) == n/5 {
				break
			}
			dead[nodes[i]] = true
		}
		var victims, live []*quicNode
		for _, nd := range nodes {
			if dead[nd] {
				victims = append(victims, nd)
			} else {
				live = append(live, nd)
			}
		}
		crash(victims)
		require.Zero(t, time.Since(crashAt), "the crash takes no virtual time")

		var deadRecs, liveRecs []stored
		for _, s := range recs {
			if dead[s.owner] {
				deadRecs = append(deadRecs, s)
			} else {
				liveRecs = append(liveRecs, s)
			}
		}
		require.NotEmpty(t, deadRecs)
		require.NotEmpty(t, liveRecs)
		replicas := func(key Key) int {
			h := 0
			for _, nd := range live {
				if len(nd.dht.store.get(key, time.Now())) > 0 {
					h++
				}
			}
			return h
		}
		replicaStats := func() (lo int, mean float64) {
			lo, sum := math.MaxInt, 0
			for _, s := range liveRecs {
				h := replicas(s.rec.Key)
				lo, sum = min(lo, h), sum+h
			}
			return lo, float64(sum) / float64(len(liveRecs))
		}
		lo, mean := replicaStats()
		t.Logf("%d of %d nodes crashed, owning %d of %d records; live replicas per live-owned record: min %d, mean %.1f",
			len(victims), n, len(deadRecs), len(recs), lo, mean)

		// One republish interval later, every live owner has republished
		// (and may still be storing: its lookup waits QueryTimeout on each
		// crashed node it meets).
		time.Sleep(ttl / 2)
		synctest.Wait()
		checkAt := time.Now()
		for _, s := range liveRecs {
			own := s.owner.dht.ownRecords()[s.rec.Key]
			require.True(t, own.published.After(crashAt), "%s republished since the crash", s.rec.Name)
		}
		lo, mean = replicaStats()
		t.Logf("after TTL/2: live replicas min %d, mean %.1f", lo, mean)

		// Every record is found from 3 random live nodes: a live owner's,
		// and, until it expires, a crashed owner's as it was last stored.
		results := lookupFrom(live, recs, 3, rng)
		var failed int
		var slowest time.Duration
		for _, r := range results {
			require.NoError(t, r.err)
			failed += r.stats.Failed
			slowest = max(slowest, r.took)
			if dead[r.owner] {
				require.True(t, r.rec.Expires.After(time.Now()), "%s looked up before it expired", r.rec.Name)
			}
			require.Len(t, r.got, 1, "record %s (owner crashed: %v)", r.rec.Name, dead[r.owner])
			require.Equal(t, r.rec.Value, r.got[0].Value)
			require.Equal(t, r.owner.id.ID(), r.got[0].Owner)
			if dead[r.owner] {
				require.Equal(t, r.rec.Expires, r.got[0].Expires, "%s was never republished", r.rec.Name)
			}
		}
		t.Logf("%d lookups at TTL/2 after the crash: %.1f failed queries per lookup, slowest %v",
			len(results), float64(failed)/float64(len(results)), slowest)
		// The republishes started by then end within a few QueryTimeouts
		// (2 s each on a crashed node), leaving every live owner's record
		// on about K live nodes again (about 0.8 K right after the crash).
		time.Sleep(time.Until(checkAt.Add(ttl / 5)))
		synctest.Wait()
		lo, mean = replicaStats()
		t.Logf("after TTL/2 + TTL/5: live replicas min %d, mean %.1f", lo, mean)
		require.GreaterOrEqual(t, mean, DefaultK-1.0, "records are back on about K live nodes")
		require.GreaterOrEqual(t, lo, DefaultK/2)

		// A crashed owner's record is served by no node once it expires,
		// while the live owners' records live on.
		var lastExpiry time.Time
		for _, s := range deadRecs {
			if s.rec.Expires.After(lastExpiry) {
				lastExpiry = s.rec.Expires
			}
		}
		time.Sleep(time.Until(lastExpiry))
		synctest.Wait()
		for _, r := range lookupFrom(live, recs, 1, rng) {
			require.NoError(t, r.err)
			if dead[r.owner] {
				require.Empty(t, r.got, "record %s of a crashed owner after its expiry", r.rec.Name)
			} else {
				require.Len(t, r.got, 1, "record %s of a live owner", r.rec.Name)
			}
		}
	})
}

// stored is a record and its owner.
type stored struct {
	owner *quicNode
	rec   *Record
}

// lookupResult is one Get of a stored record.
type lookupResult struct {
	stored
	got   []*Record
	stats LookupStats
	took  time.Duration
	err   error
}

// lookupFrom gets each of recs from `per` nodes of askers picked with
// rng, all lookups at once, and returns their results.
func lookupFrom(askers []*quicNode, recs []stored, per int, rng *rand.Rand) []lookupResult {
	out := make([]lookupResult, 0, per*len(recs))
	from := make([]*quicNode, 0, cap(out))
	for _, s := range recs {
		for range per {
			out = append(out, lookupResult{stored: s})
			from = append(from, askers[rng.IntN(len(askers))])
		}
	}
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() {
			r := &out[i]
			start := time.Now()
			r.got, r.stats, r.err = from[i].dht.GetWithStats(context.Background(), r.rec.Key)
			r.took = time.Since(start)
		})
	}
	wg.Wait()
	return out
}
