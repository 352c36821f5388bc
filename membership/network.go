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
	ID() security.NodeID
	Realm() string
	Addr() net.Addr
	Dial(ctx context.Context, addr net.Addr, expected security.NodeID) (transport.PeerInfo, error)
	Peer(id security.NodeID) (transport.PeerInfo, bool)
	PeerByAddr(addr string) (transport.PeerInfo, bool)
	OpenStream(ctx context.Context, id security.NodeID, typ protocol.StreamType) (*transport.Stream, error)
	WritePacket(b []byte, addr net.Addr) error
	HandlePackets(h transport.PacketHandler)
	Handle(typ protocol.StreamType, h transport.StreamHandler)
}

var _ Network = (*transport.Transport)(nil)
