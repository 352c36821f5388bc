package discovery

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/org/macula/internal/lifecycle"
)

// Defaults of [RunnerConfig].
const (
	// DefaultInterval is the default time between successful polls of a
	// source.
	DefaultInterval = 10 * time.Second
	// DefaultMinBackoff is the default wait before the first retry of a
	// failed source.
	DefaultMinBackoff = 500 * time.Millisecond
	// DefaultMaxBackoff is the default ceiling of the retry wait.
	DefaultMaxBackoff = 30 * time.Second
)

// jitterFraction is how far the default jitter scatters a backoff wait:
// uniformly within ±20%.
const jitterFraction = 5 // 1/5 = 20%

// RunnerConfig configures a [Runner]. Zero durations mean the defaults.
type RunnerConfig struct {
	// Sources are polled, each by its own goroutine. At least one is
	// required; nil entries and two sources with the same Name are
	// rejected.
	Sources []Source
	// Interval is the wait after a successful poll of a source before the
	// next one. Default [DefaultInterval] (10 s).
	Interval time.Duration
	// MinBackoff is the wait after the first failure of a source; it
	// doubles with each further consecutive failure up to MaxBackoff, and
	// each wait is scattered by a random ±20% so that many nodes do not
	// retry in step. A success resets it. Defaults [DefaultMinBackoff]
	// (500 ms) and [DefaultMaxBackoff] (30 s); MinBackoff may not exceed
	// MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives a Warn entry, with the source's name and the error,
	// each time a source fails, and an Info entry when it recovers.
	// Default: no logging.
	Logger *zap.Logger
	// OnAddrs is called after every successful poll with the source's Name
	// and its result, deduplicated and sorted (possibly empty). It is
	// required. It is called from the runner's goroutines, never
	// concurrently with itself; it must return promptly, must not block,
	// and must not call [Runner.Close].
	OnAddrs func(source string, addrs []string)
}

// A Runner polls discovery sources continuously and reports what they find
// through [RunnerConfig.OnAddrs]. Create it with [NewRunner], start it with
// [Runner.Start] and stop it with [Runner.Close].
type Runner struct {
	sources    []Source
	interval   time.Duration
	minBackoff time.Duration
	maxBackoff time.Duration
	log        *zap.Logger
	onAddrs    func(string, []string)
	// jitter scatters a backoff wait; tests replace it.
	jitter func(time.Duration) time.Duration

	// life owns one polling goroutine per source; its context ends at
	// Close.
	life    lifecycle.Group
	mu      sync.Mutex // guards started
	started bool

	cbMu sync.Mutex // serializes calls of onAddrs
}

// NewRunner validates cfg, fills in defaults and returns a Runner that has
// not started yet. Invalid configurations yield an error wrapping
// [ErrInvalidConfig].
func NewRunner(cfg RunnerConfig) (*Runner, error) {
	if len(cfg.Sources) == 0 {
		return nil, configErrorf("runner: no sources")
	}
	names := make(map[string]bool, len(cfg.Sources))
	for i, s := range cfg.Sources {
		if s == nil {
			return nil, configErrorf("runner: source %d is nil", i)
		}
		if names[s.Name()] {
			return nil, configErrorf("runner: two sources named %q", s.Name())
		}
		names[s.Name()] = true
	}
	if cfg.OnAddrs == nil {
		return nil, configErrorf("runner: OnAddrs is nil")
	}
	if cfg.Interval < 0 || cfg.MinBackoff < 0 || cfg.MaxBackoff < 0 {
		return nil, configErrorf("runner: negative Interval, MinBackoff or MaxBackoff")
	}
	r := &Runner{
		sources:    slices.Clone(cfg.Sources),
		interval:   orDefault(cfg.Interval, DefaultInterval),
		minBackoff: orDefault(cfg.MinBackoff, DefaultMinBackoff),
		maxBackoff: orDefault(cfg.MaxBackoff, DefaultMaxBackoff),
		log:        cfg.Logger,
		onAddrs:    cfg.OnAddrs,
		jitter:     defaultJitter,
	}
	if r.minBackoff > r.maxBackoff {
		return nil, configErrorf("runner: MinBackoff %v exceeds MaxBackoff %v", r.minBackoff, r.maxBackoff)
	}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	return r, nil
}

// orDefault returns d, or def if d is zero.
func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// defaultJitter returns d scattered uniformly within ±20%.
func defaultJitter(d time.Duration) time.Duration {
	spread := d / jitterFraction
	if spread <= 0 {
		return d
	}
	return d - spread + rand.N(2*spread+1)
}

// Start starts one goroutine per source; each polls its source at once and
// then as [RunnerConfig] says. Calls after the first, or after
// [Runner.Close], do nothing.
func (r *Runner) Start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return
	}
	r.started = true
	ctx := r.life.Context()
	for _, s := range r.sources {
		// Refused after Close, which has nothing to wait for then.
		r.life.Go(func() { r.poll(ctx, s) })
	}
}

// Close stops polling: it cancels the context of any Discover call under
// way and returns once every goroutine of the Runner has exited, which
// takes as long as the slowest source needs to return (an mDNS browse ends
// within its Timeout). It is idempotent and always returns nil.
func (r *Runner) Close() error {
	r.life.StopAndWait()
	return nil
}

// poll runs one source until ctx is done.
func (r *Runner) poll(ctx context.Context, s Source) {
	name := s.Name()
	failures := 0
	for {
		addrs, err := s.Discover(ctx)
		if ctx.Err() != nil {
			return
		}
		var wait time.Duration
		if err != nil {
			failures++
			wait = r.jitter(r.backoff(failures))
			r.log.Warn("discovery source failed; will retry",
				zap.String("source", name), zap.Error(err),
				zap.Int("failures", failures), zap.Duration("retry_in", wait))
		} else {
			if failures > 0 {
				r.log.Info("discovery source recovered",
					zap.String("source", name), zap.Int("failures", failures))
			}
			failures = 0
			r.deliver(name, addrs)
			wait = r.interval
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// backoff returns the wait after the given number (>= 1) of consecutive
// failures, before jitter: minBackoff doubled failures-1 times, at most
// maxBackoff.
func (r *Runner) backoff(failures int) time.Duration {
	d := r.minBackoff
	for i := 1; i < failures; i++ {
		if d > r.maxBackoff/2 {
			return r.maxBackoff
		}
		d *= 2
	}
	return min(d, r.maxBackoff)
}

// deliver hands a source's result, deduplicated and sorted, to onAddrs.
func (r *Runner) deliver(name string, addrs []string) {
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		if a != "" {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	r.cbMu.Lock()
	defer r.cbMu.Unlock()
	r.onAddrs(name, out)
}
