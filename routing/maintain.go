package routing

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"
)

// maxRefreshCPL is the deepest bucket refreshed: finding a random key
// that shares cpl leading bits with this node takes about 2^(cpl+1)
// hashes. kbucket stops at the same depth.
const maxRefreshCPL = 15

// sweepInterval returns how often stored records are swept and own
// records checked for republishing.
func (d *DHT) sweepInterval() time.Duration {
	return max(d.cfg.TTL/10, time.Millisecond)
}

// maintain is the background loop started by Start.
func (d *DHT) maintain() {
	tick := time.NewTicker(d.sweepInterval())
	defer tick.Stop()
	lastRefresh := time.Now()
	for {
		select {
		case <-d.ctx.Done():
			return
		case now := <-tick.C:
			if n, keys := d.store.sweepKeys(now); n > 0 {
				d.log.Debug("dropped expired records", zap.Int("count", n))
				for _, k := range keys {
					d.watches.notify(k)
				}
			}
			d.suspects.prune(now)
			d.limits.sweep(now)
			d.republish(d.ctx, now, false)
			if now.Sub(lastRefresh) >= d.cfg.RefreshInterval {
				lastRefresh = now
				d.refresh(d.ctx)
			}
		}
	}
}

// republish re-signs this node's records that were published at least
// TTL/2 before now or expire within TTL/2 (all of them with force) to
// expire TTL after now, and publishes them, Alpha at a time.
func (d *DHT) republish(ctx context.Context, now time.Time, force bool) {
	sem := make(chan struct{}, d.cfg.Alpha)
	var wg sync.WaitGroup
	for key, o := range d.ownRecords() {
		due := now.Sub(o.published) >= d.cfg.TTL/2 || o.rec.Expires.Sub(now) <= d.cfg.TTL/2
		if !force && !due {
			continue
		}
		fresh := o.rec.clone()
		fresh.Expires = unixNano(now.Add(d.cfg.TTL).UnixNano())
		fresh.sign(d.cfg.Identity)
		d.ownMu.Lock()
		cur, ok := d.own[key]
		if !ok || cur.rec != o.rec {
			// Replaced or removed meanwhile.
			d.ownMu.Unlock()
			continue
		}
		d.own[key] = &ownRecord{rec: fresh, published: now}
		d.ownMu.Unlock()
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := d.publish(ctx, fresh); err != nil {
				d.log.Debug("republish failed", zap.String("kind", fresh.Kind), zap.String("name", fresh.Name), zap.Error(err))
			}
		})
	}
	wg.Wait()
}

// refresh looks this node up, then a random key in each bucket in use, so
// every bucket learns of live nodes.
func (d *DHT) refresh(ctx context.Context) {
	if _, _, err := d.FindClosest(ctx, KeyOf(d.cfg.Self.ID)); err != nil {
		return
	}
	for cpl := 0; cpl <= min(d.table.maxCommonPrefix(), maxRefreshCPL); cpl++ {
		if _, _, err := d.FindClosest(ctx, d.randomKeyAt(cpl)); err != nil {
			return
		}
	}
}

// randomKeyAt returns a random key whose position shares exactly cpl
// leading bits with this node's.
func (d *DHT) randomKeyAt(cpl int) Key {
	var k Key
	for {
		_, _ = rand.Read(k[:])
		if commonPrefixLen(keyPosition(k), d.selfPos) == cpl {
			return k
		}
	}
}

// queueHandoff queues a peer new in the table for runHandoff, once
// started.
func (d *DHT) queueHandoff(c Contact) {
	d.startMu.Lock()
	started := d.started
	d.startMu.Unlock()
	if !started {
		return
	}
	d.handoffMu.Lock()
	d.handoff = append(d.handoff, c)
	d.handoffMu.Unlock()
	select {
	case d.handoffWake <- struct{}{}:
	default:
	}
}

// runHandoff gives queued new peers the stored records they are now
// among the K closest nodes for (in this node's table).
func (d *DHT) runHandoff() {
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-d.handoffWake:
		}
		d.handoffMu.Lock()
		peers := d.handoff
		d.handoff = nil
		d.handoffMu.Unlock()
		for _, p := range peers {
			if d.ctx.Err() != nil {
				return
			}
			d.handOff(p)
		}
	}
}

// handOff stores on p every live record under the keys p is among the K
// closest peers to.
func (d *DHT) handOff(p Contact) {
	if !d.table.contains(p.ID) {
		return
	}
	for _, key := range d.store.storedKeys() {
		if !d.amongClosest(p, key) {
			continue
		}
		for _, rec := range d.store.get(key, time.Now()) {
			ctx, cancel := context.WithTimeout(d.ctx, d.cfg.QueryTimeout)
			err := d.cfg.Querier.Store(ctx, p, rec)
			cancel()
			if err != nil && (!isRefusal(err) || errors.Is(err, ErrRateLimited)) {
				// Unreachable, or it takes no more from this node for
				// now: do not wait on it for every other record. The
				// owners' republishing brings it the rest.
				d.log.Debug("hand-off failed", zap.String("peer", p.ID.Short()), zap.Error(err))
				return
			}
		}
	}
}

// amongClosest reports whether p is among the K nodes closest to key
// that this node knows of, this node included: a holder is itself one of
// the K copies, so it hands a record on only to a node that displaces the
// Kth, never to a K+1th.
func (d *DHT) amongClosest(p Contact, key Key) bool {
	pos := keyPosition(key)
	selfDist := xor(d.selfPos, pos)
	selfCounted := false
	slots := d.cfg.K
	for _, c := range d.table.closest(key, d.cfg.K) {
		if !selfCounted && closer(selfDist, xor(nodePosition(c.ID), pos)) {
			selfCounted = true
			slots--
		}
		if slots == 0 {
			return false
		}
		if c.ID == p.ID {
			return true
		}
		slots--
	}
	return false
}
