package pubsub

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/org/macula/directory"
	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
	"github.com/org/macula/transport"
)

// Network is what pub/sub needs from the transport.
//
// Deprecated: use [transport.Network], the one declaration shared with
// rpc; Network is an alias of it.
type Network = transport.Network

// Records publishes this node's subscription records.
//
// Deprecated: use [directory.Records], the one declaration shared with
// rpc; Records is an alias of it.
type Records = directory.Records

// Directory reads the subscription records of other nodes.
//
// Deprecated: use [directory.Resolver], the one declaration shared with
// rpc; Directory is an alias of it.
type Directory = directory.Resolver

// Defaults of [Config].
const (
	DefaultBufferSize    = 1024
	DefaultPeerQueue     = 4096
	DefaultRetryInterval = time.Second
	DefaultDedupWindow   = 16384
	// frameOverhead is room left in a frame for the event's other fields.
	frameOverhead = 2048
)

// Config configures a Service.
type Config struct {
	// Self is this node's ID; required.
	Self security.NodeID
	// Realm scopes the subscription records' keys; required.
	Realm string
	// Addrs are where other nodes reach this one, put in its records.
	Addrs []string
	// Network carries event streams; required. [*transport.Transport]
	// implements it.
	Network transport.Network
	// Records stores this node's subscription records; required.
	// *routing.DHT implements it.
	Records directory.Records
	// Directory resolves other nodes' subscriptions, cached and kept
	// fresh; required. [*directory.Cache] implements it. A Resolver that
	// also has a Generation() uint64 method, changed whenever a lookup
	// could answer differently (as [directory.Cache.Generation] is), lets
	// Publish reuse the subscriber set it resolved until the generation
	// changes.
	Directory directory.Resolver
	// MaxFrameSize is the transport's frame limit; payloads must leave
	// room for the event's other fields. Default
	// protocol.DefaultMaxFrameSize.
	MaxFrameSize int
	// BufferSize is the default capacity of a subscription's queue;
	// default [DefaultBufferSize].
	BufferSize int
	// PeerQueue is the capacity of the queue of events waiting to be
	// written to one peer; default [DefaultPeerQueue]. Publish waits for
	// room, so concurrent Publish calls can take a queue past it by one
	// event each.
	PeerQueue int
	// RetryInterval is how long an at-least-once event waits for its
	// acknowledgement before it is sent again; default
	// [DefaultRetryInterval].
	RetryInterval time.Duration
	// DedupWindow is how many at-least-once events per publisher a
	// subscriber node remembers to suppress duplicates; default
	// [DefaultDedupWindow].
	DedupWindow int
	// AuthorizePublish, if set, is asked on this (subscriber) node for
	// every event from another node; an error refuses the event: it is
	// dropped, counted in Stats.Refused and, at least once, acknowledged
	// so that it is not resent. It must not block. Nil allows every event.
	AuthorizePublish func(publisher security.NodeID, topic string) error
	// Signer, if set, signs every event this node publishes with its key
	// (Ed25519, over protocol.EventSigningBytes); receivers verify it and
	// report the publisher as the event's Signer. It must be the identity
	// of Self. Nil publishes unsigned events.
	Signer *security.Identity
	// RequireSignatures refuses events from other nodes that carry no
	// signature. Events with a signature that does not verify are refused
	// whatever this says.
	RequireSignatures bool
	// OnRefused, if set, is called for every event from a peer refused for
	// its signature (ErrBadSignature, ErrUnsigned) or for naming another
	// publisher without a signature (ErrForgedPublisher), with the peer
	// the event came from. Denials by AuthorizePublish are not reported
	// here (the hook sees them). It must not block.
	OnRefused func(from security.NodeID, topic string, err error)
	// Logger receives debug logs; default no-op.
	Logger *zap.Logger
}

// withDefaults fills in defaults and validates cfg.
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
	for _, f := range []struct {
		name string
		v    *int
		def  int
	}{
		{"MaxFrameSize", &cfg.MaxFrameSize, protocol.DefaultMaxFrameSize},
		{"BufferSize", &cfg.BufferSize, DefaultBufferSize},
		{"PeerQueue", &cfg.PeerQueue, DefaultPeerQueue},
		{"DedupWindow", &cfg.DedupWindow, DefaultDedupWindow},
	} {
		if *f.v < 0 {
			return cfg, fmt.Errorf("%w: %s is %d", ErrInvalidConfig, f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if cfg.MaxFrameSize <= 2*frameOverhead {
		return cfg, fmt.Errorf("%w: MaxFrameSize %d is too small", ErrInvalidConfig, cfg.MaxFrameSize)
	}
	if cfg.RetryInterval < 0 {
		return cfg, fmt.Errorf("%w: RetryInterval is %v", ErrInvalidConfig, cfg.RetryInterval)
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = DefaultRetryInterval
	}
	if cfg.Signer != nil && cfg.Signer.ID() != cfg.Self {
		return cfg, fmt.Errorf("%w: Signer is node %s, not Self %s", ErrInvalidConfig, cfg.Signer.ID().Short(), cfg.Self.Short())
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return cfg, nil
}

// MaxPayload is the largest payload a Service with this config publishes.
func (cfg Config) maxPayload() int { return cfg.MaxFrameSize - frameOverhead }
