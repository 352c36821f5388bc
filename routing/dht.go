package routing

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/org/macula/internal/lifecycle"
	"github.com/org/macula/security"
)

// DHT is one node's share of the realm's Kademlia DHT: its routing table,
// the records it stores for others, and the records it owns and keeps
// alive. Create one with [New]; it is safe for concurrent use.
type DHT struct {
	cfg      Config
	selfPos  position
	log      *zap.Logger
	table    *table
	store    *store
	suspects *suspects
	watches  *watchHub
	limits   senderLimits
	refusals refusalCounters

	// life owns every goroutine of the DHT; ctx is its context, which
	// ends at Close, and every lookup and background goroutine watches it.
	life lifecycle.Group
	ctx  context.Context

	startMu sync.Mutex
	started bool

	// own holds this node's records, republished until removed.
	ownMu sync.Mutex
	own   map[Key]*ownRecord

	// handoff queues peers new in the table, to be given the stored
	// records they are now among the closest nodes for.
	handoffMu   sync.Mutex
	handoff     []Contact
	handoffWake chan struct{}
}

// ownRecord is a record of this node's with when it was last published.
type ownRecord struct {
	rec       *Record
	published time.Time
}

// New returns a DHT for cfg (see [Config] for the defaults). Its routing
// table starts empty: feed it with [DHT.AddPeer], then look this node up
// ([DHT.Bootstrap]) so the nodes around it learn of it. It runs no
// goroutine until [DHT.Start]. Errors wrap [ErrInvalidConfig].
func New(cfg Config) (*DHT, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	cfg.Self.Addrs = slices.Clone(cfg.Self.Addrs)
	t, err := newTable(cfg.Self.ID, cfg.K)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	d := &DHT{
		cfg:         cfg,
		selfPos:     nodePosition(cfg.Self.ID),
		log:         cfg.Logger.With(zap.String("node", cfg.Self.ID.Short())),
		table:       t,
		store:       newStore(cfg.MaxRecordsPerKey, cfg.MaxRecordsPerOwner),
		suspects:    newSuspects(),
		watches:     newWatchHub(),
		limits:      newSenderLimits(&cfg),
		own:         make(map[Key]*ownRecord),
		handoffWake: make(chan struct{}, 1),
	}
	d.ctx = d.life.Context()
	return d, nil
}

// Self returns this node's contact.
func (d *DHT) Self() Contact {
	return Contact{ID: d.cfg.Self.ID, Addrs: slices.Clone(d.cfg.Self.Addrs)}
}

// Realm returns the realm the DHT's keys belong to.
func (d *DHT) Realm() string { return d.cfg.Realm }

// Start starts the background work, until [DHT.Close]:
//   - every TTL/10, dropping expired stored records;
//   - republishing this node's records when they are TTL/2 old, re-signed
//     to expire TTL later;
//   - every RefreshInterval, refreshing the buckets: a lookup of this node
//     and of a random key in each bucket in use;
//   - handing stored records to each peer newly added to the table that
//     is among the K closest (in the table) to their key.
//
// Start is idempotent, and does nothing after Close.
func (d *DHT) Start() {
	d.startMu.Lock()
	defer d.startMu.Unlock()
	if d.started || d.isClosed() {
		return
	}
	d.started = true
	// A Close racing with Start may refuse either loop; the other then
	// ends at once with ctx, so a half-started DHT is a closing one.
	d.life.Go(d.maintain)
	d.life.Go(d.runHandoff)
}

// Close stops the background work, ends lookups in flight (they fail with
// an error matching the context's), and returns once every goroutine the
// DHT started has exited. Afterwards the DHT's methods fail with
// [ErrClosed] and the Handle methods refuse every request. Close is
// idempotent and always returns nil.
func (d *DHT) Close() error {
	if !d.life.Stop() {
		// Closed already, or closing: wait like the first Close does.
		d.life.Wait()
		return nil
	}
	d.life.Wait()
	d.table.close()
	return nil
}

// isClosed reports whether Close was called.
func (d *DHT) isClosed() bool { return d.life.Stopping() }

// bind returns a context that ends with ctx or at Close.
func (d *DHT) bind(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(d.ctx, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// AddPeer adds c, a node known to be alive (from membership, a handshake,
// a query it sent), to the routing table if its bucket has room (a full
// bucket keeps its old peers, which leave only by failing a query or
// [DHT.RemovePeer]); if c is there already its addresses are updated when
// c has any. It also clears a suspicion left by a failed query. This node
// and the zero ID are ignored. Once started, a peer new in the table is
// given the stored records it is now among the K closest to.
func (d *DHT) AddPeer(c Contact) {
	d.suspects.clear(c.ID)
	d.addHeard(c)
}

// addHeard adds c, a node another node told us about, to the routing
// table unless it failed a query recently.
func (d *DHT) addHeard(c Contact) {
	if d.isClosed() || d.suspects.has(c.ID, time.Now()) {
		return
	}
	if d.table.add(c) {
		d.queueHandoff(c)
	}
}

// RemovePeer drops id, a node membership reports dead or gone, from the
// routing table, and keeps it from being learned again from other nodes'
// answers for a while: their tables may list it for some time yet, and a
// lookup that queried it would wait out a timeout. [DHT.AddPeer] (the node
// is back) ends that at once.
func (d *DHT) RemovePeer(id security.NodeID) {
	d.peerFailed(id)
}

// peerFailed drops id, which failed a query or is gone, and keeps it from
// being re-learned from other nodes for a while.
func (d *DHT) peerFailed(id security.NodeID) {
	d.suspects.add(id, time.Now())
	d.table.remove(id)
}

// Closest returns up to n peers from the routing table closest to key,
// closest first. This node is never among them.
func (d *DHT) Closest(key Key, n int) []Contact {
	return d.table.closest(key, n)
}

// Routes returns every peer in the routing table, closest to this node
// first.
func (d *DHT) Routes() []Contact {
	return d.table.closest(KeyOf(d.cfg.Self.ID), d.table.size())
}

// HandleFindNode answers a FIND_NODE from a peer: the K peers closest to
// target in the routing table, from excluded. The peer is added to the
// table (see [DHT.AddPeer]). A closed DHT answers nil.
func (d *DHT) HandleFindNode(from Contact, target Key) []Contact {
	if d.isClosed() {
		return nil
	}
	d.AddPeer(from)
	return d.closestExcept(target, from.ID)
}

// HandleFindValue answers a FIND_VALUE from a peer: the live records this
// node stores under key (tombstones included) and the K peers closest to
// key in the routing table, from excluded. The peer is added to the table.
// The records are shared with the store: the caller must not modify them
// (encode them with [Record.ToProto]). A closed DHT answers nil, nil.
func (d *DHT) HandleFindValue(from Contact, key Key) ([]*Record, []Contact) {
	if d.isClosed() {
		return nil, nil
	}
	d.AddPeer(from)
	return d.store.get(key, time.Now()), d.closestExcept(key, from.ID)
}

// HandleStore handles a STORE from a peer. It refuses it with
// [ErrRateLimited] if the peer is over its store rate ([Config].StoreRate),
// then verifies rec for this realm (see [Record.Verify]:
// [ErrInvalidRecord], [ErrWrongKey], [ErrBadSignature], [ErrExpired]),
// asks [Config].AuthorizeStore ([ErrStoreRefused]), and keeps rec unless
// it holds a record of the same owner under the same key that rec does not
// supersede ([ErrStale]; an identical copy is accepted) or a limit is
// reached ([ErrLimit]). Every refusal is counted ([DHT.Stats]) and
// reported to [Config].OnRecordRefused. The peer is added to the table.
// The DHT keeps rec: the caller must not modify it afterwards. A closed
// DHT fails with [ErrClosed].
func (d *DHT) HandleStore(from Contact, rec *Record) error {
	return d.handleStore(from, rec, nil)
}

// handleStore is HandleStore; a non-nil parseErr means the STORE carried
// a record that did not parse (rec is then nil), which is refused with
// parseErr once the sender's rate limit is applied.
func (d *DHT) handleStore(from Contact, rec *Record, parseErr error) error {
	if d.isClosed() {
		return ErrClosed
	}
	d.AddPeer(from)
	err := d.admitStore(from, rec, parseErr)
	if err != nil {
		d.refused(from, rec, err)
	}
	return err
}

// closestExcept returns the K peers closest to key, without skip.
func (d *DHT) closestExcept(key Key, skip security.NodeID) []Contact {
	cs := d.table.closest(key, d.cfg.K+1)
	cs = slices.DeleteFunc(cs, func(c Contact) bool { return c.ID == skip })
	if len(cs) > d.cfg.K {
		cs = cs[:d.cfg.K]
	}
	return cs
}
