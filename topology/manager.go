package topology

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/org/macula/internal/lifecycle"
	"github.com/org/macula/security"
)

// Defaults used by [New] for zero fields of [Config].
const (
	// DefaultCheckInterval is how often a [Manager] re-checks its links
	// when nothing else prompts it.
	DefaultCheckInterval = time.Second
	// DefaultMinBackoff is the wait after a neighbour's first failed
	// Connect.
	DefaultMinBackoff = 100 * time.Millisecond
	// DefaultMaxBackoff caps the wait between a neighbour's failed Connects.
	DefaultMaxBackoff = 30 * time.Second
	// DefaultDialTimeout bounds each Connect.
	DefaultDialTimeout = 5 * time.Second
)

// Connector is what a [Manager] needs from the transport. The root
// package's Node implements it; a service of its own adapts a
// *transport.Transport in a few lines (see the Manager example).
//
// The Manager calls Connected from its own goroutine and each Connect from
// a goroutine of its own, so both must be safe for concurrent use. They may
// call [Manager.SetMembers], [Manager.PeerDown] and [Manager.Neighbours],
// which never block for long, but must not call [Manager.Close], which
// waits for them.
type Connector interface {
	// Connect dials the peer id (the Connector knows its addresses) and
	// returns once the link is up, or returns nil at once if it is already
	// connected. ctx bounds the dial only, not the life of the link; it is
	// cancelled after Config.DialTimeout and when the Manager closes. An
	// error with a RetryAfter() time.Duration method (found with
	// errors.As, as on the transport's error for a banned peer) makes the
	// Manager wait at least that long, beyond its backoff, before dialing
	// id again.
	Connect(ctx context.Context, id security.NodeID) error
	// Connected reports whether a link to id is up. It must not block.
	Connected(id security.NodeID) bool
}

// retryAfter is implemented by a Connect error that knows when a retry
// can succeed, such as the transport's error for a banned peer
// (transport.BannedError).
type retryAfter interface {
	RetryAfter() time.Duration
}

// Config configures a [Manager]. Zero durations, a zero K and a nil Logger
// take the defaults given with each field.
type Config struct {
	// Self is this node's ID. Required (not zero).
	Self security.NodeID
	// K is the overlay degree passed to [Neighbours]. Default [DefaultK];
	// negative is invalid.
	K int
	// Connector dials peers. Required.
	Connector Connector
	// CheckInterval is how often links are re-checked when nothing else
	// (SetMembers, PeerDown, a backoff expiring) prompts a check. Default
	// [DefaultCheckInterval].
	CheckInterval time.Duration
	// MinBackoff is the wait after a neighbour's first failed Connect; each
	// further failure doubles it, up to MaxBackoff, and the actual wait is
	// drawn at random between half the backoff and the backoff (jitter).
	// A successful Connect resets it. Default [DefaultMinBackoff].
	MinBackoff time.Duration
	// MaxBackoff caps the per-neighbour backoff; it must not be below
	// MinBackoff. Default [DefaultMaxBackoff].
	MaxBackoff time.Duration
	// DialTimeout bounds each Connect call. Default [DefaultDialTimeout].
	DialTimeout time.Duration
	// Logger receives debug logs of connect attempts. Default no-op.
	Logger *zap.Logger
}

// Manager keeps a node linked to its overlay neighbours: it computes them
// with [Neighbours] from the membership given to [Manager.SetMembers] and
// calls [Connector.Connect] for each one that is not connected, retrying
// failures with per-neighbour exponential backoff and jitter. It never
// connects to self and never closes links: links to peers that are not
// neighbours belong to other subsystems and are left alone.
//
// A Manager owns one goroutine, started by [Manager.Start], plus one per
// in-flight Connect (at most one per neighbour); [Manager.Close] stops
// them all. Its methods are safe for concurrent use.
type Manager struct {
	cfg    Config
	log    *zap.Logger
	jitter func(time.Duration) time.Duration // the wait after a failure, given the backoff; tests replace it before Start

	// life owns run and the dials; ctx is its context, which ends at
	// Close.
	life    lifecycle.Group
	ctx     context.Context
	trigger chan struct{}   // capacity 1: a check is wanted
	results chan dialResult // finished Connects, read by run

	mu         sync.Mutex
	neighbours []security.NodeID // replaced, never modified in place
	started    bool

	// peers is the dial state of neighbours (and of former neighbours with
	// a Connect still in flight); owned by the run goroutine.
	peers map[security.NodeID]*peerState
}

type peerState struct {
	backoff time.Duration // 0 until the first failure and after a success
	next    time.Time     // no Connect before this time
	dialing bool          // a Connect is in flight
}

type dialResult struct {
	id  security.NodeID
	err error
}

// New validates cfg, fills in defaults and returns a Manager that is not
// yet running; call [Manager.Start] to start it. An invalid cfg yields an
// error wrapping [ErrInvalidConfig]. See [Config] for the defaults.
func New(cfg Config) (*Manager, error) {
	if cfg.Self.IsZero() {
		return nil, fmt.Errorf("%w: Self is the zero node ID", ErrInvalidConfig)
	}
	if cfg.Connector == nil {
		return nil, fmt.Errorf("%w: Connector is nil", ErrInvalidConfig)
	}
	if cfg.K < 0 {
		return nil, fmt.Errorf("%w: K is %d, want >= 1", ErrInvalidConfig, cfg.K)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"CheckInterval", &cfg.CheckInterval, DefaultCheckInterval},
		{"MinBackoff", &cfg.MinBackoff, DefaultMinBackoff},
		{"MaxBackoff", &cfg.MaxBackoff, DefaultMaxBackoff},
		{"DialTimeout", &cfg.DialTimeout, DefaultDialTimeout},
	} {
		if *d.v < 0 {
			return nil, fmt.Errorf("%w: %s is negative (%v)", ErrInvalidConfig, d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if cfg.K == 0 {
		cfg.K = DefaultK
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		return nil, fmt.Errorf("%w: MaxBackoff (%v) is below MinBackoff (%v)", ErrInvalidConfig, cfg.MaxBackoff, cfg.MinBackoff)
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	m := &Manager{
		cfg:     cfg,
		log:     cfg.Logger.With(zap.String("component", "topology")),
		jitter:  equalJitter,
		trigger: make(chan struct{}, 1),
		results: make(chan dialResult),
		peers:   make(map[security.NodeID]*peerState),
	}
	m.ctx = m.life.Context()
	return m, nil
}

// equalJitter returns a random wait in [d/2, d].
func equalJitter(d time.Duration) time.Duration {
	half := d / 2
	return half + rand.N(d-half+1)
}

// Start starts the Manager's goroutine, which checks the links at once and
// then whenever prompted. It does nothing if the Manager is already started
// or closed.
func (m *Manager) Start() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started {
		return
	}
	m.started = true
	m.life.Go(m.run) // refused after Close, when there is nothing to run
}

// SetMembers sets the current alive membership (self may or may not be
// included; duplicates and zero IDs are ignored), recomputes the target
// neighbours and prompts a check at once. It may be called before Start.
func (m *Manager) SetMembers(ids []security.NodeID) {
	m.mu.Lock()
	m.neighbours = Neighbours(m.cfg.Self, ids, m.cfg.K)
	m.mu.Unlock()
	m.poke()
}

// PeerDown tells the Manager that the link to id ended, so it checks the
// links at once instead of at the next CheckInterval. A neighbour still
// waiting out its backoff after a failed Connect is not dialled before
// the backoff expires.
func (m *Manager) PeerDown(id security.NodeID) {
	m.log.Debug("peer down", zap.Stringer("peer", id))
	m.poke()
}

// Neighbours returns the current target neighbours, as computed by
// [Neighbours] from the last membership given to [Manager.SetMembers];
// nil before the first call. The caller owns the returned slice.
func (m *Manager) Neighbours() []security.NodeID {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.neighbours)
}

// Close stops the Manager: it cancels in-flight Connects and returns once
// all of its goroutines have exited. Links already up are left alone.
// Close is idempotent and always returns nil.
func (m *Manager) Close() error {
	m.life.StopAndWait()
	return nil
}

// poke asks the run goroutine for a check without blocking.
func (m *Manager) poke() {
	select {
	case m.trigger <- struct{}{}:
	default: // a check is already pending
	}
}

// run is the Manager's goroutine: it checks the links when prompted (by
// poke, by CheckInterval passing or by a backoff expiring) and records the
// outcome of Connects.
func (m *Manager) run() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	due := true // the first check runs at once
	var nextCheck time.Time
	for {
		now := time.Now()
		if due {
			m.check(now)
			nextCheck = now.Add(m.cfg.CheckInterval)
		}
		timer.Reset(m.wakeAt(now, nextCheck).Sub(now))
		select {
		case <-m.ctx.Done():
			return
		case <-m.trigger:
			due = true
		case <-timer.C:
			due = true
		case r := <-m.results:
			m.finish(r, time.Now())
			due = false
		}
	}
}

// wakeAt returns when run should next wake: at the next periodic check or
// when a neighbour's backoff expires, whichever is first.
func (m *Manager) wakeAt(now, nextCheck time.Time) time.Time {
	wake := nextCheck
	for _, p := range m.peers {
		if !p.dialing && p.next.After(now) && p.next.Before(wake) {
			wake = p.next
		}
	}
	return wake
}

// check starts a Connect to each neighbour that is not connected, not
// already being dialled and not waiting out a backoff.
func (m *Manager) check(now time.Time) {
	m.mu.Lock()
	targets := m.neighbours
	m.mu.Unlock()

	for id, p := range m.peers {
		if !p.dialing && !slices.Contains(targets, id) {
			delete(m.peers, id)
		}
	}
	for _, id := range targets {
		p := m.peers[id]
		if p == nil {
			p = &peerState{}
			m.peers[id] = p
		}
		if p.dialing {
			continue
		}
		if m.cfg.Connector.Connected(id) {
			// Up, perhaps dialled by the peer: a later failure starts
			// from MinBackoff again.
			p.backoff, p.next = 0, time.Time{}
			continue
		}
		if now.Before(p.next) {
			continue
		}
		p.dialing = true
		m.dial(id)
	}
}

// dial calls Connect for id in a goroutine of its own and hands the
// result to run.
func (m *Manager) dial(id security.NodeID) {
	m.log.Debug("connecting to neighbour", zap.Stringer("peer", id))
	// Refused only once Close has begun: run is returning too, so the
	// neighbour's dialing mark no longer matters.
	m.life.Go(func() {
		ctx, cancel := context.WithTimeout(m.ctx, m.cfg.DialTimeout)
		err := m.cfg.Connector.Connect(ctx, id)
		cancel()
		select {
		case m.results <- dialResult{id: id, err: err}:
		case <-m.ctx.Done(): // run has stopped or is stopping
		}
	})
}

// finish records the outcome of a Connect.
func (m *Manager) finish(r dialResult, now time.Time) {
	p := m.peers[r.id]
	if p == nil {
		return // cannot happen: entries are kept while dialling
	}
	p.dialing = false
	if r.err == nil {
		p.backoff, p.next = 0, time.Time{}
		m.log.Debug("connected to neighbour", zap.Stringer("peer", r.id))
		return
	}
	switch {
	case p.backoff == 0:
		p.backoff = m.cfg.MinBackoff
	case p.backoff > m.cfg.MaxBackoff/2:
		p.backoff = m.cfg.MaxBackoff
	default:
		p.backoff *= 2
	}
	wait := min(m.jitter(p.backoff), m.cfg.MaxBackoff)
	var ra retryAfter
	if errors.As(r.err, &ra) {
		// The peer cannot be reached before then (a ban): dialing
		// during the wait would only fail again.
		wait = max(wait, ra.RetryAfter())
	}
	p.next = now.Add(wait)
	m.log.Debug("connect to neighbour failed", zap.Stringer("peer", r.id), zap.Error(r.err), zap.Duration("retry_in", wait))
}
