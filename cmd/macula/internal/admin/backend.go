package admin

import (
	"context"
	"time"

	"github.com/org/macula"
)

// Backend is what the server needs from a node. NodeBackend adapts a
// *macula.Node; tests use fakes.
type Backend interface {
	// Info describes the node.
	Info() NodeInfo
	// Members returns every member the node knows of, itself included.
	Members() []macula.Member
	// Peers returns the connected peers.
	Peers() []macula.PeerInfo
	// Topology returns the overlay as the node sees it.
	Topology() *macula.Graph
	// Routes returns the DHT routing table.
	Routes() []macula.Route
	// Counters returns the pub/sub and RPC counters.
	Counters() (PubSubStats, RPCStats)
	// Ping measures the round-trip time to a connected peer.
	Ping(ctx context.Context, id macula.NodeID) (time.Duration, error)
	// Join connects to the nodes at addrs.
	Join(ctx context.Context, addrs ...string) error
	// Publish publishes payload on topic.
	Publish(ctx context.Context, topic string, payload any, opts ...macula.PublishOption) error
	// Subscribe calls fn for every event on a topic matching pattern until
	// unsubscribe is called. fn runs on the subscription's goroutine and may
	// block; its context ends with the subscription.
	Subscribe(ctx context.Context, pattern string, fn func(context.Context, *macula.Event)) (unsubscribe func(), err error)
	// Call calls procedure with args on node, or on a provider the mesh
	// chooses when node is zero.
	Call(ctx context.Context, node macula.NodeID, procedure string, args any) (CallReply, error)
	// GossipKeyring returns the node's gossip keyring.
	GossipKeyring() macula.GossipKeyring
	// GossipStats returns the node's membership packet counters.
	GossipStats() macula.GossipStats
	// InstallGossipKey adds a gossip key to the keyring.
	InstallGossipKey(key []byte) error
	// UseGossipKey makes an installed gossip key the primary.
	UseGossipKey(key []byte) error
	// RemoveGossipKey uninstalls a gossip key that is not the primary.
	RemoveGossipKey(key []byte) error
}
