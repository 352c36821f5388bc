package transport

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math"
	"net"
	"time"

	"go.uber.org/zap"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
)

// Defaults for the zero values of [Config].
const (
	DefaultIdleTimeout        = 30 * time.Second
	DefaultKeepAlivePeriod    = 10 * time.Second
	DefaultHandshakeTimeout   = 10 * time.Second
	DefaultMaxStreamsPerPeer  = 512
	DefaultMaxIncomingStreams = 2 * DefaultMaxStreamsPerPeer // see Config.MaxIncomingStreams
	DefaultStreamRate         = 50_000
	DefaultStreamBurst        = 5_000
	DefaultFrameRate          = 4_000_000
	DefaultFrameBurst         = 400_000
	DefaultPingRate           = 100
	DefaultPingBurst          = 500
	DefaultDatagramRate       = 10_000
	DefaultDatagramBurst      = 1_000
	DefaultHandshakeRate      = 200
	DefaultHandshakeBurst     = 1_000
	DefaultStrikeLimit        = 1_000
	DefaultStrikeWindow       = 10 * time.Second
	DefaultBanDuration        = 30 * time.Second
	DefaultMaxBanDuration     = 30 * time.Minute
)

// NoLimitDuration, in [Config.ConnIdleTimeout], turns idle trimming off.
const NoLimitDuration time.Duration = -1

// NoLimit, in a per-peer limit field of [Config] (MaxStreamsPerPeer and
// the rates and bursts of streams, frames, pings, datagrams and
// handshakes, and StrikeLimit), turns that limit off. Zero means the
// default; other negative values are invalid.
const NoLimit = -1

// Config configures a [Transport]. Identity, Realm and Conn are required;
// every other field has a default, stated on the field.
type Config struct {
	// Identity is the node's key pair; its NodeID is what peers see.
	Identity *security.Identity
	// Realm is the node's realm. Peers of other realms are refused.
	Realm string
	// Conn is the one socket used to listen and dial. The Transport owns it
	// and closes it on Close.
	Conn net.PacketConn
	// Certificate is presented to peers. Nil means a self-signed certificate
	// for Identity and Realm (dev mode).
	Certificate *tls.Certificate
	// RealmCA, when set, is the pool a peer's certificate must chain to.
	// Nil means dev mode: self-signed peer certificates are accepted.
	RealmCA *x509.CertPool
	// AdvertiseAddrs are the addresses sent to peers in the Hello. Nil means
	// the socket's local address.
	AdvertiseAddrs []string
	// Capabilities are feature names sent in the Hello.
	Capabilities []string
	// IdleTimeout closes a connection after this long without any packet.
	// Zero means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// KeepAlivePeriod is how often an idle connection sends a keep-alive.
	// Zero means DefaultKeepAlivePeriod, capped at half the IdleTimeout.
	KeepAlivePeriod time.Duration
	// HandshakeTimeout bounds the QUIC/TLS handshake and the Hello exchange.
	// Zero means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// ConnLowWater and ConnHighWater bound the number of connections: once
	// more than ConnHighWater are open, the least recently used ones that
	// are neither protected ([Transport.Protect]) nor carrying a stream
	// and have been idle for ConnGracePeriod are closed until ConnLowWater
	// remain. Zero means DefaultConnLowWater (32) and DefaultConnHighWater
	// (64); NoLimit as ConnHighWater turns this off.
	ConnLowWater, ConnHighWater int
	// ConnIdleTimeout closes a connection that is not protected and has
	// carried no stream for this long, whatever the count: connections
	// made on demand (a lookup, a call, a state exchange) do not pile up.
	// Zero means DefaultConnIdleTimeout (5 s); NoLimitDuration turns it off.
	ConnIdleTimeout time.Duration
	// ConnGracePeriod is the least idle time before the watermarks may
	// close a connection. Zero means DefaultConnGracePeriod (2 s).
	ConnGracePeriod time.Duration
	// MaxFrameSize is the largest frame accepted or sent on any stream.
	// Zero means protocol.DefaultMaxFrameSize.
	MaxFrameSize int
	// MaxIncomingStreams is QUIC's stream credit: how many streams a peer
	// may have open at once, counted by quic-go until both directions of a
	// stream are done. A peer at it waits for credit to open more. Zero
	// means DefaultMaxIncomingStreams (1024), raised to twice
	// MaxStreamsPerPeer when that is larger: the credit must exceed
	// MaxStreamsPerPeer for a flooding peer's excess streams to reach the
	// transport and be refused and counted, with room for refused streams
	// that QUIC has not retired yet (a round trip). Set at or below
	// MaxStreamsPerPeer, it binds first and the excess waits instead.
	MaxIncomingStreams int64
	// MaxStreamsPerPeer is how many of one peer's streams may be in their
	// handlers at once, counted from accept until the handler returns (the
	// control stream is not counted). A stream beyond it is aborted at once
	// with protocol.CodeRateLimited, without reaching a handler; the peer
	// sees ErrRateLimited. Zero means DefaultMaxStreamsPerPeer (512);
	// NoLimit turns it off.
	MaxStreamsPerPeer int
	// StreamRate and StreamBurst are a token bucket, per connection, on the
	// streams the peer opens: StreamRate per second on average, StreamBurst
	// at once. A stream over it is refused like one over MaxStreamsPerPeer.
	// Zero means DefaultStreamRate (50,000/s) and DefaultStreamBurst
	// (5,000); NoLimit in either turns the bucket off.
	StreamRate float64
	// StreamBurst: see StreamRate.
	StreamBurst int
	// FrameRate and FrameBurst are a token bucket, per connection, on the
	// frames read from the peer by [Stream.ReadFrame], over all its streams
	// (those it opened and those we opened). The frame over it is dropped,
	// its stream is aborted with protocol.CodeRateLimited, and ReadFrame
	// returns an error wrapping ErrRateLimited. The control stream is not
	// counted: its traffic is a few frames per keep-alive on one goroutine,
	// refusing there would close the whole connection, and sharing the
	// bucket would let heavy data starve pings. Raw [Stream.Read] is not
	// counted either (QUIC flow control bounds its bytes). Zero means
	// DefaultFrameRate (4,000,000/s) and DefaultFrameBurst (400,000);
	// NoLimit in either turns the bucket off. The default sits above what
	// one QUIC connection carries on commodity hardware (raw quic-go moves
	// about 2.8 M small messages/s on a 2-core machine): refusing a frame
	// aborts its stream, so honest traffic must never meet the limit, which
	// is there against small-frame floods on faster links.
	FrameRate float64
	// FrameBurst: see FrameRate.
	FrameBurst int
	// PingRate and PingBurst are a token bucket, per connection, on the
	// pings and heartbeats the peer sends on the control stream (each ping
	// makes this node write a pong). A ping over it is not answered (the
	// peer's Ping waits until its context ends) and a heartbeat over it is
	// dropped; the connection goes on. Zero means DefaultPingRate (100/s)
	// and DefaultPingBurst (500), far above what keep-alives and RTT
	// probes need; NoLimit in either turns the bucket off.
	PingRate float64
	// PingBurst: see PingRate.
	PingBurst int
	// DatagramRate and DatagramBurst are a token bucket, per connection,
	// on the datagrams the peer sends: one over it is dropped before its
	// handler, as a full socket buffer would drop it. Zero means
	// DefaultDatagramRate (10,000/s, about 12 MB/s of full datagrams) and
	// DefaultDatagramBurst (1,000); NoLimit in either turns the bucket off.
	DatagramRate float64
	// DatagramBurst: see DatagramRate.
	DatagramBurst int
	// HandshakeRate and HandshakeBurst are a token bucket per source IP
	// address (for IPv6, per /64 prefix) on the connections peers open to
	// this node, taken when a connection's first packet arrives, before
	// any TLS work: a handshake over it is refused with QUIC's
	// CONNECTION_REFUSED (the dialer's error wraps ErrRateLimited). This
	// is the one limit that applies before a peer is authenticated. Nodes
	// behind one address (a NAT, or several nodes on one host) share its
	// bucket. The address is not verified when the packet arrives, so a
	// spoofer can use up another address's bucket: that delays the
	// address's new connections, but admits nothing. Zero means
	// DefaultHandshakeRate (200/s) and DefaultHandshakeBurst (1,000); a
	// handshake costs this node a TLS 1.3 exchange with two Ed25519
	// operations and a certificate check, so 200/s is a few percent of a
	// core. NoLimit in either turns the bucket off.
	HandshakeRate float64
	// HandshakeBurst: see HandshakeRate.
	HandshakeBurst int
	// StrikeLimit and StrikeWindow decide when a peer that keeps going
	// over its limits is banned. Every request a per-peer limit above
	// refuses (streams, frames, pings, datagrams) is a strike against its
	// peer, as is every refusal another layer reports with
	// [Transport.Strike] (the Node reports the DHT's per-sender rates). A
	// peer with more than StrikeLimit strikes within StrikeWindow (a token
	// bucket of StrikeLimit refilled over StrikeWindow, kept per node ID,
	// so reconnecting does not reset it) is banned: see BanDuration. Zero
	// means DefaultStrikeLimit (1,000) and DefaultStrikeWindow (10 s): a
	// peer refused a hundred times a second for ten seconds, far from
	// anything honest traffic meets with the default limits, is banned,
	// and one refused a thousand times at once is banned at once. NoLimit
	// as StrikeLimit turns banning off.
	StrikeLimit int
	// StrikeWindow: see StrikeLimit.
	StrikeWindow time.Duration
	// BanDuration is how long a banned peer is refused: its connection is
	// closed with protocol.CodeRateLimited, its handshakes are refused
	// (its first dial fails with an error wrapping ErrBanned, after the
	// TLS handshake that proves who it is; its later dials from that
	// address are refused before TLS, with ErrRateLimited), and this
	// node's own dials to it fail at once with a [*BannedError]. Each further
	// ban of the same peer doubles the duration, up to MaxBanDuration; a
	// peer not banned again for MaxBanDuration after its last ban ended
	// starts again from BanDuration. Zero means DefaultBanDuration (30 s)
	// and DefaultMaxBanDuration (30 min, or BanDuration if that is
	// longer); MaxBanDuration below BanDuration is invalid.
	BanDuration time.Duration
	// MaxBanDuration: see BanDuration.
	MaxBanDuration time.Duration
	// Logger receives the transport's logs. Nil means no logging.
	Logger *zap.Logger
	// OnHandshakeFailure, if set, is called for every refused or failed
	// handshake, inbound or outbound, with the remote address and the reason
	// (errors.Is-able against the security and protocol sentinels). It is
	// called from quic-go's or the transport's goroutines and must not block.
	OnHandshakeFailure func(remote net.Addr, err error)
	// OnPeerLeaving, if set, is called when a peer announces on the control
	// stream that it is shutting down gracefully (see
	// Transport.AnnounceShutdown). It is called from the connection's
	// control goroutine and must not block.
	OnPeerLeaving func(id security.NodeID)
	// OnPeerChange, if set, is called when a peer becomes connected or loses
	// its connection. Calls are made from the goroutine that changed the peer
	// table, after the change; it must not block or call back into the
	// Transport synchronously.
	OnPeerChange func(ev PeerEvent)
	// OnLimitExceeded, if set, is called when a peer goes over one of the
	// per-peer limits above, at most once per second per connection and
	// limit (so a flood does not flood an audit log); ev.Refused counts the
	// refusals since the previous call. Every refusal is counted in
	// [Transport.LimitStats]. It is called from the connection's stream
	// accept goroutine (stream limits), the goroutine calling ReadFrame
	// (frame limit), the connection's control goroutine (pings), its
	// datagram goroutine (datagrams) or quic-go's packet-handling
	// goroutine (handshakes, at most once per second per source
	// address), and must not block.
	OnLimitExceeded func(ev LimitEvent)
	// OnBan, if set, is called once each time a peer is banned (see
	// StrikeLimit and BanDuration), before its connection is closed. It
	// is called from the goroutine whose refusal made the last strike (a
	// stream accept, ReadFrame, control or datagram goroutine, or the
	// caller of [Transport.Strike]) and must not block.
	OnBan func(ev BanEvent)
	// OnViolation, if set, is called when a peer breaks the protocol on a
	// stream: a malformed or oversized frame, a message type this node
	// does not know, or a stream of an unknown type. The stream has been
	// aborted with the matching code; the connection and the peer's other
	// streams go on. Like OnLimitExceeded, it is called at most once per
	// second per connection and kind of violation (ViolationEvent.Count
	// says how many went unreported), from the goroutine reading the
	// stream, and must not block.
	OnViolation func(ev ViolationEvent)
}

// withDefaults returns a copy of c with defaults filled in, or an error
// wrapping ErrInvalidConfig.
func (c Config) withDefaults() (Config, error) {
	if c.Identity == nil {
		return c, fmt.Errorf("%w: identity is required", ErrInvalidConfig)
	}
	if err := security.ValidateRealm(c.Realm); err != nil {
		return c, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if c.Conn == nil {
		return c, fmt.Errorf("%w: a packet conn is required", ErrInvalidConfig)
	}
	if c.IdleTimeout < 0 || c.KeepAlivePeriod < 0 || c.HandshakeTimeout < 0 || c.MaxFrameSize < 0 || c.MaxIncomingStreams < 0 {
		return c, fmt.Errorf("%w: durations and limits must not be negative", ErrInvalidConfig)
	}
	if err := c.limitDefaults(); err != nil {
		return c, err
	}
	if err := c.connDefaults(); err != nil {
		return c, err
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.KeepAlivePeriod == 0 {
		c.KeepAlivePeriod = min(DefaultKeepAlivePeriod, c.IdleTimeout/2)
	}
	if c.KeepAlivePeriod >= c.IdleTimeout {
		return c, fmt.Errorf("%w: keep-alive period %v must be shorter than the idle timeout %v", ErrInvalidConfig, c.KeepAlivePeriod, c.IdleTimeout)
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = protocol.DefaultMaxFrameSize
	}
	if c.MaxIncomingStreams == 0 {
		c.MaxIncomingStreams = DefaultMaxIncomingStreams
		if c.MaxStreamsPerPeer != NoLimit {
			c.MaxIncomingStreams = max(c.MaxIncomingStreams, 2*int64(c.MaxStreamsPerPeer))
		}
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Certificate == nil {
		cert, err := security.SelfSignedCertificate(c.Identity, c.Realm, 0)
		if err != nil {
			return c, fmt.Errorf("%w: self-signed certificate: %w", ErrInvalidConfig, err)
		}
		c.Certificate = &cert
	}
	if err := checkOwnCertificate(c); err != nil {
		return c, err
	}
	if c.AdvertiseAddrs == nil {
		c.AdvertiseAddrs = []string{c.Conn.LocalAddr().String()}
	}
	return c, nil
}

// limitDefaults checks the per-peer limits and fills in their defaults.
func (c *Config) limitDefaults() error {
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"MaxStreamsPerPeer", float64(c.MaxStreamsPerPeer)},
		{"StreamRate", c.StreamRate}, {"StreamBurst", float64(c.StreamBurst)},
		{"FrameRate", c.FrameRate}, {"FrameBurst", float64(c.FrameBurst)},
		{"PingRate", c.PingRate}, {"PingBurst", float64(c.PingBurst)},
		{"DatagramRate", c.DatagramRate}, {"DatagramBurst", float64(c.DatagramBurst)},
		{"HandshakeRate", c.HandshakeRate}, {"HandshakeBurst", float64(c.HandshakeBurst)},
		{"StrikeLimit", float64(c.StrikeLimit)},
	} {
		if f.v != NoLimit && (f.v < 0 || math.IsNaN(f.v) || math.IsInf(f.v, 0)) {
			return fmt.Errorf("%w: %s is %v; use a positive value, zero for the default or NoLimit", ErrInvalidConfig, f.name, f.v)
		}
	}
	if c.MaxStreamsPerPeer == 0 {
		c.MaxStreamsPerPeer = DefaultMaxStreamsPerPeer
	}
	if c.StreamRate == 0 {
		c.StreamRate = DefaultStreamRate
	}
	if c.StreamBurst == 0 {
		c.StreamBurst = DefaultStreamBurst
	}
	if c.FrameRate == 0 {
		c.FrameRate = DefaultFrameRate
	}
	if c.FrameBurst == 0 {
		c.FrameBurst = DefaultFrameBurst
	}
	for _, f := range []struct {
		v   *float64
		def float64
	}{
		{&c.PingRate, DefaultPingRate}, {&c.DatagramRate, DefaultDatagramRate}, {&c.HandshakeRate, DefaultHandshakeRate},
	} {
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	for _, f := range []struct {
		v   *int
		def int
	}{
		{&c.PingBurst, DefaultPingBurst}, {&c.DatagramBurst, DefaultDatagramBurst},
		{&c.HandshakeBurst, DefaultHandshakeBurst}, {&c.StrikeLimit, DefaultStrikeLimit},
	} {
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	return c.banDefaults()
}

// banDefaults checks the strike window and ban durations and fills in
// their defaults.
func (c *Config) banDefaults() error {
	if c.StrikeWindow < 0 || c.BanDuration < 0 || c.MaxBanDuration < 0 {
		return fmt.Errorf("%w: StrikeWindow, BanDuration and MaxBanDuration must not be negative", ErrInvalidConfig)
	}
	if c.StrikeWindow == 0 {
		c.StrikeWindow = DefaultStrikeWindow
	}
	if c.BanDuration == 0 {
		c.BanDuration = DefaultBanDuration
	}
	if c.MaxBanDuration == 0 {
		c.MaxBanDuration = max(DefaultMaxBanDuration, c.BanDuration)
	}
	if c.MaxBanDuration < c.BanDuration {
		return fmt.Errorf("%w: MaxBanDuration %v is below BanDuration %v", ErrInvalidConfig, c.MaxBanDuration, c.BanDuration)
	}
	return nil
}

// checkOwnCertificate refuses a certificate that peers would refuse: one for
// another key, another realm, or (with a realm CA) not chaining to the CA.
func checkOwnCertificate(c Config) error {
	if len(c.Certificate.Certificate) == 0 {
		return fmt.Errorf("%w: certificate has no DER data", ErrInvalidConfig)
	}
	id, _, err := security.VerifyPeer(c.Certificate.Certificate, security.VerifyOptions{
		Realm:      c.Realm,
		RealmCA:    c.RealmCA,
		ExpectedID: c.Identity.ID(),
	})
	if err != nil {
		return fmt.Errorf("%w: own certificate: %w", ErrInvalidConfig, err)
	}
	if id != c.Identity.ID() {
		return fmt.Errorf("%w: certificate is for node %s, identity is %s", ErrInvalidConfig, id.Short(), c.Identity.ID().Short())
	}
	return nil
}

// connDefaults checks the connection manager's settings and fills in
// their defaults.
func (c *Config) connDefaults() error {
	if c.ConnLowWater == 0 {
		c.ConnLowWater = DefaultConnLowWater
	}
	if c.ConnHighWater == 0 {
		c.ConnHighWater = max(DefaultConnHighWater, c.ConnLowWater)
	}
	if c.ConnIdleTimeout == 0 {
		c.ConnIdleTimeout = DefaultConnIdleTimeout
	}
	if c.ConnGracePeriod == 0 {
		c.ConnGracePeriod = DefaultConnGracePeriod
	}
	switch {
	case c.ConnLowWater < 0:
		return fmt.Errorf("%w: connection low water mark must not be negative", ErrInvalidConfig)
	case c.ConnHighWater != NoLimit && c.ConnHighWater < c.ConnLowWater:
		return fmt.Errorf("%w: connection high water mark %d is below the low one %d", ErrInvalidConfig, c.ConnHighWater, c.ConnLowWater)
	case c.ConnIdleTimeout < 0 && c.ConnIdleTimeout != NoLimitDuration, c.ConnGracePeriod < 0:
		return fmt.Errorf("%w: connection durations must not be negative", ErrInvalidConfig)
	}
	return nil
}

// trimInterval is how often the connection manager runs.
func (c *Config) trimInterval() time.Duration {
	d := time.Second
	if c.ConnIdleTimeout > 0 {
		d = min(d, c.ConnIdleTimeout/4)
	}
	return max(d, 10*time.Millisecond)
}
