package routing

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/org/macula/security"
)

// allowErr is l.allow without the report count.
func allowErr(l *senderLimiter, id security.NodeID, now time.Time) error {
	_, err := l.allow(id, now)
	return err
}

func TestSenderLimiterBucket(t *testing.T) {
	l := newSenderLimiter(RequestStore, 2, 3) // 2 tokens/s, 3 at once
	id := security.NodeID{1}
	t0 := time.Unix(1000, 0)
	for i := range 3 {
		require.NoError(t, allowErr(l, id, t0), "store %d of the burst", i)
	}
	require.ErrorIs(t, allowErr(l, id, t0), ErrRateLimited)
	require.ErrorIs(t, allowErr(l, id, t0.Add(499*time.Millisecond)), ErrRateLimited, "not a whole token yet")
	require.NoError(t, allowErr(l, id, t0.Add(500*time.Millisecond)), "a token every 1/rate")
	require.ErrorIs(t, allowErr(l, id, t0.Add(500*time.Millisecond)), ErrRateLimited)
	require.NoError(t, allowErr(l, security.NodeID{2}, t0), "another sender has its own bucket")

	// An hour idle refills the burst, not more.
	t1 := t0.Add(time.Hour)
	for i := range 3 {
		require.NoError(t, allowErr(l, id, t1), "store %d after a rest", i)
	}
	require.ErrorIs(t, allowErr(l, id, t1), ErrRateLimited)

	// A clock going back refills nothing and breaks nothing.
	require.ErrorIs(t, allowErr(l, id, t1.Add(-time.Minute)), ErrRateLimited)
	require.NoError(t, allowErr(l, id, t1.Add(time.Second)))
	require.Equal(t, uint64(5), l.refusals())
}

// TestSenderLimiterReports checks that refusals are reported at most once
// a second per sender, with the count since the last report.
func TestSenderLimiterReports(t *testing.T) {
	l := newSenderLimiter(RequestQuery, 1e-6, 1)
	a, b := security.NodeID{1}, security.NodeID{2}
	t0 := time.Unix(1000, 0)
	require.NoError(t, allowErr(l, a, t0))
	require.NoError(t, allowErr(l, b, t0))
	report, err := l.allow(a, t0)
	require.ErrorIs(t, err, ErrRateLimited)
	require.Contains(t, err.Error(), "queries/s")
	require.Equal(t, uint64(1), report, "the first refusal is reported at once")
	for range 3 {
		report, _ = l.allow(a, t0.Add(500*time.Millisecond))
		require.Zero(t, report)
	}
	report, _ = l.allow(b, t0.Add(500*time.Millisecond))
	require.Equal(t, uint64(1), report, "each sender is reported on its own")
	report, _ = l.allow(a, t0.Add(time.Second))
	require.Equal(t, uint64(4), report, "a second later, with those held back")
	require.Equal(t, uint64(6), l.refusals())

	// A flood is reported every limitReportBatch refusals.
	t1 := t0.Add(time.Second + time.Millisecond)
	for i := 1; i < limitReportBatch; i++ {
		report, _ = l.allow(a, t1)
		require.Zero(t, report)
	}
	report, _ = l.allow(a, t1)
	require.Equal(t, uint64(limitReportBatch), report)
}

func TestSenderLimiterSweep(t *testing.T) {
	l := newSenderLimiter(RequestStore, 1, 10)
	t0 := time.Unix(1000, 0)
	idle, busy := security.NodeID{1}, security.NodeID{2}
	require.NoError(t, allowErr(l, idle, t0))
	for range 10 {
		require.NoError(t, allowErr(l, busy, t0.Add(5*time.Second)))
	}
	require.Equal(t, 2, l.len())
	// At t0+10s idle has refilled (indistinguishable from a new sender);
	// busy is back to 5 of 10 tokens, which a new bucket would forget.
	require.Equal(t, 1, l.sweep(t0.Add(10*time.Second)))
	require.Equal(t, 1, l.len())
	for range 5 {
		require.NoError(t, allowErr(l, busy, t0.Add(10*time.Second)))
	}
	require.ErrorIs(t, allowErr(l, busy, t0.Add(10*time.Second)), ErrRateLimited)
}

func TestSenderLimiterBounded(t *testing.T) {
	l := newSenderLimiter(RequestStore, 1, 10)
	t0 := time.Unix(1000, 0)
	// Fill the limiter with drained buckets, as many flooding senders
	// between two sweeps would.
	for i := range maxSenderBuckets {
		id := security.NodeID{byte(i), byte(i >> 8), 1}
		lim := rate.NewLimiter(1, 10)
		lim.AllowN(t0, 10)
		l.buckets[id] = &senderBucket{lim: lim}
	}
	for i := range 100 {
		require.NoError(t, allowErr(l, security.NodeID{byte(i), 2}, t0), "a new sender is served")
		require.LessOrEqual(t, l.len(), maxSenderBuckets)
	}
}

func TestStoreLimitConfig(t *testing.T) {
	id := newIdentity(t)
	q := newMemNet().querier(id.ID())
	for _, tc := range []struct {
		name     string
		rate     float64
		burst    int
		limited  bool
		wantRate float64
	}{
		{"defaults", 0, 0, true, DefaultStoreRate},
		{"set", 5, 7, true, 5},
		{"NoStoreLimit", NoStoreLimit, 0, false, math.Inf(1)},
		{"NoLimit", NoLimit, 0, false, math.Inf(1)},
		{"Inf", math.Inf(1), 0, false, math.Inf(1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := New(Config{Realm: testRealm, Identity: id, Querier: q, StoreRate: tc.rate, StoreBurst: tc.burst})
			require.NoError(t, err)
			defer d.Close()
			require.Equal(t, tc.wantRate, d.cfg.StoreRate)
			require.Equal(t, tc.limited, d.limits.store != nil)
			if tc.burst == 0 {
				require.Equal(t, DefaultStoreBurst, d.cfg.StoreBurst)
			}
			if !tc.limited {
				for range 10 * DefaultStoreBurst {
					require.NoError(t, allowErr(d.limits.store, security.NodeID{1}, time.Now()))
				}
			}
		})
	}
	for name, edit := range map[string]func(*Config){
		"negative rate":  func(c *Config) { c.StoreRate = -2 },
		"NaN rate":       func(c *Config) { c.StoreRate = math.NaN() },
		"negative burst": func(c *Config) { c.StoreBurst = -1 },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := Config{Realm: testRealm, Identity: id, Querier: q}
			edit(&cfg)
			_, err := New(cfg)
			require.ErrorIs(t, err, ErrInvalidConfig)
		})
	}
}

func TestQueryAndWatchLimitConfig(t *testing.T) {
	id := newIdentity(t)
	q := newMemNet().querier(id.ID())
	d, err := New(Config{Realm: testRealm, Identity: id, Querier: q})
	require.NoError(t, err)
	require.Equal(t, DefaultQueryRate, d.cfg.QueryRate)
	require.Equal(t, DefaultQueryBurst, d.cfg.QueryBurst)
	require.Equal(t, DefaultWatchRate, d.cfg.WatchRate)
	require.Equal(t, DefaultWatchBurst, d.cfg.WatchBurst)
	require.NoError(t, d.Close())

	d, err = New(Config{Realm: testRealm, Identity: id, Querier: q, QueryRate: 3, QueryBurst: 4, WatchRate: NoLimit, WatchBurst: 6})
	require.NoError(t, err)
	require.Equal(t, 3.0, d.cfg.QueryRate)
	require.Equal(t, 4, d.cfg.QueryBurst)
	require.True(t, math.IsInf(d.cfg.WatchRate, 1))
	require.Nil(t, d.limits.watch, "NoLimit turns the watch rate off")
	require.NotNil(t, d.limits.query)
	require.NoError(t, d.Close())

	for name, edit := range map[string]func(*Config){
		"negative query rate":  func(c *Config) { c.QueryRate = -2 },
		"NaN watch rate":       func(c *Config) { c.WatchRate = math.NaN() },
		"negative query burst": func(c *Config) { c.QueryBurst = -1 },
		"negative watch burst": func(c *Config) { c.WatchBurst = -3 },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := Config{Realm: testRealm, Identity: id, Querier: q}
			edit(&cfg)
			_, err := New(cfg)
			require.ErrorIs(t, err, ErrInvalidConfig)
		})
	}
}

func TestRequestString(t *testing.T) {
	require.Equal(t, "store", RequestStore.String())
	require.Equal(t, "query", RequestQuery.String())
	require.Equal(t, "watch", RequestWatch.String())
	require.Equal(t, "request_9", Request(9).String())
}
