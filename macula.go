package macula

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/org/macula/directory"
	"github.com/org/macula/discovery"
	"github.com/org/macula/internal/lifecycle"
	"github.com/org/macula/membership"
	"github.com/org/macula/pubsub"
	"github.com/org/macula/routing"
	"github.com/org/macula/rpc"
	"github.com/org/macula/security"
	"github.com/org/macula/topology"
	"github.com/org/macula/transport"
)

// NodeID identifies a node: the SHA-256 hash of its Ed25519 public key.
type NodeID = security.NodeID

// Member is a node of the realm as seen by this node: ID, address, state
// and metadata.
type Member = membership.Member

// MemberState is a member's liveness: MemberAlive, MemberSuspect, MemberDead
// (failed without leaving) or MemberLeft (left gracefully).
type MemberState = membership.State

// Member states.
const (
	MemberAlive   = membership.StateAlive
	MemberSuspect = membership.StateSuspect
	MemberDead    = membership.StateDead
	MemberLeft    = membership.StateLeft
)

// MemberEvent is one membership change, as delivered by WatchMembers.
type MemberEvent = membership.Event

// MemberEventType is the kind of a MemberEvent.
type MemberEventType = membership.EventType

// Kinds of membership change.
const (
	// EventMemberJoined: a member became alive (joined, or came back).
	EventMemberJoined = membership.EventJoin
	// EventMemberLeft: a member left gracefully.
	EventMemberLeft = membership.EventLeave
	// EventMemberFailed: a member was declared dead.
	EventMemberFailed = membership.EventFail
	// EventMemberUpdated: a member's metadata changed.
	EventMemberUpdated = membership.EventUpdate
	// EventMemberSuspected: a member missed probes; it is declared failed
	// unless it refutes the suspicion in time.
	EventMemberSuspected = membership.EventSuspect
	// EventMemberRefuted: a suspected member is alive again.
	EventMemberRefuted = membership.EventRefute
)

// MembershipConfig holds the SWIM knobs (probe interval, suspicion
// multiplier, ...) for WithMembershipConfig; zero fields take LAN defaults.
type MembershipConfig = membership.Config

// PeerInfo describes a connected peer: its ID, addresses, capabilities and
// the connection's round-trip time.
type PeerInfo = transport.PeerInfo

// ParseNodeID parses the 64-digit hex form of a node ID.
func ParseNodeID(s string) (NodeID, error) { return security.ParseNodeID(s) }

// Node is one member of a Macula mesh. Create it with New and stop it with
// Close. All methods are safe for concurrent use.
type Node struct {
	cfg       *config
	identity  *security.Identity
	log       *zap.Logger
	advertise []string

	// The subsystems. New sets every one before it starts any, so the
	// callbacks that reach them (which run only once the transport has
	// started) always find them.
	tr      *transport.Transport
	members *membership.Membership
	dht     *routing.DHT
	dir     *directory.Cache
	pubsub  *pubsub.Service
	rpc     *rpc.Service
	topo    *topology.Manager
	// discoveryRunner and mdnsAdvertiser are nil without WithDiscovery
	// and WithMDNS; mdnsAdvertiser is set when it starts.
	discoveryRunner *discovery.Runner
	mdnsAdvertiser  *discovery.Advertiser

	audit     *security.Auditor                // nil without WithAuditLog: a no-op
	recordLog auditThrottle                    // paces the audit of refused DHT records
	self      atomic.Pointer[security.Subject] // this node to its own ACL; replaced by SetCertificate

	dialingDiscovered dialing

	// parts are the subsystems in dependency order (see New); the one
	// teardown path stops them in reverse.
	parts parts
	// life owns the node's own goroutines: background dials and the
	// loops that feed membership changes to the other parts. ctx is its
	// context, which ends when Close starts.
	life lifecycle.Group
	ctx  context.Context
	// leaveGracefully makes membership's stop announce the shutdown and
	// leave first: set by Close, not by a New that failed.
	leaveGracefully atomic.Bool
	closeOnce       sync.Once
}

// New creates a node, binds its socket, starts serving, and starts joining the
// bootstrap addresses in the background. The options and their defaults:
//
//   - WithRealm: the realm, default "org.example.mesh".
//   - WithListenAddr: UDP address to bind, default "0.0.0.0:4433".
//   - WithBootstrap: addresses to join in the background, default none.
//   - WithIdentity / WithIdentityFile: the node's key pair, default a new one.
//   - WithRealmCA: CA pool peers must chain to, default none (dev mode).
//   - WithCertificate: the certificate to present, default self-signed.
//   - WithLogger: zap logger, default no-op.
//   - WithTransport: a net.PacketConn to use instead of a UDP socket.
//   - WithIdleTimeout (30 s), WithKeepAlive (idle/3),
//     WithHandshakeTimeout (10 s), WithMaxFrameSize (4 MiB, at least
//     MinMaxFrameSize), WithAdvertiseAddrs (the bound address).
//   - WithAuditLog: where the security audit log goes, default none.
//   - WithACL: the ACL enforced, default none (every action allowed).
//   - WithMessageSigning: sign events and results, default unsigned.
//   - WithMembershipConfig: SWIM knobs, default the LAN defaults.
//   - WithGossipKey: the realm's gossip key, default derived or random.
//   - WithTopology: overlay degree k, default 2.
//   - WithDiscovery / WithMDNS: bootstrap address sources, default none.
//   - WithLimits: per-peer limits and bans, default DefaultLimits.
//
// Invalid options fail with an error that names the option and wraps
// ErrInvalidOption and the cause; so does a part of the node that refuses
// the configuration the options gave it (that error also matches
// ErrInvalidConfig). A New that fails has released everything it took.
func New(opts ...Option) (*Node, error) {
	cfg := defaultConfig()
	for _, opt := range opts {
		if err := opt(cfg); err != nil {
			return nil, err
		}
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	id, err := cfg.loadIdentity()
	if err != nil {
		return nil, err
	}
	log := cfg.logger.With(zap.String("node", id.ID().Short()), zap.String("realm", cfg.realm))
	conn := cfg.packetConn
	if conn == nil {
		conn, err = net.ListenPacket("udp", cfg.listenAddr)
		if err != nil {
			return nil, fmt.Errorf("macula: bind %s: %w", cfg.listenAddr, err)
		}
	}
	advertise := cfg.advertiseAddrs
	if len(advertise) == 0 {
		advertise = []string{defaultAdvertiseAddr(conn.LocalAddr())}
	}
	n := &Node{cfg: cfg, identity: id, log: log, advertise: advertise}
	n.ctx = n.life.Context()
	n.dialingDiscovered.addrs = make(map[string]bool)
	if err := n.build(conn); err != nil {
		_ = n.teardown()
		return nil, asOptionError(err)
	}
	if err := n.parts.startAll(log); err != nil {
		_ = n.teardown()
		return nil, asOptionError(err)
	}
	if cfg.realmCA == nil {
		log.Warn("dev mode: no realm CA configured, any node with a self-signed certificate may join the realm")
	}
	log.Info("node started", zap.Stringer("id", id.ID()), zap.Stringer("addr", n.tr.Addr()))
	return n, nil
}

// build builds every part of the node, in dependency order, into n.parts.
// Nothing runs yet, with one exception: membership runs memberlist from
// the moment it is built, but it can reach no one before the transport
// starts. conn belongs to the transport once built (closed here if the
// transport cannot be built).
func (n *Node) build(conn net.PacketConn) error {
	cfg := n.cfg
	if cfg.auditWriter != nil {
		n.audit = security.NewAuditor(security.AuditConfig{Writer: cfg.auditWriter})
	}
	n.parts.add("audit log", nil, n.audit.Close)
	keepAlive := cfg.keepAlive
	if keepAlive == 0 {
		keepAlive = cfg.idleTimeout / 3
	}
	tcfg := transport.Config{
		Identity:           n.identity,
		Realm:              cfg.realm,
		Conn:               conn,
		Certificate:        cfg.certificate,
		RealmCA:            cfg.realmCA,
		AdvertiseAddrs:     n.advertise,
		IdleTimeout:        cfg.idleTimeout,
		KeepAlivePeriod:    keepAlive,
		HandshakeTimeout:   cfg.handshakeTimeout,
		MaxFrameSize:       cfg.maxFrameSize,
		Logger:             n.log,
		OnPeerChange:       n.onPeerChange,
		OnPeerLeaving:      n.onPeerLeaving,
		OnHandshakeFailure: n.audit.HandshakeFailure,
		OnLimitExceeded:    n.auditLimit,
		OnBan:              n.auditBan,
		OnViolation:        n.auditViolation,
	}
	cfg.limits.transportConfig(&tcfg)
	tr, err := transport.New(tcfg)
	if err != nil {
		_ = conn.Close()
		return err
	}
	n.tr = tr
	n.parts.add("transport", tr.Start, tr.Close)
	n.setSelfSubject(cfg.certificate)
	n.members, err = membership.New(tr, membership.Meta{Addrs: n.advertise, Version: transport.Software}, cfg.membershipConfig(), n.log)
	if err != nil {
		return err
	}
	n.parts.add("membership", nil, n.stopMembership)
	for _, b := range []func() error{n.buildRouting, n.buildMessaging, n.buildTopology, n.buildDiscovery} {
		if err := b(); err != nil {
			return err
		}
	}
	n.parts.add("bootstrap", n.startBootstrap, nil)
	return nil
}

// startBootstrap starts one background dial per WithBootstrap address.
func (n *Node) startBootstrap() error {
	for _, addr := range n.cfg.bootstrap {
		n.goFunc(func() { n.bootstrap(addr) })
	}
	return nil
}

// stopMembership leaves the realm when Close asked for it, then stops
// membership. The transport announces the shutdown to connected peers on
// the reliable control stream first, before memberlist's (gossiped) leave
// message, so they record "left" whatever order the gossip arrives in.
func (n *Node) stopMembership() error {
	if n.leaveGracefully.Load() {
		n.tr.AnnounceShutdown()
		if err := n.members.Leave(); err != nil {
			n.log.Debug("graceful leave incomplete", zap.Error(err))
		}
	}
	return n.members.Close()
}

// loadIdentity picks the identity: given, from a file, from the
// certificate's key, or new.
func (c *config) loadIdentity() (*security.Identity, error) {
	var id *security.Identity
	switch {
	case c.identity != nil:
		id = c.identity
	case c.identityFile != "":
		loaded, created, err := security.LoadOrCreateIdentity(c.identityFile)
		if err != nil {
			return nil, invalid("WithIdentityFile", "%w", err)
		}
		if created {
			c.logger.Info("created new identity", zap.String("file", c.identityFile), zap.Stringer("id", loaded.ID()))
		}
		id = loaded
	case c.certificate != nil:
		fromCert, err := identityFromCertificate(c.certificate)
		if err != nil {
			return nil, err
		}
		id = fromCert
	default:
		generated, err := security.GenerateIdentity()
		if err != nil {
			return nil, fmt.Errorf("macula: generate identity: %w", err)
		}
		id = generated
	}
	return id, nil
}

// ID is the node's ID.
func (n *Node) ID() NodeID { return n.identity.ID() }

// Realm is the node's realm.
func (n *Node) Realm() string { return n.cfg.realm }

// Addr is the node's bound UDP address.
func (n *Node) Addr() net.Addr { return n.tr.Addr() }

// URI is the node's macula://<realm>/<node-id>@host:port address, which
// others can give to Join to reach exactly this node.
func (n *Node) URI() string {
	return security.URI{Realm: n.cfg.realm, NodeID: n.ID(), Addr: n.Addr().String()}.String()
}

// Peers returns the peers the node is connected to.
func (n *Node) Peers() []PeerInfo { return n.tr.Peers() }

// Ping measures the round-trip time to a connected peer.
func (n *Node) Ping(ctx context.Context, id NodeID) (time.Duration, error) {
	if n.isClosing() {
		return 0, ErrClosed
	}
	return n.tr.Ping(ctx, id)
}

// Join connects to the nodes at addrs ("host:port" or macula:// URIs) at
// once, and returns nil as soon as one connection is up; the other dials go
// on in the background (each bounded by the handshake timeout). If none
// succeeds it returns an error joining each address's error. ctx bounds the
// wait. Malformed addresses fail at once, before anything is dialed, with
// ErrInvalidAddress (bad URIs also with ErrInvalidURI), as does a call
// without addresses; a closed node fails with ErrClosed.
func (n *Node) Join(ctx context.Context, addrs ...string) error {
	if n.isClosing() {
		return ErrClosed
	}
	if len(addrs) == 0 {
		return fmt.Errorf("%w: join needs at least one address", ErrInvalidAddress)
	}
	for _, addr := range addrs {
		if err := checkTarget(addr); err != nil {
			return fmt.Errorf("macula: join: %w", err)
		}
	}
	results := make(chan error, len(addrs))
	for _, addr := range addrs {
		if !n.goFunc(func() { results <- n.dial(n.ctx, addr) }) {
			return ErrClosed
		}
	}
	errs := make([]error, 0, len(addrs))
	for range addrs {
		select {
		case err := <-results:
			if err == nil {
				return nil
			}
			errs = append(errs, err)
		case <-ctx.Done():
			return fmt.Errorf("macula: join: %w", ctx.Err())
		}
	}
	return fmt.Errorf("macula: join: %w", errors.Join(errs...))
}

// dial connects to one address.
func (n *Node) dial(ctx context.Context, addr string) error {
	tg, err := parseTarget(addr)
	if err != nil {
		return err
	}
	if tg.realm != "" && tg.realm != n.cfg.realm {
		return fmt.Errorf("%w: %s is in realm %q, we are in %q", ErrRealmMismatch, addr, tg.realm, n.cfg.realm)
	}
	udp, err := tg.resolve(ctx)
	if err != nil {
		return err
	}
	// An address we already have a connection to is not dialed again: a
	// second dial would replace the working connection (a node's later dial
	// wins) and cut the streams running on it.
	peer, connected := n.tr.PeerByAddr(udp.String())
	if !connected || (!tg.expected.IsZero() && peer.ID != tg.expected) {
		peer, err = n.tr.Dial(ctx, udp, tg.expected)
		if err != nil {
			return err
		}
	}
	// The connection is the node's way into the realm until the exchange
	// is done: keep it from the connection manager.
	n.tr.Protect(peer.ID, "join")
	defer n.tr.Unprotect(peer.ID, "join")
	// Exchange membership state over the connection, so both views merge.
	// If the exchange ran on a connection that lost to a simultaneous dial
	// from the peer, the winning connection follows: give the loser a
	// moment to leave the table (the retry would find it again at once),
	// wait for the winner, retry.
	var joinErr error
	for attempt := range 5 {
		if joinErr = n.members.Join(peer.ID, udp.String()); joinErr == nil {
			return nil
		}
		pause := time.NewTimer(20 * time.Millisecond << attempt)
		select {
		case <-pause.C:
		case <-ctx.Done():
			pause.Stop()
			return joinErr
		}
		wctx, cancel := context.WithTimeout(ctx, n.cfg.handshakeTimeout)
		_, werr := n.tr.WaitPeer(wctx, peer.ID)
		cancel()
		if werr != nil {
			break
		}
	}
	return joinErr
}

// bootstrap dials addr until it is reached once, backing off exponentially
// with jitter between attempts, until the node closes.
func (n *Node) bootstrap(addr string) {
	const maxBackoff = 30 * time.Second
	backoff := 100 * time.Millisecond
	for {
		err := n.dial(n.ctx, addr)
		if err == nil || n.ctx.Err() != nil {
			return
		}
		if errors.Is(err, ErrSelfConnection) {
			return
		}
		n.log.Debug("bootstrap dial failed", zap.String("addr", addr), zap.Error(err), zap.Duration("retry_in", backoff))
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-time.After(wait):
		case <-n.ctx.Done():
			return
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// goFunc runs f on a goroutine owned by the node unless it is closing.
func (n *Node) goFunc(f func()) bool { return n.life.Go(f) }

func (n *Node) isClosing() bool { return n.life.Stopping() }

// Members returns every member of the realm this node knows of, itself
// included: alive and suspect members, and dead or left ones for a while
// after they went (MembershipConfig.Retention).
func (n *Node) Members() []Member { return n.members.Members() }

// Member returns the member with the given ID.
func (n *Node) Member(id NodeID) (Member, bool) { return n.members.Member(id) }

// WatchMembers returns a channel of membership changes (join, leave, fail,
// update, suspect, refute) from now on, in order, closed when ctx ends or
// the node closes. Each event carries the member's state and incarnation
// after the change.
func (n *Node) WatchMembers(ctx context.Context) <-chan MemberEvent { return n.members.Watch(ctx) }

// Close leaves the realm gracefully (others mark this node left, not
// dead), stops discovery and the overlay, disconnects from every peer,
// closes the socket and waits until every goroutine of the node has
// stopped. It is idempotent; calls after the first return nil at once.
func (n *Node) Close() error {
	var err error
	n.closeOnce.Do(func() {
		n.leaveGracefully.Store(true)
		err = n.teardown()
		n.log.Info("node closed")
	})
	return err
}

// teardown is the one way a node stops, after Close or a New that failed:
// the node's own goroutines are told to stop (no new one starts, and ctx
// ends), the parts stop in reverse order of start (so what dials peers or
// changes membership metadata, discovery and the overlay, stops first and
// the transport last), and then it waits for the node's goroutines, which
// may be in a call on a part until that part has stopped.
func (n *Node) teardown() error {
	n.life.Stop()
	err := n.parts.stopAll(n.log)
	n.life.Wait()
	return err
}
