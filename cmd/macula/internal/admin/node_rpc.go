package admin

import (
	"context"

	"github.com/org/macula"
)

// rpcCounters converts the node's RPC stats.
func (b *nodeBackend) rpcCounters() RPCStats {
	s := b.RPCStats()
	return RPCStats{
		Calls:     s.Calls,
		Failed:    s.Failed,
		Failovers: s.Failovers,
		Received:  s.Received,
		Refused:   s.Refused,
		Served:    s.Served,
	}
}

// Call implements Backend with Node.Call, or Node.CallTo when node is
// set.
func (b *nodeBackend) Call(ctx context.Context, node macula.NodeID, procedure string, args any) (CallReply, error) {
	var (
		r   *macula.Reply
		err error
	)
	if node.IsZero() {
		r, err = b.Node.Call(ctx, procedure, args)
	} else {
		r, err = b.Node.CallTo(ctx, node, procedure, args)
	}
	if err != nil {
		return CallReply{}, err
	}
	return CallReply{Provider: r.Provider, ContentType: r.ContentType, Body: BodyOf(r.Data, r.ContentType)}, nil
}
