package routing

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/org/macula/security"
)

// LookupStats describes one iterative lookup.
type LookupStats struct {
	// Hops is the number of query rounds needed to reach the result: a
	// node taken from the local routing table is one hop away, a node
	// learned from the answer of a node h hops away is h+1 hops away (the
	// first path found counts), and Hops is the largest such distance
	// among the K closest nodes that answered. Zero when no node answered.
	Hops int
	// Queried is the number of queries sent.
	Queried int
	// Failed is the number of queries that failed or timed out; those
	// nodes were dropped from the routing table, and are not learned
	// again from other nodes' answers for a few minutes.
	Failed int
}

// candidate is a node a lookup knows of.
type candidate struct {
	Contact
	dist  position
	depth int
	state candidateState
}

type candidateState uint8

const (
	candidateNew candidateState = iota
	candidateAsked
	candidateAnswered
	candidateFailed
)

// queryAnswer is what one query of a lookup came back with.
type queryAnswer struct {
	cand     *candidate
	contacts []Contact
	records  []*Record
	err      error
	rtt      time.Duration
}

// lookup is the state of one iterative FIND_NODE or FIND_VALUE.
type lookup struct {
	d         *DHT
	target    Key
	pos       position
	wantValue bool
	now       time.Time

	cands []*candidate // sorted by distance to pos
	seen  map[security.NodeID]struct{}
	stats LookupStats

	// records keeps the best verified record per owner.
	records map[security.NodeID]*Record
}

// lookup runs an iterative lookup of target: it keeps Alpha queries in
// flight to the closest candidates not yet asked, each bounded by
// QueryTimeout, and ends when the K closest candidates that have not
// failed have all answered. Every contact learned is added to the routing
// table; nodes that fail are removed from it. With wantValue it sends
// FIND_VALUE and collects the verified records of target. It fails only
// when ctx ends or the DHT is closed.
func (d *DHT) lookup(ctx context.Context, target Key, wantValue bool) (*lookup, error) {
	if d.isClosed() {
		return nil, ErrClosed
	}
	ctx, cancel := d.bind(ctx)
	defer cancel()
	l := &lookup{
		d:         d,
		target:    target,
		pos:       keyPosition(target),
		wantValue: wantValue,
		now:       time.Now(),
		seen:      make(map[security.NodeID]struct{}),
	}
	if wantValue {
		l.records = make(map[security.NodeID]*Record)
	}
	for _, c := range d.table.closest(target, d.cfg.K) {
		l.learn(c, 1)
	}
	// Buffered for every query in flight, so a query goroutine can always
	// deliver its answer and end.
	answers := make(chan queryAnswer, d.cfg.Alpha)
	inFlight := 0
	for {
		for ctx.Err() == nil && inFlight < d.cfg.Alpha {
			c := l.next()
			if c == nil {
				break
			}
			c.state = candidateAsked
			l.stats.Queried++
			inFlight++
			go l.query(ctx, c, answers)
		}
		if inFlight == 0 {
			break
		}
		a := <-answers
		inFlight--
		l.handle(ctx, a)
	}
	if err := ctx.Err(); err != nil {
		if d.isClosed() {
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("macula: dht lookup of %s: %w", target, context.Cause(ctx))
	}
	return l, nil
}

// learn adds c as a candidate depth hops away unless it is known already
// or is this node. It reports whether c is new to the lookup.
func (l *lookup) learn(c Contact, depth int) bool {
	if c.ID == l.d.cfg.Self.ID || c.ID.IsZero() {
		return false
	}
	if _, ok := l.seen[c.ID]; ok {
		return false
	}
	l.seen[c.ID] = struct{}{}
	cand := &candidate{Contact: c, dist: xor(nodePosition(c.ID), l.pos), depth: depth}
	i, _ := slices.BinarySearchFunc(l.cands, cand, func(a, b *candidate) int {
		return compareDistance(a.dist, b.dist)
	})
	l.cands = slices.Insert(l.cands, i, cand)
	return true
}

// compareDistance orders distances like bytes.Compare.
func compareDistance(a, b position) int {
	switch {
	case closer(a, b):
		return -1
	case closer(b, a):
		return 1
	}
	return 0
}

// next returns the closest candidate not yet asked among the K closest
// that have not failed, or nil when there is none.
func (l *lookup) next() *candidate {
	n := 0
	for _, c := range l.cands {
		switch c.state {
		case candidateFailed:
			continue
		case candidateNew:
			return c
		}
		if n++; n >= l.d.cfg.K {
			return nil
		}
	}
	return nil
}

// query asks c and delivers the answer.
func (l *lookup) query(ctx context.Context, c *candidate, answers chan<- queryAnswer) {
	ctx, cancel := context.WithTimeout(ctx, l.d.cfg.QueryTimeout)
	defer cancel()
	a := queryAnswer{cand: c}
	start := time.Now()
	if l.wantValue {
		a.records, a.contacts, a.err = l.d.cfg.Querier.FindValue(ctx, c.Contact, l.target)
	} else {
		a.contacts, a.err = l.d.cfg.Querier.FindNode(ctx, c.Contact, l.target)
	}
	a.rtt = time.Since(start)
	answers <- a
}

// handle folds one answer into the lookup.
func (l *lookup) handle(ctx context.Context, a queryAnswer) {
	d := l.d
	if a.err != nil {
		a.cand.state = candidateFailed
		if ctx.Err() != nil {
			// Our own deadline or cancellation, not the peer's fault.
			return
		}
		l.stats.Failed++
		if busy(a.err) {
			// Alive, refusing our queries for its rate limits: it
			// stays in the table.
			d.log.Debug("dht query refused for a rate limit", zap.String("peer", a.cand.ID.Short()), zap.Error(a.err))
			return
		}
		d.log.Debug("dht query failed", zap.String("peer", a.cand.ID.Short()), zap.Error(a.err))
		d.peerFailed(a.cand.ID)
		return
	}
	a.cand.state = candidateAnswered
	d.AddPeer(a.cand.Contact)
	d.table.recordLatency(a.cand.ID, a.rtt)
	// A well-behaved node sends at most K contacts and, under one key, at
	// most its per-key limit of records: ignore anything beyond.
	for _, c := range a.contacts[:min(len(a.contacts), d.cfg.K)] {
		// A node that failed recently, in this lookup or another, is
		// not learned again from a table that still holds it.
		if d.suspects.has(c.ID, l.now) {
			continue
		}
		if l.learn(c, a.cand.depth+1) {
			d.addHeard(c)
		}
	}
	for _, r := range a.records[:min(len(a.records), d.cfg.MaxRecordsPerKey)] {
		l.offer(r, a.cand.Contact)
	}
}

// offer keeps r, from from's answer (or this node's store), if it is a
// valid record of the target that supersedes the one held from its owner
// and, from another node, one [Config].AuthorizeAnswer accepts.
func (l *lookup) offer(r *Record, from Contact) {
	if r == nil {
		return
	}
	if r.Key != l.target {
		l.d.log.Debug("dht answer holds a record of another key", zap.String("peer", from.ID.Short()))
		return
	}
	if old, ok := l.records[r.Owner]; ok && !r.supersedes(old) {
		return
	}
	if err := l.d.acceptAnswer(from, r, l.now); err != nil {
		l.d.log.Debug("dht answer holds a refused record", zap.String("peer", from.ID.Short()), zap.Error(err))
		return
	}
	l.records[r.Owner] = r
}

// closest returns the K closest candidates that answered, closest first,
// and sets stats.Hops from them.
func (l *lookup) closest() []*candidate {
	out := make([]*candidate, 0, l.d.cfg.K)
	for _, c := range l.cands {
		if c.state != candidateAnswered {
			continue
		}
		out = append(out, c)
		l.stats.Hops = max(l.stats.Hops, c.depth)
		if len(out) == l.d.cfg.K {
			break
		}
	}
	return out
}

// FindClosest runs an iterative FIND_NODE for target and returns the K
// closest nodes that answered, closest first (this node is never among
// them). With an empty routing table it returns no contacts and no error.
// It fails only when ctx ends (the error wraps the context's) or the DHT
// is closed ([ErrClosed]).
func (d *DHT) FindClosest(ctx context.Context, target Key) ([]Contact, LookupStats, error) {
	l, err := d.lookup(ctx, target, false)
	if err != nil {
		return nil, LookupStats{}, err
	}
	cands := l.closest()
	out := make([]Contact, len(cands))
	for i, c := range cands {
		out[i] = Contact{ID: c.ID, Addrs: slices.Clone(c.Addrs)}
	}
	return out, l.stats, nil
}

// Bootstrap looks this node up, which fills the routing table with the
// nodes around it and tells them about it, as a Kademlia node does when
// it joins. Call it after adding a few peers with [DHT.AddPeer]. It fails
// with [ErrNoPeers] if no node answered.
func (d *DHT) Bootstrap(ctx context.Context) error {
	found, _, err := d.FindClosest(ctx, KeyOf(d.cfg.Self.ID))
	if err != nil {
		return err
	}
	if len(found) == 0 {
		return fmt.Errorf("%w: bootstrap found no node", ErrNoPeers)
	}
	return nil
}
