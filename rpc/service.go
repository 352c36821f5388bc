package rpc

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/org/macula/internal/lifecycle"
	"github.com/org/macula/protocol"
	"github.com/org/macula/routing"
)

// Service is one node's RPC engine: the procedures it provides and the
// calls it makes. Create it with [New]; it is safe for concurrent use.
type Service struct {
	cfg     Config
	log     *zap.Logger
	signKey []byte // Signer's public key, sent with signed results
	started time.Time
	bal     *balancer
	nextID  atomic.Uint64
	stats   counters
	pool    *streamPool // idle call streams to other nodes

	// life owns the Service's goroutines and counts the calls it serves
	// on the transport's; ctx is its context, cancelled by Close, from
	// which handlers' contexts derive.
	life lifecycle.Group
	ctx  context.Context

	mu      sync.RWMutex
	procs   map[string]*procEntry
	builtin map[string]*Registration

	// decoded caches the Provider values of directory records, which are
	// immutable; nil for a record that does not decode.
	decodedMu sync.Mutex
	decoded   map[*routing.Record]*protocol.Provider
}

// New validates cfg, registers the handler of protocol.StreamRPC streams
// on cfg.Network and returns the running Service, which serves the
// built-in [HealthProcedure] at once. Errors wrap [ErrInvalidConfig].
//
// Config defaults: MaxFrameSize protocol.DefaultMaxFrameSize, Policy
// [LocalFirst], MaxAttempts [DefaultMaxAttempts], AcceptTimeout
// [DefaultAcceptTimeout], UnregisterTimeout [DefaultUnregisterTimeout],
// FailureBackoff [DefaultFailureBackoff], StreamIdleTimeout
// [DefaultStreamIdleTimeout], Version transport.Software,
// Logger no-op; Addrs, RTT and Resolve may stay nil (see [Config]).
func New(cfg Config) (*Service, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg:     cfg,
		log:     cfg.Logger,
		started: time.Now(),
		bal:     newBalancer(cfg.FailureBackoff),
		pool:    newStreamPool(cfg.StreamIdleTimeout / 2),
		procs:   make(map[string]*procEntry),
		decoded: make(map[*routing.Record]*protocol.Provider),
	}
	s.ctx = s.life.Context()
	if cfg.Signer != nil {
		s.signKey = cfg.Signer.PublicKey()
	}
	s.builtin = map[string]*Registration{
		HealthProcedure: {svc: s, name: HealthProcedure, handler: s.health},
	}
	cfg.Network.Handle(protocol.StreamRPC, s.serveStream)
	return s, nil
}

// Close stops serving calls: it removes the stream handler, cancels the
// contexts of running handlers (and of casts), aborts this node's calls in
// flight, closes the call streams kept for later calls, and returns once every goroutine the Service started has ended,
// which includes waiting for handlers to return. Later calls fail with
// [ErrClosed]. Provider records are not withdrawn: the DHT and membership
// take care of a node that goes away. Close is idempotent and always
// returns nil. A handler must not call Close: Close waits for it.
func (s *Service) Close() error {
	if s.life.Stop() {
		s.cfg.Network.Handle(protocol.StreamRPC, nil)
		s.pool.close()
	}
	s.life.Wait()
	return nil
}

// isClosed reports whether Close has begun.
func (s *Service) isClosed() bool { return s.life.Stopping() }

// MaxPayload is the largest arguments or result, in bytes, a call may
// carry: [Config].MaxFrameSize minus [FrameOverhead].
func (s *Service) MaxPayload() int { return s.cfg.MaxFrameSize - FrameOverhead }
