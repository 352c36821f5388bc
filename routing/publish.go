package routing

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
)

// NewRecord returns a record of this node, named name of the given kind in
// the DHT's realm, holding value, signed with [Config].Identity to expire
// [Config].TTL from now. Its Seq is the current time in Unix nanoseconds,
// or one more than this node's record under the same key if that is
// higher, so it replaces every earlier record of this node, even one
// from before a restart (as long as the clock does not go back). Errors
// are those of the package-level [NewRecord].
func (d *DHT) NewRecord(kind, name string, value []byte) (*Record, error) {
	seq := uint64(time.Now().UnixNano())
	d.ownMu.Lock()
	if o, ok := d.own[KeyFor(d.cfg.Realm, kind, name)]; ok {
		seq = max(seq, o.rec.Seq+1)
	}
	d.ownMu.Unlock()
	return NewRecord(d.cfg.Realm, kind, name, value, d.cfg.TTL, seq, d.cfg.Identity)
}

// Put publishes rec, a record of this node (built by [NewRecord] or
// [DHT.NewRecord] with this node's identity): it finds the K nodes
// closest to rec.Key with an iterative lookup and stores rec on them, and
// on this node if it is among the K closest. It also remembers rec and,
// once started, republishes it every TTL/2, or sooner when rec expires
// within TTL/2 (re-signed to expire TTL later), until [DHT.Remove]; rec
// should live at least TTL/2 + TTL/10 so that no gap opens before the
// first republish.
//
// Put fails with an error wrapping [ErrInvalidRecord] if rec is not this
// node's, the errors of [Record.Verify], [ErrStale] if rec does not
// supersede the record this node published under the same key, and
// [ErrNoPeers] (together with the first store error) if no node stored
// it. rec is remembered even then, so a later republish may succeed.
// Lookup failures are those of [DHT.FindClosest]. The DHT keeps rec: do
// not modify it afterwards.
func (d *DHT) Put(ctx context.Context, rec *Record) error {
	if d.isClosed() {
		return ErrClosed
	}
	if rec == nil {
		return fmt.Errorf("%w: nil", ErrInvalidRecord)
	}
	if rec.Owner != d.cfg.Self.ID {
		return fmt.Errorf("%w: owner %s is not this node %s", ErrInvalidRecord, rec.Owner.Short(), d.cfg.Self.ID.Short())
	}
	now := time.Now()
	if err := rec.Verify(d.cfg.Realm, now); err != nil {
		return err
	}
	d.ownMu.Lock()
	if o, ok := d.own[rec.Key]; ok && !rec.supersedes(o.rec) && o.rec != rec {
		d.ownMu.Unlock()
		return fmt.Errorf("%w: already published seq %d, got seq %d", ErrStale, o.rec.Seq, rec.Seq)
	}
	d.own[rec.Key] = &ownRecord{rec: rec, published: now}
	d.ownMu.Unlock()
	return d.publish(ctx, rec)
}

// Remove withdraws this node's record of the given kind and name in the
// DHT's realm: it stops republishing it and publishes a tombstone (a
// record with Tombstone set and a higher Seq, expiring TTL from now),
// which hides the record from [DHT.Get] everywhere it reaches. It fails
// with [ErrNotFound] if this node has put no such record, and otherwise
// like [DHT.Put].
func (d *DHT) Remove(ctx context.Context, kind, name string) error {
	if d.isClosed() {
		return ErrClosed
	}
	key := KeyFor(d.cfg.Realm, kind, name)
	d.ownMu.Lock()
	o, ok := d.own[key]
	if ok {
		delete(d.own, key)
	}
	d.ownMu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s/%s", ErrNotFound, kind, name)
	}
	tomb := &Record{
		Key:       key,
		Kind:      kind,
		Name:      name,
		Owner:     d.cfg.Self.ID,
		OwnerKey:  d.cfg.Identity.PublicKey(),
		Seq:       max(uint64(time.Now().UnixNano()), o.rec.Seq+1),
		Expires:   unixNano(time.Now().Add(d.cfg.TTL).UnixNano()),
		Tombstone: true,
	}
	tomb.sign(d.cfg.Identity)
	return d.publish(ctx, tomb)
}

// publish stores rec on the K closest nodes to its key, this one
// included if it is among them.
func (d *DHT) publish(ctx context.Context, rec *Record) error {
	l, err := d.lookup(ctx, rec.Key, false)
	if err != nil {
		return err
	}
	targets := l.closest()
	selfDist := xor(d.selfPos, l.pos)
	selfIn := len(targets) < d.cfg.K || closer(selfDist, targets[len(targets)-1].dist)
	if selfIn && len(targets) == d.cfg.K {
		targets = targets[:d.cfg.K-1]
	}

	var (
		mu       sync.Mutex
		stored   int
		firstErr error
	)
	note := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			stored++
		} else if firstErr == nil {
			firstErr = err
		}
	}
	if selfIn {
		note(d.storeLocal(rec))
	}
	ctx, cancel := d.bind(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, c := range targets {
		wg.Go(func() {
			qctx, qcancel := context.WithTimeout(ctx, d.cfg.QueryTimeout)
			defer qcancel()
			err := d.cfg.Querier.Store(qctx, c.Contact, rec)
			if err != nil {
				d.log.Debug("dht store failed", zap.String("peer", c.ID.Short()), zap.Error(err))
			}
			note(err)
		})
	}
	wg.Wait()
	if stored > 0 {
		return nil
	}
	if d.isClosed() {
		return ErrClosed
	}
	if firstErr == nil {
		return fmt.Errorf("%w: %s/%s: no node found", ErrNoPeers, rec.Kind, rec.Name)
	}
	return fmt.Errorf("%w: %s/%s: %w", ErrNoPeers, rec.Kind, rec.Name, firstErr)
}

// Get runs an iterative FIND_VALUE for key and returns the live, verified
// records of every owner under it, this node's own store included: one per
// owner (the highest Seq), tombstones hiding the records they replace and
// never returned themselves. Records from other nodes' answers must also
// pass [Config].AuthorizeAnswer. The records are sorted by owner and are
// the caller's. No record is not an error: Get then returns an empty slice.
// Failures are those of [DHT.FindClosest].
func (d *DHT) Get(ctx context.Context, key Key) ([]*Record, error) {
	recs, _, err := d.GetWithStats(ctx, key)
	return recs, err
}

// GetWithStats is [DHT.Get] that also describes the lookup.
func (d *DHT) GetWithStats(ctx context.Context, key Key) ([]*Record, LookupStats, error) {
	l, err := d.lookup(ctx, key, true)
	if err != nil {
		return nil, LookupStats{}, err
	}
	for _, r := range d.store.get(key, l.now) {
		l.offer(r, Contact{ID: d.cfg.Self.ID})
	}
	l.closest() // sets stats.Hops
	out := make([]*Record, 0, len(l.records))
	for _, r := range l.records {
		if !r.Tombstone {
			out = append(out, r.clone())
		}
	}
	slices.SortFunc(out, func(a, b *Record) int { return a.Owner.Compare(b.Owner) })
	return out, l.stats, nil
}

// ownRecords returns this node's records.
func (d *DHT) ownRecords() map[Key]*ownRecord {
	d.ownMu.Lock()
	defer d.ownMu.Unlock()
	out := make(map[Key]*ownRecord, len(d.own))
	for k, o := range d.own {
		out[k] = &ownRecord{rec: o.rec, published: o.published}
	}
	return out
}
