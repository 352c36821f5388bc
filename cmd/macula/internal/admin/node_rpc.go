package admin

import (
	"context"
	"errors"

	"github.com/org/macula"
)

// errNoRPC is returned by Call until the node has RPC.
var errNoRPC = errors.New("this node does not support RPC yet")

func (b *nodeBackend) rpcCounters() RPCStats { return RPCStats{} }

func (b *nodeBackend) Call(context.Context, macula.NodeID, string, any) (CallReply, error) {
	return CallReply{}, errNoRPC
}
