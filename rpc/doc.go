// Package rpc is Macula's RPC engine: procedures registered on some nodes
// of a realm and called from any node, found through the DHT and balanced,
// with deadlines, cancellation and failover across the mesh.
//
// # Providers
//
// [Service.Register] serves a procedure on this node and stores a provider
// record under the DHT key rpc/<procedure>, whose value is a
// protocol.Provider naming the node's addresses. Callers read these records
// through a directory that caches them and keeps them fresh with DHT
// watches, so a new or withdrawn registration is seen within a round trip
// of the storing nodes, and the records of nodes that membership reports
// dead are hidden. Procedure names follow the syntax of topics ("billing.charge");
// names starting with '_' are reserved for built-in procedures such as
// [HealthProcedure], which every Service serves and which is never stored
// in the DHT.
//
// # Calls
//
// [Service.Call] resolves the providers, orders them by a [Policy]
// ([LocalFirst] by default: this node's own handler, called in process,
// when it has one), and tries them in that order. Each attempt to a remote
// provider is one exchange on a protocol.StreamRPC stream:
//
//	caller                          provider
//	RpcCall{call_id, procedure, args, deadline, ...}  ->
//	                        <-  RpcAccept{call_id}     (handler started)
//	                        <-  RpcResult or RpcError
//
// Streams carry one call at a time but are reused: after a result, or a
// handler's RpcError after RpcAccept, the provider waits on the stream
// for the caller's next RpcCall, up to [Config].StreamIdleTimeout, and
// closes it then; the caller keeps up to 64 such idle streams per
// provider, for half its own StreamIdleTimeout, and closes them on
// [Service.Close]. Every other ending (a refusal, a cast, cancellation,
// a timeout, a broken protocol) ends the stream. A kept stream that turns
// out closed before the provider could read the call is replaced by a new
// one, once, transparently: the call was not accepted. Every message
// carries the call's call_id.
//
// A provider refuses a call it cannot take with an RpcError instead of
// RpcAccept (unknown procedure, over a concurrency limit, shutting down).
// A provider that cannot be reached, refuses, or fails before RpcAccept
// is skipped and the next is tried, up to MaxAttempts; after RpcAccept the
// handler may have run, so the call moves on only when it is marked
// [WithIdempotent], and otherwise fails with [ErrProviderLost]. Providers that failed are
// tried last for a while ([Config].FailureBackoff).
//
// The caller's deadline travels in the call and bounds the handler's
// context on the provider; when the caller's context ends, the caller
// resets the stream, and the provider, which watches the stream while the
// handler runs (the caller sends nothing during a call), cancels the
// handler's context. A call that runs out of
// time fails with an error matching both [ErrTimeout] and
// context.DeadlineExceeded.
//
// Handler errors reach the caller as a [*RemoteError] carrying a
// protocol.ErrorCode and a message ([Errorf] chooses the code); handler
// panics are recovered and reported as protocol.CodeInternal.
// [Service.Cast] returns as soon as a provider accepted the call, and
// [Service.CallTo] calls one given node.
//
// Arguments and results follow the payload rule shared with pub/sub: a
// []byte travels as is, a proto.Message as protobuf, anything else as JSON;
// [Invocation.Decode] and [Reply.Decode] reverse it.
//
// # Usage
//
//	svc, err := rpc.New(rpc.Config{
//		Self:      id.ID(),
//		Realm:     "org.example.mesh",
//		Addrs:     []string{"192.0.2.1:4433"},
//		Network:   tr,  // *transport.Transport
//		Records:   dht, // *routing.DHT
//		Directory: dir, // *directory.Cache over the DHT (package directory)
//	})
//	if err != nil {
//		return err
//	}
//	defer svc.Close()
//
//	reg, err := svc.Register(ctx, "math.add", func(ctx context.Context, inv *rpc.Invocation) (any, error) {
//		var in [2]int
//		if err := inv.Decode(&in); err != nil {
//			return nil, rpc.Errorf(protocol.CodeInvalidArgument, "want two numbers: %v", err)
//		}
//		return in[0] + in[1], nil
//	})
//	if err != nil {
//		return err
//	}
//	defer reg.Unregister()
//
//	ctx, cancel := context.WithTimeout(ctx, time.Second)
//	defer cancel()
//	reply, err := svc.Call(ctx, "math.add", [2]int{2, 3}, rpc.WithPolicy(rpc.RoundRobin))
//	if err != nil {
//		return err // errors.Is(err, rpc.ErrNoProvider), errors.As(err, &remoteErr), ...
//	}
//	var sum int
//	err = reply.Decode(&sum)
//
// Every method is safe for concurrent use.
package rpc
