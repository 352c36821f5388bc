package routing

import (
	"slices"
	"sync"
	"time"

	kbucket "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/org/macula/security"
)

// maxPeerLatency is the latency above which kbucket refuses a new peer.
// The DHT drops peers that fail queries rather than slow ones, so it is
// set out of reach.
const maxPeerLatency = time.Hour

// table is the routing table: go-libp2p-kbucket for the buckets, plus the
// addresses of the peers in it. kbucket's own policy is used as is:
// buckets of k peers, a full bucket refuses new peers (none is
// replaceable), and peers leave only through remove, when they fail a
// query. Safe for concurrent use.
type table struct {
	self security.NodeID

	// mu serializes changes, so a peer's presence in rt and in addrs
	// change together. Lock order: mu, then kbucket's lock, then amu.
	mu      sync.Mutex
	rt      *kbucket.RoutingTable
	metrics *latencies

	amu   sync.RWMutex
	addrs map[security.NodeID][]string
}

func newTable(self security.NodeID, k int) (*table, error) {
	t := &table{self: self, metrics: newLatencies(), addrs: make(map[security.NodeID][]string)}
	rt, err := kbucket.NewRoutingTable(k, kbucket.ConvertPeerID(peerID(self)), maxPeerLatency, t.metrics, 0, nil)
	if err != nil {
		return nil, err
	}
	rt.PeerAdded = func(peer.ID) {}
	// Called with kbucket's lock held: touch only amu and the metrics.
	rt.PeerRemoved = func(p peer.ID) {
		if id, ok := nodeIDOf(p); ok {
			t.amu.Lock()
			delete(t.addrs, id)
			t.amu.Unlock()
		}
		t.metrics.RemovePeer(p)
	}
	t.rt = rt
	return t, nil
}

// add puts c in the table if its bucket has room, or refreshes its
// addresses if it is there already. It reports whether c is new.
func (t *table) add(c Contact) bool {
	if c.ID == t.self || c.ID.IsZero() {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	added, err := t.rt.TryAddPeer(peerID(c.ID), true, false)
	if err != nil {
		return false
	}
	if added || len(c.Addrs) > 0 {
		t.amu.Lock()
		t.addrs[c.ID] = slices.Clone(c.Addrs)
		t.amu.Unlock()
	}
	return added
}

// remove drops id from the table.
func (t *table) remove(id security.NodeID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rt.RemovePeer(peerID(id))
}

// contains reports whether id is in the table.
func (t *table) contains(id security.NodeID) bool {
	t.amu.RLock()
	defer t.amu.RUnlock()
	_, ok := t.addrs[id]
	return ok
}

// closest returns up to n peers closest to key, closest first.
func (t *table) closest(key Key, n int) []Contact {
	if n <= 0 {
		return nil
	}
	return t.contacts(t.rt.NearestPeers(kbucket.ConvertKey(string(key[:])), n))
}

// all returns every peer in the table.
func (t *table) all() []Contact {
	return t.contacts(t.rt.ListPeers())
}

// size returns the number of peers in the table.
func (t *table) size() int {
	return t.rt.Size()
}

// maxCommonPrefix returns the longest common prefix between this node's
// position and a peer's: the deepest bucket in use.
func (t *table) maxCommonPrefix() int {
	self := nodePosition(t.self)
	deepest := 0
	for _, p := range t.rt.ListPeers() {
		if id, ok := nodeIDOf(p); ok {
			deepest = max(deepest, commonPrefixLen(self, nodePosition(id)))
		}
	}
	return deepest
}

// contacts attaches addresses to peer IDs. A peer removed meanwhile is
// returned without addresses.
func (t *table) contacts(ps []peer.ID) []Contact {
	out := make([]Contact, 0, len(ps))
	t.amu.RLock()
	defer t.amu.RUnlock()
	for _, p := range ps {
		id, ok := nodeIDOf(p)
		if !ok {
			continue
		}
		out = append(out, Contact{ID: id, Addrs: slices.Clone(t.addrs[id])})
	}
	return out
}

// recordLatency feeds a query's round-trip time to the table's metrics,
// for peers in the table only.
func (t *table) recordLatency(id security.NodeID, rtt time.Duration) {
	if t.contains(id) {
		t.metrics.RecordLatency(peerID(id), rtt)
	}
}

// close releases the kbucket table.
func (t *table) close() {
	_ = t.rt.Close()
}

// latencies is the peerstore.Metrics kbucket needs: an exponentially
// weighted moving average of query round-trip times per peer.
type latencies struct {
	mu   sync.Mutex
	ewma map[peer.ID]time.Duration
}

// latencySmoothing is the weight of a new sample in the average.
const latencySmoothing = 0.1

func newLatencies() *latencies {
	return &latencies{ewma: make(map[peer.ID]time.Duration)}
}

// RecordLatency folds a new round-trip time into p's average.
func (l *latencies) RecordLatency(p peer.ID, rtt time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	old, ok := l.ewma[p]
	if !ok {
		l.ewma[p] = rtt
		return
	}
	l.ewma[p] = time.Duration((1-latencySmoothing)*float64(old) + latencySmoothing*float64(rtt))
}

// LatencyEWMA returns p's average round-trip time, zero if unknown.
func (l *latencies) LatencyEWMA(p peer.ID) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ewma[p]
}

// RemovePeer forgets p.
func (l *latencies) RemovePeer(p peer.ID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.ewma, p)
}
