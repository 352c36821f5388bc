package transport

import (
	"context"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
)

// Network is what a service that talks to its peers over streams needs
// from the transport: pub/sub and RPC take one (pubsub.Config.Network,
// rpc.Config.Network). [*Transport] implements it; a test can give a fake
// or a wrapper that fails on purpose.
type Network interface {
	// Connect returns the connection to id, dialing addrs if there is none.
	Connect(ctx context.Context, id security.NodeID, addrs []string) (PeerInfo, error)
	// Peer returns the connected peer id.
	Peer(id security.NodeID) (PeerInfo, bool)
	// OpenStream opens a stream of type typ to the connected peer id.
	OpenStream(ctx context.Context, id security.NodeID, typ protocol.StreamType) (*Stream, error)
	// Handle registers h for incoming streams of type typ; nil removes it.
	Handle(typ protocol.StreamType, h StreamHandler)
}

var _ Network = (*Transport)(nil)
