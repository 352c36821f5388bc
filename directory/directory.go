package directory

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/org/macula/internal/lifecycle"
	"github.com/org/macula/routing"
	"github.com/org/macula/security"
)

// Source is where the cache reads records; *routing.DHT implements it.
type Source interface {
	// Watch sends the live records under key on the returned channel,
	// first a complete set and then each change, until ctx ends.
	Watch(ctx context.Context, key routing.Key) (<-chan []*routing.Record, error)
}

var _ Source = (*routing.DHT)(nil)

// Defaults of [Config].
const (
	// DefaultIdleTimeout is how long an entry stays cached without a
	// lookup.
	DefaultIdleTimeout = 5 * time.Minute
	// DefaultRenew is how often an entry's watch starts afresh.
	DefaultRenew = time.Minute
	// DefaultMaxEntries bounds the number of keys watched at once.
	DefaultMaxEntries = 4096
)

// Config configures a Cache. Source is required; every other field has a
// default. Negative numbers are invalid.
type Config struct {
	// Source is watched for records; required.
	Source Source
	// IdleTimeout drops an entry not looked up for this long; default
	// [DefaultIdleTimeout].
	IdleTimeout time.Duration
	// Renew is how often an entry's watch is started afresh, from a new
	// lookup of the nodes that store the key; default [DefaultRenew]. A
	// watch that reports no record is started afresh sooner: after 2 s,
	// doubling while it stays empty, up to Renew.
	Renew time.Duration
	// MaxEntries bounds the number of keys watched at once; the least
	// recently used entry goes first. Default [DefaultMaxEntries].
	MaxEntries int
	// Logger receives debug logs of failed watches; default no-op.
	Logger *zap.Logger
}

// Cache is a watched cache of DHT records. It is safe for concurrent use.
type Cache struct {
	cfg Config
	log *zap.Logger

	// life owns one watch goroutine per entry; ctx is its context, which
	// ends at Close.
	life lifecycle.Group
	ctx  context.Context

	mu      sync.Mutex
	entries map[routing.Key]*entry
	down    map[security.NodeID]struct{}
	closed  bool

	// gen counts the changes that can make a lookup answer differently;
	// it is bumped under mu.
	gen atomic.Uint64
}

// entry is one watched key. recs is set before ready is closed, and
// changed under Cache.mu afterwards.
type entry struct {
	key      routing.Key
	ready    chan struct{}
	err      error
	recs     []*routing.Record
	lastUsed time.Time
	cancel   context.CancelFunc
}

// New returns a running Cache; Close stops its watches. Errors wrap
// [ErrInvalidConfig].
func New(cfg Config) (*Cache, error) {
	switch {
	case cfg.Source == nil:
		return nil, fmt.Errorf("%w: no source", ErrInvalidConfig)
	case cfg.IdleTimeout < 0 || cfg.Renew < 0 || cfg.MaxEntries < 0:
		return nil, fmt.Errorf("%w: negative IdleTimeout, Renew or MaxEntries", ErrInvalidConfig)
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.Renew <= 0 {
		cfg.Renew = DefaultRenew
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	c := &Cache{
		cfg:     cfg,
		log:     log,
		entries: make(map[routing.Key]*entry),
		down:    make(map[security.NodeID]struct{}),
	}
	c.ctx = c.life.Context()
	return c, nil
}

// Close stops every watch and waits for their goroutines. It is
// idempotent.
func (c *Cache) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.life.StopAndWait()
}

// SetDown hides (down true) or shows again (down false) the records owned
// by id, for a member that died or left and one that came back.
func (c *Cache) SetDown(id security.NodeID, down bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, was := c.down[id]
	if was == down {
		return
	}
	if down {
		c.down[id] = struct{}{}
	} else {
		delete(c.down, id)
	}
	c.gen.Add(1)
}

// Generation returns a number that changes whenever a lookup could answer
// differently than before: when the records of a cached key change, an
// entry is dropped or an owner is marked down or up. A reader may keep
// what it derived from lookups while Generation returns the same number;
// it must still look the keys up now and then (not only read what it
// kept), or their entries go idle and are dropped. It is cheap: one
// atomic load.
func (c *Cache) Generation() uint64 { return c.gen.Load() }

// IsDown reports whether id is marked down.
func (c *Cache) IsDown(id security.NodeID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.down[id]
	return ok
}

// Lookup returns the live records under key whose owners are not marked
// down, sorted by owner. The records are shared: do not modify them. The
// first lookup of a key waits, bounded by ctx, for the watch's first set;
// it fails with the watch's error (and the next lookup tries again) or
// ctx's.
func (c *Cache) Lookup(ctx context.Context, key routing.Key) ([]*routing.Record, error) {
	var out []*routing.Record
	err := c.LookupEach(ctx, []routing.Key{key}, func(_ int, recs []*routing.Record) { out = recs })
	return out, err
}

// LookupEach looks up every key like Lookup, starting the watches of the
// keys not cached yet all at once, and calls fn with each key's index and
// records, in order. It stops at the first error.
func (c *Cache) LookupEach(ctx context.Context, keys []routing.Key, fn func(i int, recs []*routing.Record)) error {
	entries := make([]*entry, len(keys))
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	now := time.Now()
	for i, key := range keys {
		e, ok := c.entries[key]
		if !ok {
			e = c.startLocked(key)
		}
		e.lastUsed = now
		entries[i] = e
	}
	c.mu.Unlock()
	for i, e := range entries {
		select {
		case <-e.ready:
		case <-ctx.Done():
			return ctx.Err()
		}
		if e.err != nil {
			return e.err
		}
		c.mu.Lock()
		out := make([]*routing.Record, 0, len(e.recs))
		for _, r := range e.recs {
			if _, d := c.down[r.Owner]; !d {
				out = append(out, r)
			}
		}
		c.mu.Unlock()
		fn(i, out)
	}
	return nil
}

// Len is the number of keys cached.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// startLocked adds an entry for key and starts its watch goroutine,
// evicting the least recently used entry when full.
func (c *Cache) startLocked(key routing.Key) *entry {
	if len(c.entries) >= c.cfg.MaxEntries {
		var oldest *entry
		for _, o := range c.entries {
			if oldest == nil || o.lastUsed.Before(oldest.lastUsed) {
				oldest = o
			}
		}
		c.dropLocked(oldest)
	}
	ctx, cancel := context.WithCancel(c.ctx)
	e := &entry{key: key, ready: make(chan struct{}), cancel: cancel}
	c.entries[key] = e
	if !c.life.Go(func() {
		defer cancel()
		c.run(ctx, e)
	}) {
		// Not while the caller holds mu and saw the Cache open: Close
		// marks it closed under mu before it stops life. Handled anyway,
		// as a lookup of a closed Cache.
		cancel()
		delete(c.entries, key)
		e.err = ErrClosed
		close(e.ready)
	}
	return e
}

// dropLocked removes e and stops its watch.
func (c *Cache) dropLocked(e *entry) {
	if c.entries[e.key] == e {
		delete(c.entries, e.key)
	}
	e.cancel()
	c.gen.Add(1)
}

// run keeps e's watch going until ctx ends or e goes idle: each round
// watches key for Renew, then starts again from a new lookup.
func (c *Cache) run(ctx context.Context, e *entry) {
	first := true
	emptyWait := emptyRenew
	defer func() {
		if first {
			// Closed before the first set: release the waiting lookups.
			e.err = ErrClosed
			close(e.ready)
		}
	}()
	for ctx.Err() == nil {
		c.mu.Lock()
		idle := time.Since(e.lastUsed) > c.cfg.IdleTimeout
		if idle {
			c.dropLocked(e)
		}
		c.mu.Unlock()
		if idle {
			return
		}
		empty, err := c.watchRound(ctx, e, &first, emptyWait)
		if empty {
			emptyWait = min(2*emptyWait, c.cfg.Renew)
		} else {
			emptyWait = emptyRenew
		}
		if err != nil && first {
			// The first lookup failed: report it and forget the entry,
			// so that the next Lookup tries again.
			c.mu.Lock()
			e.err = err
			c.dropLocked(e)
			c.mu.Unlock()
			first = false
			close(e.ready)
			return
		}
		if err != nil {
			c.log.Debug("directory watch failed", zap.Error(err))
			sleep(ctx, time.Second)
		}
	}
}

// emptyRenew is how long an entry's watch may report no record before it
// is started afresh, doubling while it stays empty, up to Renew. Someone
// looks the key up, so an empty set more likely means the watch went to
// the wrong nodes than that there is no record: a node that has just
// (re)started looks up with a routing table still filling, and its watch
// then sits on nodes that never get the record. Waiting a whole Renew
// left a restarted caller without providers for a minute (found by the
// chaos suite).
const emptyRenew = 2 * time.Second

// watchRound watches e's key for one Renew period, storing each set; if
// the set stays empty for emptyWait, it ends the round early and reports
// empty.
func (c *Cache) watchRound(ctx context.Context, e *entry, first *bool, emptyWait time.Duration) (empty bool, err error) {
	wctx, cancel := context.WithTimeout(ctx, c.cfg.Renew)
	defer cancel()
	ch, err := c.cfg.Source.Watch(wctx, e.key)
	if err != nil {
		return false, err
	}
	var renew *time.Timer
	defer func() {
		if renew != nil {
			renew.Stop()
		}
	}()
	for recs := range ch {
		switch {
		case len(recs) == 0 && renew == nil:
			renew = time.AfterFunc(emptyWait, cancel)
		case len(recs) > 0 && renew != nil:
			renew.Stop()
			renew = nil
		}
		empty = len(recs) == 0
		slices.SortFunc(recs, func(a, b *routing.Record) int { return a.Owner.Compare(b.Owner) })
		c.mu.Lock()
		if !sameRecords(e.recs, recs) {
			// A renewed watch sends the same set again: no change.
			c.gen.Add(1)
		}
		e.recs = recs
		c.mu.Unlock()
		if *first {
			*first = false
			close(e.ready)
		}
	}
	if *first && ctx.Err() == nil {
		return false, fmt.Errorf("macula: directory: watch ended before its first set")
	}
	return empty, nil
}

// sameRecords reports whether a and b, sorted by owner, hold the same
// versions of the same owners' records with the same values.
func sameRecords(a, b []*routing.Record) bool {
	return slices.EqualFunc(a, b, func(x, y *routing.Record) bool {
		return x == y || (x.Owner == y.Owner && x.Seq == y.Seq && x.Tombstone == y.Tombstone && bytes.Equal(x.Value, y.Value))
	})
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
