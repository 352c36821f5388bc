package routing

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/security"
)

func TestStoreLimiterBucket(t *testing.T) {
	l := newStoreLimiter(2, 3) // 2 tokens/s, 3 at once
	id := security.NodeID{1}
	t0 := time.Unix(1000, 0)
	for i := range 3 {
		require.NoError(t, l.allow(id, t0), "store %d of the burst", i)
	}
	require.ErrorIs(t, l.allow(id, t0), ErrRateLimited)
	require.ErrorIs(t, l.allow(id, t0.Add(499*time.Millisecond)), ErrRateLimited, "not a whole token yet")
	require.NoError(t, l.allow(id, t0.Add(500*time.Millisecond)), "a token every 1/rate")
	require.ErrorIs(t, l.allow(id, t0.Add(500*time.Millisecond)), ErrRateLimited)
	require.NoError(t, l.allow(security.NodeID{2}, t0), "another sender has its own bucket")

	// An hour idle refills the burst, not more.
	t1 := t0.Add(time.Hour)
	for i := range 3 {
		require.NoError(t, l.allow(id, t1), "store %d after a rest", i)
	}
	require.ErrorIs(t, l.allow(id, t1), ErrRateLimited)

	// A clock going back refills nothing and breaks nothing.
	require.ErrorIs(t, l.allow(id, t1.Add(-time.Minute)), ErrRateLimited)
	require.NoError(t, l.allow(id, t1.Add(time.Second)))
}

func TestStoreLimiterSweep(t *testing.T) {
	l := newStoreLimiter(1, 10)
	t0 := time.Unix(1000, 0)
	idle, busy := security.NodeID{1}, security.NodeID{2}
	require.NoError(t, l.allow(idle, t0))
	for range 10 {
		require.NoError(t, l.allow(busy, t0.Add(5*time.Second)))
	}
	require.Equal(t, 2, l.len())
	// At t0+10s idle has refilled (indistinguishable from a new sender);
	// busy is back to 5 of 10 tokens, which a new bucket would forget.
	require.Equal(t, 1, l.sweep(t0.Add(10*time.Second)))
	require.Equal(t, 1, l.len())
	for range 5 {
		require.NoError(t, l.allow(busy, t0.Add(10*time.Second)))
	}
	require.ErrorIs(t, l.allow(busy, t0.Add(10*time.Second)), ErrRateLimited)
}

func TestStoreLimiterBounded(t *testing.T) {
	l := newStoreLimiter(1, 10)
	t0 := time.Unix(1000, 0)
	// Fill the limiter with drained buckets, as many flooding senders
	// between two sweeps would.
	for i := range maxStoreBuckets {
		id := security.NodeID{byte(i), byte(i >> 8), 1}
		l.buckets[id] = &tokenBucket{tokens: 0, last: t0}
	}
	for i := range 100 {
		require.NoError(t, l.allow(security.NodeID{byte(i), 2}, t0), "a new sender is served")
		require.LessOrEqual(t, l.len(), maxStoreBuckets)
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
		{"Inf", math.Inf(1), 0, false, math.Inf(1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := New(Config{Realm: testRealm, Identity: id, Querier: q, StoreRate: tc.rate, StoreBurst: tc.burst})
			require.NoError(t, err)
			defer d.Close()
			require.Equal(t, tc.wantRate, d.cfg.StoreRate)
			require.Equal(t, tc.limited, d.limiter != nil)
			if tc.burst == 0 {
				require.Equal(t, DefaultStoreBurst, d.cfg.StoreBurst)
			}
			if !tc.limited {
				for range 10 * DefaultStoreBurst {
					require.NoError(t, d.limiter.allow(security.NodeID{1}, time.Now()))
				}
			}
		})
	}
	for name, edit := range map[string]func(*Config){
		"negative rate":  func(c *Config) { c.StoreRate = -1 },
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
