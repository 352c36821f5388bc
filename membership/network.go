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
	Addr() net.Addr
	Dial(ctx context.Context, addr net.Addr, expected security.NodeID) (transport.PeerInfo, error)
	Peer(id security.NodeID) (transport.PeerInfo, bool)
	PeerByAddr(addr string) (transport.PeerInfo, bool)
	OpenStream(ctx context.Context, id security.NodeID, typ protocol.StreamType) (*transport.Stream, error)
	SendDatagram(id security.NodeID, typ protocol.StreamType, payload []byte) error
	Handle(typ protocol.StreamType, h transport.StreamHandler)
	HandleDatagram(typ protocol.StreamType, h transport.DatagramHandler)
}

var _ Network = (*transport.Transport)(nil)
