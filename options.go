package macula

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/org/macula/discovery"
	"github.com/org/macula/internal/sentinel"
	"github.com/org/macula/membership"
	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
	"github.com/org/macula/topology"
	"github.com/org/macula/transport"
)

// Defaults of the options of New.
const (
	// DefaultRealm is the realm of a node started without WithRealm.
	DefaultRealm = security.DefaultRealm
	// DefaultListenAddr is the UDP address a node binds without WithListenAddr.
	DefaultListenAddr = "0.0.0.0:4433"
	// DefaultIdleTimeout closes a connection after this long without packets.
	DefaultIdleTimeout = transport.DefaultIdleTimeout
	// DefaultHandshakeTimeout bounds one dial: QUIC, TLS and the Hello.
	DefaultHandshakeTimeout = transport.DefaultHandshakeTimeout
	// DefaultMaxFrameSize is the largest frame sent or accepted (4 MiB).
	DefaultMaxFrameSize = protocol.DefaultMaxFrameSize
	// MinMaxFrameSize is the smallest value WithMaxFrameSize accepts
	// (64 KiB): a frame must hold an RPC call's or an event's headers
	// besides its payload, and a DHT answer's records.
	MinMaxFrameSize = 64 << 10
)

// An Option configures a Node; pass options to New. An option given an
// invalid value makes New fail with an error that names the option and
// wraps ErrInvalidOption and the cause.
type Option func(*config) error

// config is everything the options set. Every field's default is set in
// defaultConfig, and checked as a whole in validate.
type config struct {
	realm            string
	listenAddr       string
	bootstrap        []string
	identity         *security.Identity
	identityFile     string
	realmCA          *x509.CertPool
	certificate      *tls.Certificate
	logger           *zap.Logger
	packetConn       net.PacketConn
	idleTimeout      time.Duration
	keepAlive        time.Duration
	handshakeTimeout time.Duration
	maxFrameSize     int
	advertiseAddrs   []string
	membership       MembershipConfig
	gossipKey        []byte
	topologyK        int
	discovery        []discovery.Source
	mdns             *mdnsOptions
	auditWriter      io.Writer
	acl              *security.ACL
	signing          signingMode
	limits           Limits
}

func defaultConfig() *config {
	return &config{
		realm:            DefaultRealm,
		listenAddr:       DefaultListenAddr,
		bootstrap:        nil, // no bootstrap: the node waits to be joined
		identity:         nil, // generated, unless a file or certificate gives one
		identityFile:     "",  // identity kept in memory only
		realmCA:          nil, // dev mode: self-signed certificates accepted
		certificate:      nil, // self-signed for the identity and realm
		logger:           zap.NewNop(),
		packetConn:       nil, // a UDP socket bound at listenAddr
		idleTimeout:      DefaultIdleTimeout,
		keepAlive:        0, // a third of the idle timeout
		handshakeTimeout: DefaultHandshakeTimeout,
		maxFrameSize:     DefaultMaxFrameSize,
		advertiseAddrs:   nil, // the bound address
		membership:       membership.DefaultConfig(),
		gossipKey:        nil, // dev mode: derived from the realm; with a realm CA: random until the first state exchange
		topologyK:        topology.DefaultK,
		discovery:        nil, // no discovery sources
		mdns:             nil, // no mDNS
		auditWriter:      nil, // no audit log
		acl:              nil, // dev mode: every action allowed
		signing:          signNone,
		limits:           DefaultLimits(),
	}
}

// invalid returns the error of option given a bad value: it reads
// "macula: invalid option: <option>: <detail>" and matches
// ErrInvalidOption and every error format wraps with %w.
func invalid(option, format string, args ...any) error {
	return sentinel.Option(ErrInvalidOption, option, format, args...)
}

// asOptionError reports err, from a part of the node built from the
// options, as an invalid option when that part refused its config: the
// result matches ErrInvalidOption, ErrInvalidConfig and the part's own
// sentinel.
func asOptionError(err error) error {
	if errors.Is(err, ErrInvalidConfig) && !errors.Is(err, ErrInvalidOption) {
		return fmt.Errorf("%w: %w", ErrInvalidOption, err)
	}
	return err
}

// checkListenAddr checks the address of WithListenAddr: it must resolve
// as a UDP address.
func checkListenAddr(addr string) error {
	if _, err := net.ResolveUDPAddr("udp", addr); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidAddress, err)
	}
	return nil
}

// checkAddr checks a "host:port" address of WithAdvertiseAddrs; errors
// match ErrInvalidAddress and keep the cause.
func checkAddr(addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidAddress, err)
	}
	return nil
}

// validate checks the options together, after all were applied.
func (c *config) validate() error {
	if err := security.ValidateRealm(c.realm); err != nil {
		return invalid("WithRealm", "%w", err)
	}
	if c.identity != nil && c.identityFile != "" {
		return invalid("WithIdentity", "mutually exclusive with WithIdentityFile")
	}
	if c.packetConn == nil {
		if err := checkListenAddr(c.listenAddr); err != nil {
			return invalid("WithListenAddr", "%q: %w", c.listenAddr, err)
		}
	}
	for _, a := range c.bootstrap {
		if err := checkTarget(a); err != nil {
			return invalid("WithBootstrap", "%w", err)
		}
	}
	if c.keepAlive != 0 && c.keepAlive >= c.idleTimeout {
		return invalid("WithKeepAlive", "%v must be shorter than the idle timeout %v", c.keepAlive, c.idleTimeout)
	}
	return nil
}

// WithRealm sets the node's realm, a reverse-DNS name such as
// "org.example.mesh" (the default). Nodes of other realms are refused.
func WithRealm(realm string) Option {
	return func(c *config) error {
		if err := security.ValidateRealm(realm); err != nil {
			return invalid("WithRealm", "%w", err)
		}
		c.realm = realm
		return nil
	}
}

// WithListenAddr sets the UDP address to bind, "host:port" (default
// "0.0.0.0:4433"; port 0 picks a free port). The same socket is used to dial.
func WithListenAddr(addr string) Option {
	return func(c *config) error {
		if err := checkListenAddr(addr); err != nil {
			return invalid("WithListenAddr", "%q: %w", addr, err)
		}
		c.listenAddr = addr
		return nil
	}
}

// WithBootstrap adds addresses the node joins in the background after it
// starts, retrying with backoff until each is reached once. An address is
// "host:port" or a macula://<realm>/<node-id>@host:port URI, which also
// names the node to expect there. Default: none.
func WithBootstrap(addrs ...string) Option {
	return func(c *config) error {
		for _, a := range addrs {
			if err := checkTarget(a); err != nil {
				return invalid("WithBootstrap", "%w", err)
			}
		}
		c.bootstrap = append(c.bootstrap, addrs...)
		return nil
	}
}

// WithIdentity sets the node's identity. Default: a new identity, unless
// WithIdentityFile or WithCertificate provides one.
func WithIdentity(id *security.Identity) Option {
	return func(c *config) error {
		if id == nil {
			return invalid("WithIdentity", "nil identity")
		}
		c.identity = id
		return nil
	}
}

// WithIdentityFile loads the node's identity from a PEM file, creating the
// file (mode 0600) with a new identity if it does not exist, so the node
// keeps its ID across restarts. Default: none (identity in memory only).
func WithIdentityFile(path string) Option {
	return func(c *config) error {
		if path == "" {
			return invalid("WithIdentityFile", "empty path")
		}
		c.identityFile = path
		return nil
	}
}

// WithRealmCA requires every peer's certificate to chain to pool, and turns
// dev mode off. The node's own certificate (WithCertificate) must chain to it
// too. Default: nil, dev mode, where self-signed certificates are accepted.
func WithRealmCA(pool *x509.CertPool) Option {
	return func(c *config) error {
		if pool == nil {
			return invalid("WithRealmCA", "nil pool")
		}
		c.realmCA = pool
		return nil
	}
}

// WithCertificate sets the certificate the node presents, e.g. one issued by
// the realm CA. Its key is the node's identity key. Default: a self-signed
// certificate for the identity and realm.
func WithCertificate(cert tls.Certificate) Option {
	return func(c *config) error {
		if len(cert.Certificate) == 0 || cert.PrivateKey == nil {
			return invalid("WithCertificate", "certificate needs DER data and a private key")
		}
		c.certificate = &cert
		return nil
	}
}

// WithLogger sets the zap logger the node and all its parts log to.
// Default: a no-op logger.
func WithLogger(l *zap.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return invalid("WithLogger", "nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithAuditLog writes the node's security audit log to w, one JSON object
// per line: every refused or failed handshake with its reason (realm
// mismatch, untrusted or expired certificate, identity mismatch...), the
// peer's address and, when known, node ID. Writes happen on a goroutine of
// their own and never hold the node up; records that find the queue full
// are counted and reported in an "audit_dropped" record. Default: no
// audit log.
func WithAuditLog(w io.Writer) Option {
	return func(c *config) error {
		if w == nil {
			return invalid("WithAuditLog", "nil writer")
		}
		c.auditWriter = w
		return nil
	}
}

// WithACL enforces acl on this node: its own Publish, Subscribe,
// Register and Call are checked before anything is sent, and what other
// nodes do here is checked where it lands: events they publish to this
// node's subscribers, and calls they make to its procedures. So a
// modified peer that skips its own checks is still refused. Subjects are
// the peer's node ID and realm and, with WithRealmCA, the roles in its
// certificate. Denials fail with ErrACLDenied and go to the audit log
// (WithAuditLog). Load a file with security.LoadACL. Default: none, every
// action is allowed (dev mode).
func WithACL(acl *security.ACL) Option {
	return func(c *config) error {
		if acl == nil {
			return invalid("WithACL", "nil ACL")
		}
		c.acl = acl
		return nil
	}
}

// WithMessageSigning makes the node sign every event it publishes and
// every call result it returns with its identity's Ed25519 key.
// Receivers verify the signature and name the verified node in
// Event.Signer and Reply.Signer; an event keeps its publisher's signature
// when another node forwards it. With require set, the node also refuses
// unsigned events and results from other nodes. A signature that does
// not verify is refused either way, counted and audited (kind
// "bad_signature"). Default: unsigned, and unsigned messages accepted.
func WithMessageSigning(require bool) Option {
	return func(c *config) error {
		c.signing = signOwn
		if require {
			c.signing = signRequired
		}
		return nil
	}
}

// WithTransport runs the node's QUIC transport on conn instead of binding a
// UDP socket at the listen address, e.g. an endpoint of quic-go's in-memory
// simnet. The node takes ownership of conn and closes it on Close.
// Default: nil, a UDP socket.
func WithTransport(conn net.PacketConn) Option {
	return func(c *config) error {
		if conn == nil {
			return invalid("WithTransport", "nil packet conn")
		}
		c.packetConn = conn
		return nil
	}
}

// WithIdleTimeout closes a connection after d without any packet from the
// peer. Keep-alives are sent at a third of d. Default: 30 s.
func WithIdleTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return invalid("WithIdleTimeout", "%v, want a positive duration", d)
		}
		c.idleTimeout = d
		return nil
	}
}

// WithKeepAlive sets how often an idle connection sends a keep-alive; it must
// be shorter than the idle timeout. Default: a third of the idle timeout.
func WithKeepAlive(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return invalid("WithKeepAlive", "%v, want a positive duration", d)
		}
		c.keepAlive = d
		return nil
	}
}

// WithHandshakeTimeout bounds each dial (QUIC, TLS and the Hello exchange).
// Default: 10 s.
func WithHandshakeTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return invalid("WithHandshakeTimeout", "%v, want a positive duration", d)
		}
		c.handshakeTimeout = d
		return nil
	}
}

// WithMaxFrameSize sets the largest frame the node sends or accepts, in
// bytes, at least MinMaxFrameSize (64 KiB). Larger messages fail with
// ErrMessageTooLarge; payloads of Publish and Call must leave room for a
// few KiB of headers. Default: 4 MiB.
func WithMaxFrameSize(n int) Option {
	return func(c *config) error {
		if n < MinMaxFrameSize {
			return invalid("WithMaxFrameSize", "%d bytes, want at least %d", n, MinMaxFrameSize)
		}
		c.maxFrameSize = n
		return nil
	}
}

// WithAdvertiseAddrs sets the addresses peers are told to dial this node at.
// Default: the bound address.
func WithAdvertiseAddrs(addrs ...string) Option {
	return func(c *config) error {
		for _, a := range addrs {
			if err := checkAddr(a); err != nil {
				return invalid("WithAdvertiseAddrs", "%q: %w", a, err)
			}
		}
		c.advertiseAddrs = append(c.advertiseAddrs, addrs...)
		return nil
	}
}

// WithMembershipConfig sets the SWIM failure-detector knobs: probe interval
// and timeout, suspicion multipliers, gossip rates, leave timeout, retention
// of dead members and the node's tags. Zero fields keep the LAN defaults
// (membership.DefaultConfig: probe every 1 s, 500 ms timeout, suspicion
// multiplier 4); negative ones, or a probe timeout not shorter than the
// probe interval, are invalid (the error also matches ErrInvalidConfig).
func WithMembershipConfig(cfg MembershipConfig) Option {
	return func(c *config) error {
		if err := cfg.Validate(); err != nil {
			return invalid("WithMembershipConfig", "%w", err)
		}
		c.membership = cfg
		return nil
	}
}

// WithGossipKey sets the realm's gossip key: membership's SWIM packets
// travel as plain UDP on the node's socket, sealed with AES-GCM under this
// key (16, 24 or 32 bytes). Nodes merge their keyrings whenever they
// exchange membership state, always over mutually authenticated QUIC, so
// only holders of a valid realm certificate ever learn a key and a realm
// needs no key configured; giving every node the same key saves the first
// exchanges. Keys rotate at run time with [Node.InstallGossipKey],
// [Node.UseGossipKey] and [Node.RemoveGossipKey]. Default: in dev mode
// (no [WithRealmCA]) a key derived from the realm name, which only keeps
// realms apart (dev mode admits anyone); with a realm CA a random key,
// replaced by the realm's current key at the first exchange.
func WithGossipKey(key []byte) Option {
	return func(c *config) error {
		switch len(key) {
		case 16, 24, 32:
		default:
			return invalid("WithGossipKey", "%d bytes, want 16, 24 or 32", len(key))
		}
		c.gossipKey = slices.Clone(key)
		return nil
	}
}

// WithTopology sets k, the number of long-lived overlay links each node
// keeps. The nodes choose their links so that the overlay is a k-connected
// graph (a Harary graph over the members in node-ID order: for k = 2, a
// ring), and re-dial lost links with exponential backoff and jitter.
// Default: 2.
func WithTopology(k int) Option {
	return func(c *config) error {
		if k < 1 {
			return invalid("WithTopology", "degree %d, want at least 1", k)
		}
		c.topologyK = k
		return nil
	}
}

// WithDiscovery adds sources of bootstrap addresses (see package discovery:
// static lists, mDNS, DNS SRV, Consul, Kubernetes). Each source is polled
// continuously; every address it yields that the node is not connected to
// is joined. A failing source is logged and retried with backoff.
// Default: none.
func WithDiscovery(sources ...discovery.Source) Option {
	return func(c *config) error {
		for _, s := range sources {
			if s == nil {
				return invalid("WithDiscovery", "nil source")
			}
		}
		c.discovery = append(c.discovery, sources...)
		return nil
	}
}

// WithMDNS advertises this node on the local network with multicast DNS
// (service _macula._udp, realm in the TXT record) and joins every node of
// the same realm it finds there, so nodes on one LAN need no bootstrap
// address. iface names the network interface to use; "" lets the system
// choose. Default: off.
func WithMDNS(iface string) Option {
	return func(c *config) error {
		c.mdns = &mdnsOptions{iface: iface}
		return nil
	}
}

// membershipConfig is the membership configuration with the gossip key
// resolved (see WithGossipKey).
func (c *config) membershipConfig() MembershipConfig {
	mc := c.membership
	switch {
	case c.gossipKey != nil:
		mc.GossipKey = c.gossipKey
	case len(mc.GossipKey) != 0:
	case c.realmCA == nil:
		k := sha256.Sum256([]byte("macula/1/gossip-key/" + c.realm))
		mc.GossipKey = k[:]
	}
	return mc
}
