package rpc

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/org/macula/directory"
	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
	"github.com/org/macula/transport"
)

// Network is what RPC needs from the transport.
//
// Deprecated: use [transport.Network], the one declaration shared with
// pubsub; Network is an alias of it.
type Network = transport.Network

// Records publishes this node's provider records.
//
// Deprecated: use [directory.Records], the one declaration shared with
// pubsub; Records is an alias of it.
type Records = directory.Records

// Directory reads the provider records of other nodes.
//
// Deprecated: use [directory.Resolver], the one declaration shared with
// pubsub; Directory is an alias of it.
type Directory = directory.Resolver

// Defaults of [Config].
const (
	// DefaultMaxAttempts is how many providers a call tries at most.
	DefaultMaxAttempts = 3
	// DefaultAcceptTimeout bounds an attempt's wait for the provider to
	// accept the call (connecting included).
	DefaultAcceptTimeout = 5 * time.Second
	// DefaultUnregisterTimeout bounds the withdrawal of a provider record
	// by [Registration.Unregister].
	DefaultUnregisterTimeout = 10 * time.Second
	// DefaultFailureBackoff is how long a provider that failed an attempt
	// is tried only after the others.
	DefaultFailureBackoff = 10 * time.Second
	// DefaultStreamIdleTimeout is how long a provider keeps a call
	// stream open after answering, for the caller's next call.
	DefaultStreamIdleTimeout = 30 * time.Second
	// FrameOverhead is the room a call frame keeps for its other fields
	// besides the arguments (procedure name, content type, identifiers):
	// the largest payload is MaxFrameSize minus FrameOverhead.
	FrameOverhead = 4096
)

// Config configures a Service. Self, Realm, Network, Records and
// Directory are required; every other field has a default or a documented
// zero value. Negative numbers are invalid.
type Config struct {
	// Self is this node's ID; required.
	Self security.NodeID
	// Realm scopes the provider records' keys; required.
	Realm string
	// Addrs are where other nodes reach this one ("host:port"), put in its
	// provider records. Nil means none: callers then need a connection
	// already, or their Resolve.
	Addrs []string
	// Network carries calls; required. [*transport.Transport] implements
	// it.
	Network transport.Network
	// Records stores this node's provider records; required.
	// *routing.DHT implements it.
	Records directory.Records
	// Directory resolves the providers of a procedure, cached and kept
	// fresh by watches; required. [*directory.Cache] implements it.
	Directory directory.Resolver
	// RTT reports the round-trip time to a node, for [LeastLatency]. Nil
	// means the transport's estimate for connected peers (Network.Peer).
	// It is called on the caller's goroutine and must not block.
	RTT func(id security.NodeID) (time.Duration, bool)
	// Resolve finds the addresses of a node that is not connected and whose
	// provider record gives none, for example from membership; used by
	// CallTo and by Call. Nil means such a node is unreachable. ctx bounds
	// the call.
	Resolve func(ctx context.Context, id security.NodeID) ([]string, error)
	// MaxFrameSize is the transport's frame limit; arguments and results
	// may be up to MaxFrameSize - [FrameOverhead] bytes. Default
	// protocol.DefaultMaxFrameSize.
	MaxFrameSize int
	// Policy chooses among providers when a call gives none; the zero
	// value is [LocalFirst].
	Policy Policy
	// MaxAttempts is how many providers a call tries before it fails;
	// default [DefaultMaxAttempts].
	MaxAttempts int
	// AcceptTimeout bounds, on the caller, one attempt until the provider
	// accepts the call (connecting and sending the call included), and on
	// a provider, the time a caller has to send its call once it opened
	// the stream. Default [DefaultAcceptTimeout].
	AcceptTimeout time.Duration
	// UnregisterTimeout bounds the withdrawal of a provider record by
	// [Registration.Unregister], which takes no context, and the clean-up
	// after a failed Register. Default [DefaultUnregisterTimeout].
	UnregisterTimeout time.Duration
	// FailureBackoff is how long a provider that failed an attempt (could
	// not be reached, or was lost) is tried only after every other one;
	// default [DefaultFailureBackoff].
	FailureBackoff time.Duration
	// StreamIdleTimeout is how long a provider keeps a caller's call
	// stream open after answering a call on it, waiting for the caller's
	// next call, before closing it. A caller keeps its streams to other
	// nodes for the next calls for half as long (up to 64 per node).
	// Default [DefaultStreamIdleTimeout].
	StreamIdleTimeout time.Duration
	// Version is reported by the built-in [HealthProcedure]; default
	// transport.Software.
	Version string
	// Authorize, if set, is asked on the provider before a call from
	// another node is accepted; an error refuses the call with
	// protocol.CodeACLDenied (the caller's error matches
	// security.ErrACLDenied). It must not block. Nil allows every call.
	Authorize func(caller security.NodeID, procedure string) error
	// Signer, if set, signs every result this node's handlers return to
	// other nodes (Ed25519 over protocol.ResultSigningBytes: caller,
	// procedure, call ID and result, so that a result cannot answer
	// another call). Callers verify it and report the provider as the
	// Reply's Signer. It must be the identity of Self. Nil sends unsigned
	// results.
	Signer *security.Identity
	// RequireSignatures refuses unsigned results from other nodes. A
	// signature that does not verify is refused whatever this says.
	RequireSignatures bool
	// OnRefused, if set, is called on the caller for every result refused
	// for its signature (errors.Is ErrBadSignature or ErrUnsigned), with
	// the provider that sent it. It must not block.
	OnRefused func(provider security.NodeID, procedure string, err error)
	// Logger receives debug logs of failed attempts and refused calls, and
	// errors for handler panics; default no-op.
	Logger *zap.Logger
}

// withDefaults fills in defaults and validates cfg; errors wrap
// ErrInvalidConfig.
func (cfg Config) withDefaults() (Config, error) {
	switch {
	case cfg.Self.IsZero():
		return cfg, fmt.Errorf("%w: no node ID", ErrInvalidConfig)
	case cfg.Network == nil || cfg.Records == nil || cfg.Directory == nil:
		return cfg, fmt.Errorf("%w: network, records and directory are required", ErrInvalidConfig)
	}
	if err := security.ValidateRealm(cfg.Realm); err != nil {
		return cfg, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if !cfg.Policy.valid() {
		return cfg, fmt.Errorf("%w: unknown policy %d", ErrInvalidConfig, cfg.Policy)
	}
	for _, f := range []struct {
		name string
		v    *int
		def  int
	}{
		{"MaxFrameSize", &cfg.MaxFrameSize, protocol.DefaultMaxFrameSize},
		{"MaxAttempts", &cfg.MaxAttempts, DefaultMaxAttempts},
	} {
		if *f.v < 0 {
			return cfg, fmt.Errorf("%w: %s is %d", ErrInvalidConfig, f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if cfg.MaxFrameSize <= 2*FrameOverhead {
		return cfg, fmt.Errorf("%w: MaxFrameSize %d is too small", ErrInvalidConfig, cfg.MaxFrameSize)
	}
	for _, f := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"AcceptTimeout", &cfg.AcceptTimeout, DefaultAcceptTimeout},
		{"UnregisterTimeout", &cfg.UnregisterTimeout, DefaultUnregisterTimeout},
		{"FailureBackoff", &cfg.FailureBackoff, DefaultFailureBackoff},
		{"StreamIdleTimeout", &cfg.StreamIdleTimeout, DefaultStreamIdleTimeout},
	} {
		if *f.v < 0 {
			return cfg, fmt.Errorf("%w: %s is %v", ErrInvalidConfig, f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if cfg.Signer != nil && cfg.Signer.ID() != cfg.Self {
		return cfg, fmt.Errorf("%w: Signer is node %s, not Self %s", ErrInvalidConfig, cfg.Signer.ID().Short(), cfg.Self.Short())
	}
	if cfg.Version == "" {
		cfg.Version = transport.Software
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	cfg.Addrs = append([]string(nil), cfg.Addrs...)
	return cfg, nil
}
