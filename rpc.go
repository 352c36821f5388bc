package macula

import (
	"context"
	"fmt"

	"github.com/org/macula/protocol"
	"github.com/org/macula/rpc"
	"github.com/org/macula/security"
)

// Handler serves calls to a registered procedure. It returns the result
// (encoded by the payload rule: []byte as is, proto.Message as protobuf,
// anything else as JSON) or an error, which reaches the caller as a
// *RemoteError; return Errorf to choose its code. A panic is recovered and
// reported as an internal error. ctx carries the caller's deadline and
// ends when the caller cancels.
type Handler = rpc.Handler

// Invocation is one call as its handler sees it; Decode decodes the
// arguments.
type Invocation = rpc.Invocation

// Reply is a call's result; Decode decodes it.
type Reply = rpc.Reply

// RemoteError is a handler's error as the caller sees it: a code and a
// message. It matches ErrNoProvider, ErrTimeout and ErrMessageTooLarge for
// those codes.
type RemoteError = rpc.RemoteError

// CallError lists the providers a failed call tried.
type CallError = rpc.CallError

// Registration is a procedure registered by this node; Unregister ends it.
type Registration = rpc.Registration

// CallOption sets an option of one Call, Cast or CallTo.
type CallOption = rpc.CallOption

// RegisterOption sets an option of one Register.
type RegisterOption = rpc.RegisterOption

// Policy chooses the provider of a call.
type Policy = rpc.Policy

// Load-balancing policies.
const (
	// LocalFirst calls this node's own handler if it has one, else takes
	// the remote providers in turn. The default.
	LocalFirst = rpc.LocalFirst
	// RoundRobin takes every provider in turn, this node included.
	RoundRobin = rpc.RoundRobin
	// Random takes a provider at random.
	Random = rpc.Random
	// LeastLatency takes the better of two random providers by round-trip
	// time and calls in flight.
	LeastLatency = rpc.LeastLatency
)

// ErrorCode is a protocol error code, carried by RemoteError.
type ErrorCode = protocol.ErrorCode

// Error codes a handler may choose with Errorf (any protocol code works).
const (
	CodeInvalidArgument = protocol.CodeInvalidArgument
	CodeNotFound        = protocol.CodeNotFound
	CodeInternal        = protocol.CodeInternal
	CodeTimeout         = protocol.CodeTimeout
	CodeCancelled       = protocol.CodeCancelled
	CodeACLDenied       = protocol.CodeACLDenied
	CodeRateLimited     = protocol.CodeRateLimited
)

// HealthProcedure is the built-in procedure every node serves: it returns
// the node's ID, version, uptime and realm (see Health).
const HealthProcedure = rpc.HealthProcedure

// Health is the result of HealthProcedure.
type Health = rpc.Health

// RPC sentinel errors.
var (
	// ErrNoProvider means no node provides the procedure.
	ErrNoProvider = rpc.ErrNoProvider
	// ErrUnavailable means providers are known but none took the call.
	ErrUnavailable = rpc.ErrUnavailable
	// ErrProviderLost means the provider accepted the call and was lost
	// before answering; the call may have run.
	ErrProviderLost = rpc.ErrProviderLost
	// ErrTimeout means a call's deadline passed; it also matches
	// context.DeadlineExceeded.
	ErrTimeout = rpc.ErrTimeout
)

// Errorf returns an error for a handler to return, reaching the caller as
// a *RemoteError with the given code.
func Errorf(code ErrorCode, format string, args ...any) error {
	return rpc.Errorf(code, format, args...)
}

// The options of Call, Cast, CallTo and Register are package rpc's,
// documented there once, with their defaults; an invalid one makes the
// call fail, before anything is sent or stored, with an error that names
// the option and matches ErrInvalidOption.

// WithPolicy sets the load-balancing policy of one call (default
// LocalFirst); see [rpc.WithPolicy].
func WithPolicy(p Policy) CallOption { return rpc.WithPolicy(p) }

// WithIdempotent marks one call as safe to run more than once; see
// [rpc.WithIdempotent].
func WithIdempotent() CallOption { return rpc.WithIdempotent() }

// Idempotent is the old name of WithIdempotent.
//
// Deprecated: use WithIdempotent.
func Idempotent() CallOption { return rpc.WithIdempotent() }

// WithMaxAttempts bounds how many providers one call tries (default 3);
// see [rpc.WithMaxAttempts].
func WithMaxAttempts(n int) CallOption { return rpc.WithMaxAttempts(n) }

// WithMaxConcurrent bounds how many calls of a registration run at once
// (default no limit); see [rpc.WithMaxConcurrent].
func WithMaxConcurrent(n int) RegisterOption { return rpc.WithMaxConcurrent(n) }

// MaxConcurrent is the old name of WithMaxConcurrent.
//
// Deprecated: use WithMaxConcurrent.
func MaxConcurrent(n int) RegisterOption { return rpc.WithMaxConcurrent(n) }

// Register makes this node a provider of procedure: h serves the calls
// that reach it until Unregister or Close. ctx bounds Register itself
// (storing the provider record in the DHT). Invalid names fail with
// ErrInvalidProcedure (which matches ErrInvalidTopic), reserved ones ('_'
// first) with ErrReservedProcedure, a nil h with ErrInvalidHandler and
// invalid options with ErrInvalidOption.
func (n *Node) Register(ctx context.Context, procedure string, h Handler, opts ...RegisterOption) (*Registration, error) {
	r, err := n.rpcFor(security.ActionRegister, procedure)
	if err != nil {
		return nil, err
	}
	return r.Register(ctx, procedure, h, opts...)
}

// Call calls procedure on one of its providers in the realm, chosen by
// the policy (LocalFirst by default), and returns its reply. args follow
// the payload rule. ctx's deadline travels with the call, and cancelling
// ctx cancels the handler's context on the provider. A provider that
// cannot be reached or is lost before accepting is skipped for the next;
// after acceptance only WithIdempotent calls are retried. Errors:
// ErrNoProvider (at once) when nobody provides it, ErrTimeout, a
// *RemoteError from the handler, ErrMessageTooLarge, ErrInvalidProcedure,
// ErrInvalidOption.
func (n *Node) Call(ctx context.Context, procedure string, args any, opts ...CallOption) (*Reply, error) {
	r, err := n.rpcFor(security.ActionCall, procedure)
	if err != nil {
		return nil, err
	}
	return r.Call(ctx, procedure, args, opts...)
}

// Cast calls procedure without waiting for its result: it returns once a
// provider has accepted the call.
func (n *Node) Cast(ctx context.Context, procedure string, args any, opts ...CallOption) error {
	r, err := n.rpcFor(security.ActionCall, procedure)
	if err != nil {
		return err
	}
	return r.Cast(ctx, procedure, args, opts...)
}

// CallTo calls procedure on the given node, for example
// HealthProcedure on a member.
func (n *Node) CallTo(ctx context.Context, node NodeID, procedure string, args any, opts ...CallOption) (*Reply, error) {
	r, err := n.rpcFor(security.ActionCall, procedure)
	if err != nil {
		return nil, err
	}
	return r.CallTo(ctx, node, procedure, args, opts...)
}

// rpcFor returns the RPC engine for one of the node's own actions, after
// the ACL allowed it: ErrClosed once the node is closing.
func (n *Node) rpcFor(action security.Action, procedure string) (*rpc.Service, error) {
	if n.isClosing() {
		return nil, ErrClosed
	}
	if err := n.checkLocal(action, procedure); err != nil {
		return nil, err
	}
	return n.rpc, nil
}

// RPCStats returns the node's RPC counters.
func (n *Node) RPCStats() RPCStats {
	return n.rpc.Stats()
}

// buildRPC builds the RPC engine on the DHT and the directory.
func (n *Node) buildRPC() error {
	rcfg := rpc.Config{
		Self:         n.ID(),
		Realm:        n.cfg.realm,
		Addrs:        n.advertise,
		Network:      n.tr,
		Records:      n.dht,
		Directory:    n.dir,
		Resolve:      n.memberAddrs,
		MaxFrameSize: n.cfg.maxFrameSize,
		Logger:       n.log,
	}
	if n.cfg.acl != nil {
		rcfg.Authorize = func(caller NodeID, procedure string) error {
			return n.authorizePeer(caller, security.ActionCall, procedure)
		}
	}
	rcfg.Signer, rcfg.RequireSignatures = n.messageSigning()
	rcfg.OnRefused = func(provider NodeID, procedure string, err error) {
		n.auditRefused(provider, security.ActionCall, procedure, err)
	}
	r, err := rpc.New(rcfg)
	if err != nil {
		return fmt.Errorf("macula: start RPC: %w", err)
	}
	n.rpc = r
	n.parts.add("rpc", nil, r.Close)
	return nil
}

// memberAddrs returns a member's addresses, for calls to nodes that are
// not connected.
func (n *Node) memberAddrs(_ context.Context, id security.NodeID) ([]string, error) {
	if m, ok := n.members.Member(id); ok && len(m.Meta.Addrs) > 0 {
		return m.Meta.Addrs, nil
	}
	return nil, fmt.Errorf("%w: %s is not a known member", ErrNotConnected, id.Short())
}
