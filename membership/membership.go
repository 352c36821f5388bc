package membership

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"go.uber.org/zap"

	"github.com/org/macula/internal/lifecycle"
	"github.com/org/macula/security"
	"github.com/org/macula/transport"
)

// streamTimeout bounds a membership dial and state exchange (memberlist's
// TCPTimeout): long enough for a busy seed to answer many joiners.
const streamTimeout = 10 * time.Second

// Membership is this node's view of the realm's members. Create it with
// New; it is safe for concurrent use.
type Membership struct {
	cfg  Config
	self security.NodeID
	log  *zap.Logger
	tr   *udpTransport
	keys *keyring
	list *memberlist.Memberlist

	mu       sync.Mutex
	meta     Meta
	gone     map[security.NodeID]Member // dead or left, kept for Retention
	watchers map[*watcher]struct{}
	closed   bool
	alive    map[security.NodeID]Member     // from memberlist's callbacks
	leaving  map[security.NodeID]time.Time  // peers that announced a graceful shutdown
	syncing  map[security.NodeID]time.Time  // last contact-triggered sync
	swim     map[security.NodeID]*swimState // read from SWIM messages (liveness.go)
	suspects map[security.NodeID]*swimState // the members of swim under suspicion
	selfInc  uint32                         // memberlist's incarnation of this node
	// selfAlive is the newest alive message about this node (sent by
	// memberlist or built by buildRefutationLocked), selfAliveInc its
	// incarnation, and refutedTo when it was last sent straight to an
	// address.
	selfAlive    []byte
	selfAliveInc uint32
	refutedTo    map[string]time.Time

	// life owns the Membership's goroutines. ctx is separate from life's
	// context because Close cancels it only after memberlist has shut
	// down, while it stops new goroutines at once.
	life   lifecycle.Group
	ctx    context.Context
	cancel context.CancelFunc
}

// New starts the membership protocol for the node behind nw, advertising
// meta. Other members are found with Join.
func New(nw Network, meta Meta, cfg Config, log *zap.Logger) (*Membership, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if nw == nil {
		return nil, fmt.Errorf("%w: no network", ErrInvalidConfig)
	}
	if log == nil {
		log = zap.NewNop()
	}
	advertise, err := advertiseAddr(nw, meta)
	if err != nil {
		return nil, err
	}
	if meta.Tags == nil && cfg.Tags != nil {
		meta.Tags = cfg.Tags
	}
	if _, err := meta.encode(memberlist.MetaMaxSize); err != nil {
		return nil, err
	}
	m := &Membership{
		cfg: cfg, self: nw.ID(), log: log.Named("membership"), meta: meta,
		gone:      make(map[security.NodeID]Member),
		watchers:  make(map[*watcher]struct{}),
		alive:     make(map[security.NodeID]Member),
		leaving:   make(map[security.NodeID]time.Time),
		syncing:   make(map[security.NodeID]time.Time),
		swim:      make(map[security.NodeID]*swimState),
		suspects:  make(map[security.NodeID]*swimState),
		refutedTo: make(map[string]time.Time),
		selfInc:   1, // memberlist's first incarnation
	}
	key := cfg.GossipKey
	if len(key) == 0 {
		key = RandomKey()
	}
	m.keys, err = newKeyring(nw.Realm(), key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	// memberlist's awareness multiplies the probe interval by up to 8.
	probeWindow := 9 * cfg.ProbeInterval
	m.tr = newUDPTransport(nw, m.keys, advertise, streamTimeout, probeWindow, m.log)
	m.tr.onRefused = m.refusedFrom
	m.tr.onLeaving = m.leavingNotice
	m.tr.onLiveness = m.observeLiveness

	mc := memberlist.DefaultLANConfig()
	mc.Name = m.self.String()
	mc.Transport = m.tr
	mc.AdvertiseAddr = advertise.Addr().String()
	mc.AdvertisePort = int(advertise.Port())
	mc.Delegate = (*delegate)(m)
	mc.Events = (*eventDelegate)(m)
	mc.Logger = newStdLogger(m.log)
	mc.UDPBufferSize = packetBudget
	mc.ProbeInterval = cfg.ProbeInterval
	mc.ProbeTimeout = cfg.ProbeTimeout
	mc.IndirectChecks = cfg.IndirectChecks
	mc.SuspicionMult = cfg.SuspicionMult
	mc.SuspicionMaxTimeoutMult = cfg.SuspicionMaxTimeoutMult
	mc.GossipInterval = cfg.GossipInterval
	mc.GossipNodes = cfg.GossipNodes
	mc.RetransmitMult = cfg.RetransmitMult
	mc.PushPullInterval = cfg.PushPullInterval
	mc.GossipToTheDeadTime = cfg.GossipToTheDeadTime
	mc.TCPTimeout = streamTimeout
	// memberlist's "TCP" fallback ping exists for networks that drop UDP
	// but pass TCP. Here both travel on the same UDP socket, so it adds no
	// path, only a QUIC handshake per missed ack: under load, missed acks
	// became a storm of dials (200 handshakes in flight in a 57-node mesh)
	// that starved the very probes it was meant to back up. Indirect
	// probes through other members remain.
	mc.DisableTcpPings = true
	// Packets are at most 1,371 bytes and travel on a LAN or loopback:
	// LZW compressing each one cost more CPU than it saved.
	mc.EnableCompression = false
	mc.DeadNodeReclaimTime = time.Nanosecond // a restarted node may rejoin at once
	list, err := memberlist.Create(mc)
	if err != nil {
		_ = m.tr.Shutdown()
		return nil, fmt.Errorf("macula: start membership: %w", err)
	}
	m.list = list
	m.life.Go(m.reconnectLoop)
	m.life.Go(m.suspicionLoop)
	return m, nil
}

// leavingNoticeTTL is how long a peer's shutdown notice is remembered.
const leavingNoticeTTL = time.Minute

// PeerLeaving records that a peer announced a graceful shutdown (it closed
// its connection to us with the shutdown code). When memberlist later
// reports the peer gone, it is recorded as left, not dead, even if its
// Leaving metadata never reached this node: gossip gives no ordering.
func (m *Membership) PeerLeaving(id security.NodeID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.leaving[id] = time.Now()
}

// leavingNotice handles a member's leaving notice. The member is recorded
// as leaving (see PeerLeaving), and, if the notice comes from the member's
// own address with its incarnation, memberlist is handed the member's own
// dead message, which marks it left at once and spreads by gossip: the
// member sends the notice instead of waiting for memberlist to gossip that
// message before it may close.
func (m *Membership) leavingNotice(id security.NodeID, inc uint32, hasInc bool, from net.Addr) {
	m.mu.Lock()
	mem, ok := m.alive[id]
	m.mu.Unlock()
	if !ok || mem.Addr != from.String() {
		return // not a member, or not from its address: ignored
	}
	m.PeerLeaving(id)
	if hasInc {
		m.tr.deliverLeft(id, inc, from)
	}
}

// announcedLeaving reports whether id recently announced a graceful
// shutdown. Callers hold m.mu.
func (m *Membership) announcedLeavingLocked(id security.NodeID) bool {
	at, ok := m.leaving[id]
	if ok && time.Since(at) > leavingNoticeTTL {
		delete(m.leaving, id)
		return false
	}
	return ok
}

// contactSyncInterval limits contact-triggered state exchanges per peer.
const contactSyncInterval = 5 * time.Second

// PeerConnected tells membership that a QUIC connection to a peer was
// verified. A peer that reaches us is a node of our realm (mutual TLS); if
// memberlist has not heard of it (its alive message missed us, which
// epidemic gossip allows with small probability per pair), a state
// exchange with it fixes that at once instead of at the next periodic
// push/pull, 30 s or more away. It does not block.
func (m *Membership) PeerConnected(from transport.PeerInfo) {
	m.mu.Lock()
	if _, known := m.alive[from.ID]; m.closed || known || from.ID == m.self || time.Since(m.syncing[from.ID]) < contactSyncInterval {
		m.mu.Unlock()
		return
	}
	m.syncing[from.ID] = time.Now()
	m.mu.Unlock()
	// Refused only once Close has begun, when no exchange is wanted.
	m.life.Go(func() {
		addr := from.RemoteAddr.String()
		if _, err := m.list.Join([]string{from.ID.String() + "/" + addr}); err != nil {
			m.log.Debug("state exchange with an unknown peer failed", zap.Stringer("peer", from.ID), zap.Error(err))
		}
	})
}

// refusedFrom runs for a gossip packet that did not open. If it came from
// a member's address, the member may hold a newer primary key this node
// has not merged yet (or the reverse): a state exchange, which starts by
// merging keyrings over mutually authenticated QUIC, settles it. Packets
// from addresses that are not members' start nothing, so noise at the
// socket costs no dials.
func (m *Membership) refusedFrom(from net.Addr) {
	addr := from.String()
	m.mu.Lock()
	var target security.NodeID
	for id, mem := range m.alive {
		if mem.Addr == addr && id != m.self {
			target = id
			break
		}
	}
	if m.closed || target.IsZero() || time.Since(m.syncing[target]) < contactSyncInterval {
		m.mu.Unlock()
		return
	}
	m.syncing[target] = time.Now()
	m.mu.Unlock()
	m.life.Go(func() {
		if _, err := m.list.Join([]string{target.String() + "/" + addr}); err != nil {
			m.log.Debug("keyring exchange with a member failed", zap.Stringer("member", target), zap.Error(err))
		}
	})
}

// Keyring returns this node's gossip keyring.
func (m *Membership) Keyring() KeyringInfo { return m.keys.Info() }

// InstallKey adds a gossip key: packets sealed with it open from now on,
// here and, as state exchanges merge keyrings, on every member. Install a
// new key before using it, so members that have not heard of the switch
// can still open packets sealed with it. It fails with ErrInvalidKey.
func (m *Membership) InstallKey(key []byte) error { return m.keys.Install(key) }

// UseKey makes an installed key the primary: packets are sealed with it
// from now on. The choice spreads through the realm with state exchanges
// and wins over older choices. It fails with ErrInvalidKey if key is not
// installed.
func (m *Membership) UseKey(key []byte) error { return m.keys.Use(key) }

// RemoveKey uninstalls a gossip key that is no longer the primary
// anywhere; the removal spreads like keys do. It fails with ErrInvalidKey
// if key is not installed or is the primary.
func (m *Membership) RemoveKey(key []byte) error { return m.keys.Remove(key) }

// PacketStats returns the gossip packet counters.
func (m *Membership) PacketStats() PacketStats { return m.tr.stats() }

// reconnectLoop rejoins one random dead member every ReconnectInterval
// (jittered), so two sides of a healed partition find each other again.
func (m *Membership) reconnectLoop() {
	for {
		wait := m.cfg.ReconnectInterval/2 + rand.N(m.cfg.ReconnectInterval/2+1)
		select {
		case <-m.ctx.Done():
			return
		case <-time.After(wait):
		}
		var dead []Member
		m.mu.Lock()
		for _, g := range m.gone {
			if g.State == StateDead && time.Since(g.Since) <= m.cfg.Retention {
				dead = append(dead, g)
			}
		}
		m.mu.Unlock()
		if len(dead) == 0 {
			continue
		}
		target := dead[rand.N(len(dead))]
		if _, err := m.list.Join([]string{target.ID.String() + "/" + target.Addr}); err != nil {
			m.log.Debug("reconnect to dead member failed", zap.Stringer("member", target.ID), zap.Error(err))
		}
	}
}

// suspicionLoop tends suspicions every nudgeInterval (tendSuspicions).
func (m *Membership) suspicionLoop() {
	t := time.NewTicker(m.nudgeInterval())
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
			m.tendSuspicions()
		}
	}
}

// advertiseAddr is the address other members reach this node at: the first
// advertised address that is an IP:port, else the socket's address.
func advertiseAddr(nw Network, meta Meta) (netip.AddrPort, error) {
	for _, a := range meta.Addrs {
		if ap, err := netip.ParseAddrPort(a); err == nil && !ap.Addr().IsUnspecified() {
			return ap, nil
		}
	}
	ap, err := netip.ParseAddrPort(nw.Addr().String())
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: no IP address to advertise: %w", ErrInvalidConfig, err)
	}
	if ap.Addr().IsUnspecified() {
		ap = netip.AddrPortFrom(netip.IPv4Unspecified(), ap.Port())
		return ap, fmt.Errorf("%w: bound to %s: set an advertise address other members can reach", ErrInvalidConfig, nw.Addr())
	}
	return ap, nil
}

// Join exchanges state with the node id at addr ("ip:port"), which joins
// this node to that node's view of the realm.
func (m *Membership) Join(id security.NodeID, addr string) error {
	if m.isClosed() {
		return ErrClosed
	}
	if _, err := m.list.Join([]string{id.String() + "/" + addr}); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrJoinFailed, id.Short(), err)
	}
	return nil
}

// Local returns this node as a member.
func (m *Membership) Local() Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mem, ok := m.alive[m.self]; ok {
		return mem
	}
	return Member{ID: m.self, State: StateAlive, Meta: m.meta}
}

// LocalMeta returns the metadata this node publishes.
func (m *Membership) LocalMeta() Meta {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.meta
}

// Members returns every known member, this node included: alive members,
// and dead and left ones for Config.Retention after they went.
//
// The table is kept from memberlist's event callbacks, which run under
// memberlist's lock, rather than read from memberlist.Members: that returns
// pointers into state memberlist keeps mutating, which races.
func (m *Membership) Members() []Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Member, 0, len(m.alive)+len(m.gone))
	for _, mem := range m.alive {
		out = append(out, mem)
	}
	for id, g := range m.gone {
		if time.Since(g.Since) > m.cfg.Retention {
			delete(m.gone, id)
			delete(m.swim, id)
			delete(m.suspects, id)
			continue
		}
		out = append(out, g)
	}
	return out
}

// AliveIDs appends the IDs of the members that are alive or suspect,
// this node included, to dst and returns it. It copies IDs only, not
// whole members as [Membership.Members] does: the overlay reads it on
// every change of membership, on every node.
func (m *Membership) AliveIDs(dst []security.NodeID) []security.NodeID {
	m.mu.Lock()
	defer m.mu.Unlock()
	dst = slices.Grow(dst, len(m.alive))
	for id := range m.alive {
		dst = append(dst, id)
	}
	return dst
}

// Member returns one member by ID.
func (m *Membership) Member(id security.NodeID) (Member, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mem, ok := m.alive[id]; ok {
		return mem, true
	}
	if g, ok := m.gone[id]; ok && time.Since(g.Since) <= m.cfg.Retention {
		return g, true
	}
	return Member{}, false
}

// NumAlive is the number of alive members, this node included.
func (m *Membership) NumAlive() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.alive)
}

// UpdateMeta publishes new metadata for this node; it waits up to timeout
// for the update to be broadcast.
func (m *Membership) UpdateMeta(meta Meta, timeout time.Duration) error {
	if m.isClosed() {
		return ErrClosed
	}
	if _, err := meta.encode(memberlist.MetaMaxSize); err != nil {
		return err
	}
	m.mu.Lock()
	// Once leaving, always leaving: a concurrent update from a stale copy
	// must not clear the flag, or peers would record a graceful leave as
	// a failure.
	meta.Leaving = meta.Leaving || m.meta.Leaving
	m.meta = meta
	// UpdateNode raises memberlist's incarnation of this node by one.
	m.selfInc++
	m.mu.Unlock()
	return m.list.UpdateNode(timeout)
}

func (m *Membership) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

// Leave announces that this node is leaving, so others mark it left rather
// than dead. It publishes Meta.Leaving, and sends every alive member a
// leaving notice straight away (twice, as UDP may drop one): the notice
// carries this node's incarnation, so each member hands its memberlist the
// leave message memberlist would otherwise gossip, and marks this node left
// at once. Leave waits for memberlist's own leave broadcast, up to
// Config.LeaveTimeout, only if some notice could not be sent.
func (m *Membership) Leave() error {
	if m.isClosed() {
		return ErrClosed
	}
	m.mu.Lock()
	meta := m.meta
	var addrs []string
	for id, mem := range m.alive {
		if id != m.self {
			addrs = append(addrs, mem.Addr)
		}
	}
	m.mu.Unlock()
	meta.Leaving = true
	// Queue the flag's broadcast without waiting for it (memberlist's
	// zero timeout would wait forever): the notices below tell every
	// member directly.
	if err := m.UpdateMeta(meta, time.Nanosecond); err != nil {
		m.log.Debug("leaving flag not broadcast", zap.Error(err))
	}
	m.mu.Lock()
	inc := m.selfInc
	m.mu.Unlock()
	unsent := 0
	for _, a := range addrs {
		for range 2 {
			if err := m.tr.sendLeaving(m.self, inc, a); err != nil {
				unsent++
				m.log.Debug("leaving notice not sent", zap.String("addr", a), zap.Error(err))
			}
		}
	}
	wait := time.Nanosecond
	if unsent > 0 {
		wait = m.cfg.LeaveTimeout
	}
	if err := m.list.Leave(wait); err != nil && unsent > 0 {
		return fmt.Errorf("macula: leave: %w", err)
	}
	return nil
}

// takeLimit bounds Close's wait for memberlist to take the acks it is
// handed: it takes each packet within microseconds unless the node is
// starved of CPU.
const takeLimit = 100 * time.Millisecond

// Close stops the protocol without announcing anything (call Leave first
// for a graceful exit), ends every watch, and waits for all goroutines.
func (m *Membership) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	m.life.Stop()
	// memberlist does not stop a probe in flight on Shutdown: that
	// goroutine ends when the probe's ack arrives or its timer fires, up
	// to the probe interval scaled by the health score later. So the
	// transport stops all traffic and acknowledges this node's pings
	// itself, and memberlist is given the time to take those acks before
	// it shuts down.
	probeWindow := m.cfg.ProbeInterval * time.Duration(m.list.GetHealthScore()+1)
	m.tr.beginClose()
	m.tr.awaitTaken(takeLimit)
	err := m.list.Shutdown()
	m.cancel()
	if since, untaken := m.tr.untakenAckSince(); untaken {
		// An ack was not taken in time: its probe waits for its timer.
		time.Sleep(time.Until(since.Add(probeWindow)))
	}
	m.life.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("macula: membership shutdown: %w", err)
	}
	return nil
}

// delegate answers memberlist's questions about this node.
type delegate Membership

// NodeMeta implements memberlist.Delegate.
func (d *delegate) NodeMeta(limit int) []byte {
	d.mu.Lock()
	meta := d.meta
	d.mu.Unlock()
	b, err := meta.encode(limit)
	if err != nil {
		d.log.Error("node metadata does not fit", zap.Error(err))
		return nil
	}
	return b
}

// NotifyMsg implements memberlist.Delegate; Macula sends no user messages.
func (d *delegate) NotifyMsg([]byte) {}

// GetBroadcasts implements memberlist.Delegate.
func (d *delegate) GetBroadcasts(int, int) [][]byte { return nil }

// LocalState implements memberlist.Delegate.
func (d *delegate) LocalState(bool) []byte { return nil }

// MergeRemoteState implements memberlist.Delegate.
func (d *delegate) MergeRemoteState([]byte, bool) {}

// eventDelegate turns memberlist's callbacks into Events. memberlist calls
// it with its state lock held: it must not block.
type eventDelegate Membership

// NotifyJoin implements memberlist.EventDelegate.
func (e *eventDelegate) NotifyJoin(n *memberlist.Node) { (*Membership)(e).changed(EventJoin, n) }

// NotifyLeave implements memberlist.EventDelegate.
func (e *eventDelegate) NotifyLeave(n *memberlist.Node) {
	// memberlist passes a Node whose State field is not maintained (its
	// own nodeState shadows it), so left and dead are told apart by the
	// Leaving flag the node published before it left.
	m := (*Membership)(e)
	typ := EventFail
	m.mu.Lock()
	id := idOf(n)
	announced := m.announcedLeavingLocked(id)
	leftBySelf := m.swim[id] != nil && m.swim[id].leftBySelf
	m.mu.Unlock()
	if decodeMeta(n.Meta).Leaving || announced || leftBySelf {
		typ = EventLeave
	}
	m.changed(typ, n)
}

// idOf is the node ID memberlist's node name holds (zero if none).
func idOf(n *memberlist.Node) security.NodeID {
	id, _ := security.ParseNodeID(n.Name)
	return id
}

// NotifyUpdate implements memberlist.EventDelegate.
func (e *eventDelegate) NotifyUpdate(n *memberlist.Node) { (*Membership)(e).changed(EventUpdate, n) }

func (m *Membership) changed(typ EventType, n *memberlist.Node) {
	id, err := security.ParseNodeID(n.Name)
	if err != nil {
		return
	}
	now := time.Now()
	state := StateAlive
	switch typ {
	case EventFail:
		state = StateDead
	case EventLeave:
		state = StateLeft
	}
	mem := Member{ID: id, Addr: n.Address(), State: state, Meta: decodeMeta(n.Meta), Since: now}
	m.mu.Lock()
	defer m.mu.Unlock()
	if id == m.self {
		mem.Incarnation = m.selfInc
	} else if st := m.swim[id]; st != nil {
		mem.Incarnation = st.inc
		if typ != EventUpdate {
			// Joined or gone: memberlist has ended any suspicion.
			m.clearSuspicionLocked(id, st)
		}
	}
	switch typ {
	case EventJoin:
		delete(m.gone, id)
		m.alive[id] = mem
	case EventUpdate:
		if prev, ok := m.alive[id]; ok {
			mem.Since = prev.Since
			// A metadata update does not end a suspicion; a refutation
			// (observeLiveness) does.
			if prev.State == StateSuspect && m.swim[id] != nil && !m.swim[id].suspectSince.IsZero() {
				mem.State = StateSuspect
			}
		}
		m.alive[id] = mem
	case EventLeave, EventFail:
		delete(m.alive, id)
		m.gone[id] = mem
	}
	ev := Event{Type: typ, Member: mem}
	for w := range m.watchers {
		w.push(ev)
	}
	m.log.Debug("member "+typ.String(), zap.Stringer("member", id), zap.Stringer("state", mem.State))
}
