package macula

import (
	"github.com/org/macula/pubsub"
	"github.com/org/macula/routing"
	"github.com/org/macula/rpc"
	"github.com/org/macula/transport"
)

// The root names every type its methods return, so that users need not
// import the subpackages. An alias keeps the subpackage's name where that
// name is unambiguous at the root (LimitStats, RefusalCounts, Graph,
// Member). Where it is not, because the subpackage's name is short and
// package-qualified (pubsub.Stats and rpc.Stats would both be Stats at
// the root; membership.Event would be taken for the pub/sub Event), the
// root alias prefixes the area: PubSubStats, RPCStats, MemberEvent,
// GossipStats. Renaming the subpackage types to match (pubsub.PubSubStats,
// membership.MemberEvent) would make them stutter at every use in their
// own package's users, so the prefix lives at the root only.

// PubSubStats are a node's pub/sub counters (see [Node.PubSubStats]).
type PubSubStats = pubsub.Stats

// RPCStats are a node's RPC counters (see [Node.RPCStats]).
type RPCStats = rpc.Stats

// LimitStats count the streams and frames the transport refused for its
// per-peer limits (see [AbuseStats]).
type LimitStats = transport.LimitStats

// RefusalCounts count the DHT records refused, by reason (see
// [AbuseStats]).
type RefusalCounts = routing.RefusalCounts
