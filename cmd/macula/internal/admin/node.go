package admin

import (
	"context"
	"time"

	"github.com/org/macula"
)

// nodeBackend serves the API from a *macula.Node.
type nodeBackend struct {
	*macula.Node
	version string
	started time.Time
}

// NodeBackend adapts n to Backend. version is reported by /v1/node and
// started is when the node started, for the uptime.
func NodeBackend(n *macula.Node, version string, started time.Time) Backend {
	return &nodeBackend{Node: n, version: version, started: started}
}

// Info implements Backend.
func (b *nodeBackend) Info() NodeInfo {
	return NodeInfo{
		ID:      b.ID(),
		Realm:   b.Realm(),
		Addr:    b.Addr().String(),
		URI:     b.URI(),
		Version: b.version,
		Started: b.started,
	}
}

// Counters implements Backend with the node's pub/sub and RPC stats.
func (b *nodeBackend) Counters() (PubSubStats, RPCStats) {
	ps := b.PubSubStats()
	return PubSubStats{
		Published:     ps.Published,
		Out:           ps.Sent,
		In:            ps.Received,
		Refused:       ps.Refused,
		Deferred:      ps.Deferred,
		SendFailed:    ps.SendFailed,
		Resent:        ps.Resent,
		Dropped:       ps.Dropped,
		Subscriptions: ps.Subscriptions,
	}, b.rpcCounters()
}

// Subscribe implements Backend with Node.Subscribe.
func (b *nodeBackend) Subscribe(ctx context.Context, pattern string, fn func(context.Context, *macula.Event)) (func(), error) {
	sub, err := b.Node.Subscribe(ctx, pattern, fn)
	if err != nil {
		return nil, err
	}
	return func() { _ = sub.Unsubscribe() }, nil
}
