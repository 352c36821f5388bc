package transport

import (
	"crypto/x509"
	"net"
	"time"

	"github.com/org/macula/security"
)

// PeerInfo describes one connected peer.
type PeerInfo struct {
	// ID is the peer's node ID, proven by its certificate.
	ID security.NodeID
	// Realm is the peer's realm (always ours: other realms are refused).
	Realm string
	// RemoteAddr is the address the connection runs to.
	RemoteAddr net.Addr
	// AdvertisedAddrs are the addresses the peer says it can be dialed at.
	AdvertisedAddrs []string
	// Capabilities are the feature names the peer announced.
	Capabilities []string
	// Software names the peer's implementation and version.
	Software string
	// Outbound is true when this node dialed the connection.
	Outbound bool
	// ConnectedAt is when the Hello exchange completed.
	ConnectedAt time.Time
	// RTT is QUIC's smoothed round-trip time estimate for the connection.
	RTT time.Duration
	// Certificate is the leaf certificate the peer presented in the
	// handshake, verified for its node ID and realm (and, with a realm CA,
	// its chain); security.RolesOf reads its roles. Shared: do not modify.
	Certificate *x509.Certificate
	// Protected lists the tags that keep the connection open whatever its
	// use ([Transport.Protect]); empty for a connection made on demand,
	// which the connection manager closes once idle.
	Protected []string
	// Streams is the number of streams in flight on the connection.
	Streams int
	// Idle is how long the connection has carried no stream (zero while
	// one is in flight).
	Idle time.Duration
}

// PeerEvent reports a peer becoming connected or disconnected.
type PeerEvent struct {
	// Peer is the peer's state at the time of the event.
	Peer PeerInfo
	// Connected is true when the peer became connected, false when its
	// connection ended.
	Connected bool
	// Err is why the connection ended (nil for a connect event).
	Err error
}
