package rpc

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

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

	// ctx is cancelled by Close; handlers' contexts derive from it.
	ctx    context.Context
	cancel context.CancelFunc

	// life guards closed and the WaitGroup's Add: work is tracked only
	// while open, so Close's Wait sees every goroutine.
	life   sync.RWMutex
	closed bool
	wg     sync.WaitGroup

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
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		cfg:     cfg,
		log:     cfg.Logger,
		started: time.Now(),
		bal:     newBalancer(cfg.FailureBackoff),
		pool:    newStreamPool(cfg.StreamIdleTimeout / 2),
		ctx:     ctx,
		cancel:  cancel,
		procs:   make(map[string]*procEntry),
		decoded: make(map[*routing.Record]*protocol.Provider),
	}
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
	s.life.Lock()
	first := !s.closed
	s.closed = true
	s.life.Unlock()
	if first {
		s.cfg.Network.Handle(protocol.StreamRPC, nil)
		s.cancel()
		s.pool.close()
	}
	s.wg.Wait()
	return nil
}

// isClosed reports whether Close has begun.
func (s *Service) isClosed() bool {
	s.life.RLock()
	defer s.life.RUnlock()
	return s.closed
}

// track counts one piece of work Close waits for; it returns false once
// Close has begun. Call s.wg.Done when the work ends.
func (s *Service) track() bool {
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

// goFunc runs f on a goroutine that Close waits for; it returns false, and
// does not run f, once Close has begun.
func (s *Service) goFunc(f func()) bool {
	if !s.track() {
		return false
	}
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// MaxPayload is the largest arguments or result, in bytes, a call may
// carry: [Config].MaxFrameSize minus [FrameOverhead].
func (s *Service) MaxPayload() int { return s.cfg.MaxFrameSize - FrameOverhead }
