package membership

import (
	"context"
	"net"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
	"github.com/org/macula/transport"
)

// Network is what membership needs from the transport; *transport.Transport
// implements it.
type Network interface {
	// ID is this node's ID, its member name.
	ID() security.NodeID
	// Realm is this node's realm: only its members are members.
	Realm() string
	// Addr is the address other members reach this node at.
	Addr() net.Addr
	// Dial connects to addr, which must be expected (zero: any node).
	Dial(ctx context.Context, addr net.Addr, expected security.NodeID) (transport.PeerInfo, error)
	// Peer returns the connection to id, if there is one.
	Peer(id security.NodeID) (transport.PeerInfo, bool)
	// PeerByAddr returns the connection to the node at addr, if any.
	PeerByAddr(addr string) (transport.PeerInfo, bool)
	// OpenStream opens a stream of type typ to id (state exchanges).
	OpenStream(ctx context.Context, id security.NodeID, typ protocol.StreamType) (*transport.Stream, error)
	// WritePacket sends one SWIM packet, outside QUIC, on the node's socket.
	WritePacket(b []byte, addr net.Addr) error
	// HandlePackets receives the socket's packets that are not QUIC.
	HandlePackets(h transport.PacketHandler)
	// Handle serves the streams of type typ that peers open.
	Handle(typ protocol.StreamType, h transport.StreamHandler)
}

var _ Network = (*transport.Transport)(nil)
