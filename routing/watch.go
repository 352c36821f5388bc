package routing

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/org/macula/security"
)

const (
	// DefaultWatchLease is the lease [DHT.Watch] asks the storing nodes
	// for; it opens a new watch on each node when the lease ends.
	DefaultWatchLease = 60 * time.Second
	// MaxWatchLease is the longest lease [DHT.HandleWatch] grants; longer
	// requests are shortened to it.
	MaxWatchLease = 5 * time.Minute
	// MaxWatchersPerKey is how many watches of one key a node serves at
	// once; [DHT.HandleWatch] refuses more with [ErrLimit].
	MaxWatchersPerKey = 64
	// MaxWatchesPerPeer is how many watches of one peer a node serves at
	// once; [DHT.HandleWatch] refuses more with [ErrLimit].
	MaxWatchesPerPeer = 1024

	// watchRetry is how long DHT.Watch waits before asking a storing node
	// again after a watch of it failed.
	watchRetry = time.Second
)

// ErrWatchUnsupported is returned by [DHT.Watch] when [Config].Querier
// does not implement [Watcher].
var ErrWatchUnsupported = errors.New("macula: dht querier cannot watch")

// Watcher is implemented by a [Querier] that can also open watches on
// remote nodes; [QUICQuerier] does. [DHT.Watch] needs it.
type Watcher interface {
	// Watch asks to to push the records it stores under key whenever
	// they change, for lease. It calls onEvent with the records (verified
	// for the realm or not: the DHT verifies them again), first the
	// current ones, and returns nil when to ends the watch at the lease
	// end, or an error when ctx ends or the watch fails. onEvent is called
	// from one goroutine at a time and owns the records it is given.
	Watch(ctx context.Context, to Contact, key Key, lease time.Duration, onEvent func([]*Record)) error
}

// watchHub keeps the watches this node serves, per key and per peer.
type watchHub struct {
	mu      sync.Mutex
	byKey   map[Key]map[*watch]struct{}
	perPeer map[security.NodeID]int
}

// watch is one watch served: a wake-up signal for a change of its key.
type watch struct {
	from    security.NodeID
	changed chan struct{}
}

func newWatchHub() *watchHub {
	return &watchHub{byKey: make(map[Key]map[*watch]struct{}), perPeer: make(map[security.NodeID]int)}
}

// add registers a watch of key by from, within the limits.
func (h *watchHub) add(from security.NodeID, key Key) (*watch, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ws := h.byKey[key]
	if len(ws) >= MaxWatchersPerKey {
		return nil, fmt.Errorf("%w: key %s already has %d watchers", ErrLimit, key, len(ws))
	}
	if n := h.perPeer[from]; n >= MaxWatchesPerPeer {
		return nil, fmt.Errorf("%w: peer %s already has %d watches", ErrLimit, from.Short(), n)
	}
	if ws == nil {
		ws = make(map[*watch]struct{})
		h.byKey[key] = ws
	}
	w := &watch{from: from, changed: make(chan struct{}, 1)}
	ws[w] = struct{}{}
	h.perPeer[from]++
	return w, nil
}

// remove unregisters w, a watch of key.
func (h *watchHub) remove(key Key, w *watch) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ws := h.byKey[key]
	if _, ok := ws[w]; !ok {
		return
	}
	delete(ws, w)
	if len(ws) == 0 {
		delete(h.byKey, key)
	}
	if h.perPeer[w.from]--; h.perPeer[w.from] <= 0 {
		delete(h.perPeer, w.from)
	}
}

// notify wakes every watch of key.
func (h *watchHub) notify(key Key) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.byKey[key] {
		select {
		case w.changed <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
}

// count returns the number of watches served.
func (h *watchHub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, ws := range h.byKey {
		n += len(ws)
	}
	return n
}

// HandleWatch serves a WATCH from a peer: it calls push with the live
// records this node stores under key (as [DHT.HandleFindValue] returns
// them, tombstones included) at once and then whenever they change (a
// record stored or replaced, a tombstone, an expiry swept), until the
// lease ends (it then returns nil), ctx ends (its error), push fails (that
// error) or the DHT closes ([ErrClosed]). A lease of zero or less means
// [DefaultWatchLease]; leases are capped at [MaxWatchLease]. Beyond
// [MaxWatchersPerKey] watches of key or [MaxWatchesPerPeer] watches of the
// peer it fails at once with [ErrLimit], and over the peer's watch rate
// ([Config].WatchRate) with [ErrRateLimited]. push runs on the calling
// goroutine and must not modify the records. The peer is added to the
// table.
func (d *DHT) HandleWatch(ctx context.Context, from Contact, key Key, lease time.Duration, push func([]*Record) error) error {
	if d.isClosed() {
		return ErrClosed
	}
	if from.ID != d.cfg.Self.ID {
		if err := d.admit(d.limits.watch, from.ID); err != nil {
			return err
		}
		d.AddPeer(from)
	}
	if lease <= 0 {
		lease = DefaultWatchLease
	}
	lease = min(lease, MaxWatchLease)
	w, err := d.watches.add(from.ID, key)
	if err != nil {
		return err
	}
	defer d.watches.remove(key, w)
	end := time.NewTimer(lease)
	defer end.Stop()
	for {
		if err := push(d.store.get(key, time.Now())); err != nil {
			return err
		}
		select {
		case <-w.changed:
		case <-end.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-d.ctx.Done():
			return ErrClosed
		}
	}
}

// storeLocal keeps rec in this node's store and wakes the watches of its
// key if it changed the store.
func (d *DHT) storeLocal(rec *Record) error {
	kept, err := d.store.put(rec)
	if kept {
		d.watches.notify(rec.Key)
	}
	return err
}

// watchEvent is what one storing node reported to DHT.Watch.
type watchEvent struct {
	source int
	from   Contact // the storing node: this one for source 0
	recs   []*Record
}

// Watch watches key: it finds the K nodes closest to key (see
// [DHT.FindClosest]) and asks the [Config].WatchPeers closest of them, and
// this node, to push the records they store under key whenever these
// change, for [DefaultWatchLease] at a time, renewed until ctx ends. It merges what
// they push like [DHT.Get] (verified records that other nodes push must
// pass [Config].AuthorizeAnswer, one per owner with the highest Seq,
// tombstones hiding what they replace) and sends the merged
// live records, sorted by owner, on the returned channel: first once every
// watched node has answered (or [Config].QueryTimeout has passed, so an
// unreachable node does not hold it up), so that the first set is as
// complete as a [DHT.Get], then each time the set changes. A receiver that
// falls behind only misses intermediate sets: the channel holds the
// latest. The channel is closed when ctx ends or the DHT closes. The
// nodes watched are those closest when Watch is called.
//
// Watch fails with [ErrClosed], [ErrWatchUnsupported] if [Config].Querier
// is no [Watcher], and the errors of [DHT.FindClosest].
func (d *DHT) Watch(ctx context.Context, key Key) (<-chan []*Record, error) {
	if d.isClosed() {
		return nil, ErrClosed
	}
	wq, ok := d.cfg.Querier.(Watcher)
	if !ok {
		return nil, ErrWatchUnsupported
	}
	peers, _, err := d.FindClosest(ctx, key)
	if err != nil {
		return nil, err
	}
	peers = peers[:min(len(peers), d.cfg.WatchPeers)]
	ctx, cancel := d.bind(ctx)
	events := make(chan watchEvent)
	out := make(chan []*Record, 1)
	var sources sync.WaitGroup
	emit := func(i int, from Contact) func([]*Record) {
		return func(recs []*Record) {
			select {
			case events <- watchEvent{source: i, from: from, recs: recs}:
			case <-ctx.Done():
			}
		}
	}
	// source starts one source of the watch; sources is local to this
	// watch, so that its merger knows when every source has returned.
	source := func(f func()) bool {
		sources.Add(1)
		if !d.life.Go(func() { defer sources.Done(); f() }) {
			sources.Done()
			return false
		}
		return true
	}
	// Source 0 is this node's own store.
	ok = source(func() {
		self := d.Self()
		send := emit(0, self)
		for ctx.Err() == nil {
			err := d.HandleWatch(ctx, self, key, DefaultWatchLease, func(recs []*Record) error {
				send(recs)
				return nil
			})
			if err != nil {
				sleepCtx(ctx, watchRetry)
			}
		}
	})
	for i, p := range peers {
		ok = ok && source(func() { d.watchPeer(ctx, wq, p, key, emit(i+1, p)) })
	}
	ok = ok && d.life.Go(func() {
		defer close(out)
		defer cancel()
		d.mergeWatch(ctx, key, len(peers)+1, events, out)
		sources.Wait()
	})
	if !ok {
		// Refused: Close has begun, so ctx (bound to the DHT's) is ending
		// and the sources that did start return; cancel ends them now.
		cancel()
		return nil, ErrClosed
	}
	return out, nil
}

// watchPeer keeps a watch of key open on p until ctx ends, renewing it at
// each lease end and retrying after a failure.
func (d *DHT) watchPeer(ctx context.Context, wq Watcher, p Contact, key Key, send func([]*Record)) {
	for ctx.Err() == nil {
		err := wq.Watch(ctx, p, key, DefaultWatchLease, send)
		if err == nil || ctx.Err() != nil {
			continue
		}
		d.log.Debug("dht watch failed", zap.String("peer", p.ID.Short()), zap.Error(err))
		sleepCtx(ctx, watchRetry)
	}
}

// sleepCtx waits for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// mergeWatch merges the events of the n sources of a watch of key and
// sends each new merged set on out, until ctx ends. The first set waits
// until every source has reported or the query timeout has passed.
func (d *DHT) mergeWatch(ctx context.Context, key Key, n int, events <-chan watchEvent, out chan []*Record) {
	latest := make(map[int]watchEvent)
	var sent []*Record
	first := true
	settle := time.NewTimer(d.cfg.QueryTimeout)
	defer settle.Stop()
	settled := false
	for {
		select {
		case ev := <-events:
			latest[ev.source] = ev
		case <-settle.C:
			settled = true
		case <-ctx.Done():
			return
		}
		if first && !settled && len(latest) < n {
			continue
		}
		if first && len(latest) == 0 {
			continue
		}
		now := time.Now()
		best := make(map[security.NodeID]*Record)
		for _, ev := range latest {
			for _, r := range ev.recs {
				if r == nil || r.Key != key {
					continue
				}
				if old, ok := best[r.Owner]; ok && !r.supersedes(old) {
					continue
				}
				if d.acceptAnswer(ev.from, r, now) != nil {
					continue
				}
				best[r.Owner] = r
			}
		}
		merged := make([]*Record, 0, len(best))
		for _, r := range best {
			if !r.Tombstone {
				merged = append(merged, r)
			}
		}
		slices.SortFunc(merged, func(a, b *Record) int { return a.Owner.Compare(b.Owner) })
		if !first && sameRecords(sent, merged) {
			continue
		}
		first = false
		sent = merged
		copies := make([]*Record, len(merged))
		for i, r := range merged {
			copies[i] = r.clone()
		}
		// Keep only the latest set in out; this goroutine is its only
		// sender, so after the drain there is room.
		select {
		case out <- copies:
		default:
			select {
			case <-out:
			default:
			}
			out <- copies
		}
	}
}

// sameRecords reports whether a and b, sorted by owner, hold the same
// versions of the same owners' records.
func sameRecords(a, b []*Record) bool {
	return slices.EqualFunc(a, b, func(x, y *Record) bool {
		return x.Owner == y.Owner && x.Seq == y.Seq && x.Tombstone == y.Tombstone
	})
}
