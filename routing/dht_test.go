package routing

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/org/macula/security"
)

// TestConfigDefaults fails when a Config field has no default.
func TestConfigDefaults(t *testing.T) {
	id := newIdentity(t)
	cfg, err := Config{Realm: testRealm, Identity: id, Querier: newMemNet().querier(id.ID())}.withDefaults()
	require.NoError(t, err)
	v := reflect.ValueOf(cfg)
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		if name == "Self" {
			continue // Addrs may stay empty
		}
		require.False(t, v.Field(i).IsZero(), "Config.%s has no default", name)
	}
	require.Equal(t, id.ID(), cfg.Self.ID)
	require.Equal(t, DefaultK, cfg.K)
	require.Equal(t, DefaultAlpha, cfg.Alpha)
	require.Equal(t, DefaultWatchPeers, cfg.WatchPeers)
	require.Equal(t, DefaultTTL, cfg.TTL)
	require.Equal(t, DefaultQueryTimeout, cfg.QueryTimeout)
	require.Equal(t, DefaultMaxRecordsPerKey, cfg.MaxRecordsPerKey)
	require.Equal(t, DefaultMaxRecordsPerOwner, cfg.MaxRecordsPerOwner)
	require.Equal(t, DefaultRefreshInterval, cfg.RefreshInterval)
	require.Equal(t, DefaultStoreRate, cfg.StoreRate)
	require.Equal(t, DefaultStoreBurst, cfg.StoreBurst)
	require.NoError(t, cfg.AuthorizeStore(cfg.Self, newTestRecord(t, id, KindSub, "a", "", 1)), "every record is allowed")
}

func TestConfigInvalid(t *testing.T) {
	id := newIdentity(t)
	q := newMemNet().querier(id.ID())
	for name, edit := range map[string]func(*Config){
		"no identity":          func(c *Config) { c.Identity = nil },
		"other self":           func(c *Config) { c.Self.ID = newIdentity(t).ID() },
		"bad realm":            func(c *Config) { c.Realm = "Not A Realm" },
		"no querier":           func(c *Config) { c.Querier = nil },
		"negative K":           func(c *Config) { c.K = -1 },
		"alpha above K":        func(c *Config) { c.K, c.Alpha = 2, 3 },
		"watch peers above K":  func(c *Config) { c.K, c.Alpha, c.WatchPeers = 2, 2, 3 },
		"negative watch peers": func(c *Config) { c.WatchPeers = -1 },
		"negative TTL":         func(c *Config) { c.TTL = -time.Second },
		"TTL too long":         func(c *Config) { c.TTL = MaxRecordLifetime + 1 },
		"negative limit":       func(c *Config) { c.MaxRecordsPerOwner = -5 },
		"negative timer":       func(c *Config) { c.RefreshInterval = -1 },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := Config{Realm: testRealm, Identity: id, Querier: q}
			edit(&cfg)
			_, err := New(cfg)
			require.ErrorIs(t, err, ErrInvalidConfig)
		})
	}
}

func TestSingleNode(t *testing.T) {
	c := newCluster(t, 1, nil)
	d := c.nodes[0]
	ctx := context.Background()
	require.ErrorIs(t, d.Bootstrap(ctx), ErrNoPeers)
	rec, err := d.NewRecord(KindRPC, "svc.echo", []byte("me"))
	require.NoError(t, err)
	require.NoError(t, d.Put(ctx, rec))
	got, err := d.Get(ctx, rec.Key)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "me", string(got[0].Value))
	// Get returns copies.
	got[0].Value[0] = 'X'
	got, err = d.Get(ctx, rec.Key)
	require.NoError(t, err)
	require.Equal(t, "me", string(got[0].Value))
	none, err := d.Get(ctx, KeyFor(testRealm, KindRPC, "nobody"))
	require.NoError(t, err)
	require.Empty(t, none)
}

func TestPutGetRemove(t *testing.T) {
	c := newCluster(t, 30, func(cfg *Config) { cfg.K = 5 })
	c.bootstrap(t, 3, 2)
	ctx := context.Background()
	owner := c.nodes[0]
	rec, err := owner.NewRecord(KindSub, "orders", []byte("v1"))
	require.NoError(t, err)
	require.NoError(t, owner.Put(ctx, rec))

	// Stored on K nodes, counting the owner if it is among the closest.
	holders := 0
	for _, d := range c.nodes {
		if len(d.store.get(rec.Key, time.Now())) > 0 {
			holders++
		}
	}
	require.Equal(t, 5, holders)

	for _, d := range c.nodes {
		got, err := d.Get(ctx, rec.Key)
		require.NoError(t, err)
		require.Len(t, got, 1, "from %s", d.Self().ID.Short())
		require.Equal(t, "v1", string(got[0].Value))
		require.Equal(t, owner.Self().ID, got[0].Owner)
	}

	// A new version replaces the old one.
	rec2, err := owner.NewRecord(KindSub, "orders", []byte("v2"))
	require.NoError(t, err)
	require.Greater(t, rec2.Seq, rec.Seq)
	require.NoError(t, owner.Put(ctx, rec2))
	got, err := c.nodes[7].Get(ctx, rec.Key)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "v2", string(got[0].Value))

	// The older one is refused now.
	require.ErrorIs(t, owner.Put(ctx, rec), ErrStale)

	require.NoError(t, owner.Remove(ctx, KindSub, "orders"))
	for _, d := range c.nodes {
		got, err := d.Get(ctx, rec.Key)
		require.NoError(t, err)
		require.Empty(t, got)
	}
	require.ErrorIs(t, owner.Remove(ctx, KindSub, "orders"), ErrNotFound)
	require.Empty(t, owner.ownRecords())

	// Publishing again after a removal works.
	rec3, err := owner.NewRecord(KindSub, "orders", []byte("v3"))
	require.NoError(t, err)
	require.NoError(t, owner.Put(ctx, rec3))
	got, err = c.nodes[9].Get(ctx, rec.Key)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "v3", string(got[0].Value))
}

func TestGetManyOwners(t *testing.T) {
	c := newCluster(t, 40, nil)
	c.bootstrap(t, 3, 2)
	ctx := context.Background()
	key := KeyFor(testRealm, KindSub, "events")
	for i, d := range c.nodes[:10] {
		rec, err := d.NewRecord(KindSub, "events", []byte(fmt.Sprint(i)))
		require.NoError(t, err)
		require.NoError(t, d.Put(ctx, rec))
	}
	// Node 3 updates its record; node 4 withdraws.
	rec, err := c.nodes[3].NewRecord(KindSub, "events", []byte("3b"))
	require.NoError(t, err)
	require.NoError(t, c.nodes[3].Put(ctx, rec))
	require.NoError(t, c.nodes[4].Remove(ctx, KindSub, "events"))

	got, stats, err := c.nodes[39].GetWithStats(ctx, key)
	require.NoError(t, err)
	require.Len(t, got, 9)
	require.Positive(t, stats.Hops)
	require.Positive(t, stats.Queried)
	values := map[security.NodeID]string{}
	for i, r := range got {
		values[r.Owner] = string(r.Value)
		if i > 0 {
			require.Negative(t, got[i-1].Owner.Compare(r.Owner), "sorted by owner")
		}
	}
	require.Equal(t, "3b", values[c.nodes[3].Self().ID])
	require.NotContains(t, values, c.nodes[4].Self().ID)
	require.Equal(t, "9", values[c.nodes[9].Self().ID])
}

func TestPutRefused(t *testing.T) {
	c := newCluster(t, 2, nil)
	ctx := context.Background()
	other := newIdentity(t)
	rec := newTestRecord(t, other, KindSub, "a", "", 1)
	require.ErrorIs(t, c.nodes[0].Put(ctx, rec), ErrInvalidRecord)
	require.ErrorIs(t, c.nodes[0].Put(ctx, nil), ErrInvalidRecord)
	wrongRealm, err := NewRecord("org.example.other", KindSub, "a", nil, time.Minute, 1, c.ids[0])
	require.NoError(t, err)
	require.ErrorIs(t, c.nodes[0].Put(ctx, wrongRealm), ErrWrongKey)
}

func TestHandleStoreVerifies(t *testing.T) {
	c := newCluster(t, 1, func(cfg *Config) { cfg.MaxRecordsPerKey = 2 })
	d := c.nodes[0]
	from := Contact{ID: newIdentity(t).ID()}
	a, b := newIdentity(t), newIdentity(t)
	good := newTestRecord(t, a, KindSub, "t", "v", 1)

	require.NoError(t, d.HandleStore(from, good))
	require.True(t, d.table.contains(from.ID), "the sender joins the table")

	forged := resign(good, b, func(r *Record) { r.Seq = 2 })
	require.ErrorIs(t, d.HandleStore(from, forged), ErrBadSignature)
	impostor := resign(good, b, func(r *Record) { r.Seq = 2; r.OwnerKey = b.PublicKey() })
	require.ErrorIs(t, d.HandleStore(from, impostor), ErrBadSignature)
	expired := resign(good, a, func(r *Record) { r.Seq = 2; r.Expires = unixNano(time.Now().Add(-time.Second).UnixNano()) })
	require.ErrorIs(t, d.HandleStore(from, expired), ErrExpired)
	otherRealm, err := NewRecord("org.example.other", KindSub, "t", nil, time.Minute, 2, a)
	require.NoError(t, err)
	require.ErrorIs(t, d.HandleStore(from, otherRealm), ErrWrongKey)
	require.ErrorIs(t, d.HandleStore(from, nil), ErrInvalidRecord)

	require.ErrorIs(t, d.HandleStore(from, newTestRecord(t, a, KindSub, "t", "old", 0)), ErrStale)
	require.NoError(t, d.HandleStore(from, newTestRecord(t, b, KindSub, "t", "", 1)))
	require.ErrorIs(t, d.HandleStore(from, newTestRecord(t, newIdentity(t), KindSub, "t", "", 1)), ErrLimit)

	recs, _ := d.HandleFindValue(from, good.Key)
	require.Len(t, recs, 2)
}

func TestHandleFindNode(t *testing.T) {
	c := newCluster(t, 1, func(cfg *Config) { cfg.K = 4 })
	d := c.nodes[0]
	var peers []Contact
	for range 10 {
		p := Contact{ID: newIdentity(t).ID(), Addrs: []string{"x:1"}}
		peers = append(peers, p)
		d.AddPeer(p)
	}
	d.AddPeer(d.Self())  // ignored
	d.AddPeer(Contact{}) // ignored
	routes := d.Routes()
	require.GreaterOrEqual(t, len(routes), 4)
	require.LessOrEqual(t, len(routes), 10, "full buckets refuse new peers")
	for _, r := range routes {
		require.Contains(t, peers, r)
	}
	target := KeyFor(testRealm, KindRPC, "x")
	want := d.Closest(target, 4)
	require.Len(t, want, 4)
	require.Equal(t, want, d.HandleFindNode(Contact{}, target))
	// The asker is left out of the answer.
	got := d.HandleFindNode(want[0], target)
	require.NotContains(t, got, want[0])
	require.Len(t, got, 4)
	require.Equal(t, []string{"x:1"}, got[0].Addrs)
}

func TestFailedPeersAreDropped(t *testing.T) {
	c := newCluster(t, 20, nil)
	c.bootstrap(t, 3, 2)
	asker := c.nodes[0]
	var victim security.NodeID
	for _, p := range asker.Routes() {
		victim = p.ID
		break
	}
	c.net.kill(victim)
	_, stats, err := asker.FindClosest(context.Background(), KeyOf(victim))
	require.NoError(t, err)
	require.GreaterOrEqual(t, stats.Failed, 1)
	for _, p := range asker.Routes() {
		require.NotEqual(t, victim, p.ID)
	}
}

func TestLookupCancelled(t *testing.T) {
	c := newCluster(t, 10, nil)
	c.bootstrap(t, 3, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := c.nodes[0].FindClosest(ctx, KeyFor(testRealm, KindSub, "x"))
	require.ErrorIs(t, err, context.Canceled)
	// Nobody was blamed for our cancellation.
	require.Len(t, c.nodes[0].Routes(), 9)
}

func TestClosed(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.bootstrap(t, 2, 1)
	d := c.nodes[0]
	rec, err := d.NewRecord(KindSub, "a", nil)
	require.NoError(t, err)
	d.Start()
	require.NoError(t, d.Close())
	require.NoError(t, d.Close())
	d.Start() // no effect
	ctx := context.Background()
	require.ErrorIs(t, d.Put(ctx, rec), ErrClosed)
	require.ErrorIs(t, d.Put(ctx, rec), net.ErrClosed)
	_, err = d.Get(ctx, rec.Key)
	require.ErrorIs(t, err, ErrClosed)
	_, _, err = d.FindClosest(ctx, rec.Key)
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, d.Remove(ctx, KindSub, "a"), ErrClosed)
	require.ErrorIs(t, d.HandleStore(c.nodes[1].Self(), rec), ErrClosed)
	require.Nil(t, d.HandleFindNode(c.nodes[1].Self(), rec.Key))
}

func TestLoggerGetsRefusals(t *testing.T) {
	id := newIdentity(t)
	d, err := New(Config{Realm: testRealm, Identity: id, Querier: newMemNet().querier(id.ID()), Logger: zap.NewExample()})
	require.NoError(t, err)
	defer d.Close()
	err = d.HandleStore(Contact{}, &Record{Kind: "sub"})
	require.True(t, errors.Is(err, ErrInvalidRecord))
}
