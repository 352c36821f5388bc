package routing

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// simResult summarizes the lookups of one simulation.
type simResult struct {
	nodes, keys, lookups, found int
	hopsSum, hopsMax            int
	queriedSum, failedSum       int
	setup, run                  time.Duration
}

func (r simResult) successRate() float64 { return float64(r.found) / float64(r.lookups) }
func (r simResult) meanHops() float64    { return float64(r.hopsSum) / float64(r.lookups) }
func (r simResult) meanQueried() float64 { return float64(r.queriedSum) / float64(r.lookups) }

func (r simResult) String() string {
	return fmt.Sprintf("| %5d | %4d | %5d | %7.3f%% | %4.2f | %d | %5.1f | %6.2f | %5.1fs | %5.1fs |",
		r.nodes, r.keys, r.lookups, 100*r.successRate(), r.meanHops(), r.hopsMax, r.meanQueried(),
		math.Log2(float64(r.nodes)), r.setup.Seconds(), r.run.Seconds())
}

// simKey is a key stored in a simulation, with its owner and value.
type simKey struct {
	owner *DHT
	rec   *Record
}

// populate has random nodes put one record each under `keys` names.
func populate(t testing.TB, c *cluster, keys int) []simKey {
	t.Helper()
	ctx := context.Background()
	out := make([]simKey, keys)
	for i := range out {
		owner := c.random()
		rec, err := owner.NewRecord(KindRPC, fmt.Sprintf("svc.%d", i), fmt.Appendf(nil, "value %d", i))
		require.NoError(t, err)
		require.NoError(t, owner.Put(ctx, rec))
		out[i] = simKey{owner: owner, rec: rec}
	}
	return out
}

// lookupAll gets random keys from random live nodes and counts those
// that return the key's record. Keys whose owner is dead are skipped.
func lookupAll(t testing.TB, c *cluster, keys []simKey, lookups int, res *simResult) {
	t.Helper()
	ctx := context.Background()
	for range lookups {
		k := keys[c.rng.IntN(len(keys))]
		if k.owner.isClosed() {
			continue
		}
		asker := c.random()
		got, stats, err := asker.GetWithStats(ctx, k.rec.Key)
		require.NoError(t, err)
		res.lookups++
		res.hopsSum += stats.Hops
		res.hopsMax = max(res.hopsMax, stats.Hops)
		res.queriedSum += stats.Queried
		res.failedSum += stats.Failed
		if len(got) == 1 && got[0].Owner == k.rec.Owner && string(got[0].Value) == string(k.rec.Value) {
			res.found++
		}
	}
}

// simulate builds an n-node mesh, bootstraps it, stores keys records and
// looks them up `lookups` times.
func simulate(t testing.TB, n, keys, lookups int) (simResult, *cluster, []simKey) {
	t.Helper()
	res := simResult{nodes: n, keys: keys}
	start := time.Now()
	c := newCluster(t, n, nil)
	c.bootstrap(t, 3, runtime.GOMAXPROCS(0))
	stored := populate(t, c, keys)
	res.setup = time.Since(start)
	start = time.Now()
	lookupAll(t, c, stored, lookups, &res)
	res.run = time.Since(start)
	return res, c, stored
}

const simTableHeader = "| nodes | keys | lookups | found | mean hops | max hops | mean queried | log2 N | setup | lookups |\n" +
	"|------:|-----:|--------:|------:|----------:|---------:|-------------:|-------:|------:|--------:|"

// TestSimulation200 is the reference mesh: 200 nodes, 250 keys, every
// lookup must succeed within log2(200) hops on average.
func TestSimulation200(t *testing.T) {
	res, _, _ := simulate(t, 200, 250, 500)
	t.Logf("\n%s\n%s", simTableHeader, res)
	require.Equal(t, res.lookups, res.found, "every lookup succeeds")
	require.LessOrEqual(t, res.meanHops(), math.Log2(200))
	require.Zero(t, res.failedSum)
}

// TestSimulationChurn kills 20% of a 200-node mesh at once: after one
// republish by the survivors every record whose owner lives is found.
func TestSimulationChurn(t *testing.T) {
	c := newCluster(t, 200, nil)
	c.bootstrap(t, 3, runtime.GOMAXPROCS(0))
	keys := populate(t, c, 250)
	dead := c.killRandom(0.2)
	require.Len(t, dead, 40)

	before := simResult{}
	lookupAll(t, c, keys, 300, &before)
	t.Logf("right after the failure: %d/%d found, %.1f failed queries per lookup",
		before.found, before.lookups, float64(before.failedSum)/float64(before.lookups))

	replicas := func() (minimum int, mean float64) {
		minimum, sum, n := math.MaxInt, 0, 0
		for _, k := range keys {
			if !k.owner.isClosed() {
				h := holders(c, k.rec.Key)
				minimum, sum, n = min(minimum, h), sum+h, n+1
			}
		}
		return minimum, float64(sum) / float64(n)
	}
	lo, mean := replicas()
	t.Logf("live replicas per record before republishing: min %d, mean %.1f", lo, mean)

	ctx := context.Background()
	for _, d := range c.nodes {
		if !d.isClosed() {
			d.republish(ctx, time.Now(), true)
		}
	}
	lo, mean = replicas()
	t.Logf("after one republish: min %d, mean %.1f", lo, mean)
	// The lookups of a republish find the K closest live nodes only as
	// far as other nodes' answers, still full of dead nodes, let them.
	require.GreaterOrEqual(t, mean, DefaultK-0.5, "records are back on about K live nodes")
	require.GreaterOrEqual(t, lo, DefaultK/2)

	live := 0
	for _, k := range keys {
		if k.owner.isClosed() {
			continue
		}
		live++
		got, err := c.random().Get(ctx, k.rec.Key)
		require.NoError(t, err)
		require.Len(t, got, 1, "record %s/%s", k.rec.Kind, k.rec.Name)
		require.Equal(t, k.rec.Value, got[0].Value)
	}
	require.Greater(t, live, 150)

	// Records of dead owners live on until they expire.
	for _, k := range keys {
		if k.owner.isClosed() {
			got, err := c.random().Get(ctx, k.rec.Key)
			require.NoError(t, err)
			require.Len(t, got, 1)
			break
		}
	}
}

// TestSimulationForgedRecords stores a forged record and a replayed expired
// record on every node of a mesh: all refuse them, and no lookup finds
// them.
func TestSimulationForgedRecords(t *testing.T) {
	c := newCluster(t, 100, nil)
	c.bootstrap(t, 3, runtime.GOMAXPROCS(0))
	victim, attacker := c.ids[1], newIdentity(t)
	real, err := c.nodes[1].NewRecord(KindRPC, "billing", []byte("real"))
	require.NoError(t, err)

	// Signed by the attacker but naming the victim as owner: with the
	// attacker's key, and with the victim's.
	forgedKey := resign(real, attacker, func(r *Record) { r.Seq++; r.Value = []byte("evil"); r.OwnerKey = attacker.PublicKey() })
	forgedSig := resign(real, attacker, func(r *Record) { r.Seq++; r.Value = []byte("evil") })
	// A genuine record of the victim's, replayed after it expired.
	replayed := resign(real, victim, func(r *Record) { r.Expires = unixNano(time.Now().Add(-time.Minute).UnixNano()) })

	attackerQ := c.net.querier(attacker.ID())
	ctx := context.Background()
	for _, d := range c.nodes {
		require.ErrorIs(t, attackerQ.Store(ctx, d.Self(), forgedKey), ErrBadSignature)
		require.ErrorIs(t, attackerQ.Store(ctx, d.Self(), forgedSig), ErrBadSignature)
		require.ErrorIs(t, attackerQ.Store(ctx, d.Self(), replayed), ErrExpired)
		require.Zero(t, d.store.len())
	}
	got, err := c.nodes[50].Get(ctx, real.Key)
	require.NoError(t, err)
	require.Empty(t, got)

	// The genuine record goes through, and the forgeries still do not
	// replace it.
	require.NoError(t, c.nodes[1].Put(ctx, real))
	for _, d := range c.nodes {
		require.Error(t, attackerQ.Store(ctx, d.Self(), forgedKey))
	}
	got, err = c.nodes[50].Get(ctx, real.Key)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "real", string(got[0].Value))
}

// TestSimulationSizes measures lookups at growing mesh sizes (about 35 s
// with -race on 2 cores, most of it for 2,000 nodes); the table it logs
// is in docs/BENCHMARKS.md. MACULA_SIM_SIZES=100,500 picks other sizes
// (`make sim-scale` runs 1,000 to 10,000).
func TestSimulationSizes(t *testing.T) {
	sizes := []int{100, 500, 1000, 2000}
	if env := os.Getenv("MACULA_SIM_SIZES"); env != "" {
		sizes = nil
		for _, f := range strings.Split(env, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			require.NoError(t, err, "MACULA_SIM_SIZES")
			sizes = append(sizes, n)
		}
	}
	lookups := 1000
	rows := []string{simTableHeader}
	var results []simResult
	for _, n := range sizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			res, c, _ := simulate(t, n, 200, lookups)
			c.close()
			rows = append(rows, res.String())
			results = append(results, res)
			require.GreaterOrEqual(t, res.successRate(), 0.999)
			require.LessOrEqual(t, res.meanHops(), math.Log2(float64(n)))
		})
	}
	for _, r := range rows {
		t.Log(r)
	}
	checkHopsGrowAsLogN(t, results)
}

// checkHopsGrowAsLogN checks that mean hops are proportional to log2 N
// across the sizes measured: each hop resolves about log2 K bits of the
// key, so hops per bit of log2 N stay about constant (0.25 to 0.27 from
// 100 to 10,000 nodes). A routing table that stopped covering the key
// space evenly would make them grow faster; the per-size bound above
// (hops <= log2 N) is far too loose to notice. The ratio may vary by a
// third between sizes, and a least-squares line through (log2 N, hops)
// must rise.
func checkHopsGrowAsLogN(t *testing.T, results []simResult) {
	t.Helper()
	if len(results) < 2 {
		return
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	var sx, sy, sxx, sxy float64
	for _, r := range results {
		x, y := math.Log2(float64(r.nodes)), r.meanHops()
		lo, hi = min(lo, y/x), max(hi, y/x)
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	k := float64(len(results))
	require.LessOrEqual(t, hi/lo, 4.0/3, "mean hops proportional to log2 N (%.3f to %.3f hops per bit)", lo, hi)
	if spread := k*sxx - sx*sx; spread > 1e-9 { // at least two sizes
		slope := (k*sxy - sx*sy) / spread
		t.Logf("mean hops per bit of log2 N: %.3f to %.3f; least squares: %.3f hops per doubling of N", lo, hi, slope)
		require.Positive(t, slope, "mean hops grow with log2 N")
	}
}
