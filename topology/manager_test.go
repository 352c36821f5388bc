package topology

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/security"
)

var errDialFailed = errors.New("dial failed")

// call is one Connect call seen by fakeConnector.
type call struct {
	id security.NodeID
	at time.Duration // since the connector was made
}

// fakeConnector records Connect calls with their (virtual) time. By
// default a Connect succeeds at once and marks the peer connected; fail
// makes it fail, block makes it block until its ctx is done.
type fakeConnector struct {
	start time.Time

	mu        sync.Mutex
	calls     []call
	connected map[security.NodeID]bool
	fail      map[security.NodeID]int // failures left; < 0: always
	block     map[security.NodeID]bool
	errs      map[security.NodeID]error // returned by failing Connects; default errDialFailed
	ctxErrs   []error                   // ctx.Err() seen by blocked Connects
}

func newFakeConnector() *fakeConnector {
	return &fakeConnector{
		start:     time.Now(),
		connected: make(map[security.NodeID]bool),
		fail:      make(map[security.NodeID]int),
		block:     make(map[security.NodeID]bool),
		errs:      make(map[security.NodeID]error),
	}
}

func (f *fakeConnector) Connect(ctx context.Context, id security.NodeID) error {
	f.mu.Lock()
	f.calls = append(f.calls, call{id: id, at: time.Since(f.start)})
	block := f.block[id]
	fail := f.fail[id]
	failErr := f.errs[id]
	if fail > 0 {
		f.fail[id]--
	}
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		f.mu.Lock()
		f.ctxErrs = append(f.ctxErrs, ctx.Err())
		f.mu.Unlock()
		return ctx.Err()
	}
	if fail != 0 {
		if failErr != nil {
			return failErr
		}
		return errDialFailed
	}
	f.mu.Lock()
	f.connected[id] = true
	f.mu.Unlock()
	return nil
}

func (f *fakeConnector) Connected(id security.NodeID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.connected[id]
}

func (f *fakeConnector) set(id security.NodeID, fail int, block bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[id] = fail
	f.block[id] = block
}

func (f *fakeConnector) disconnect(id security.NodeID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.connected, id)
}

// callsTo returns the times of the Connect calls to id.
func (f *fakeConnector) callsTo(id security.NodeID) []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	var at []time.Duration
	for _, c := range f.calls {
		if c.id == id {
			at = append(at, c.at)
		}
	}
	return at
}

func (f *fakeConnector) allCalls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

func (f *fakeConnector) seenCtxErrs() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]error(nil), f.ctxErrs...)
}

// startManager starts a Manager for self over fc with the identity jitter,
// so that retry times are exact. The caller must Close it.
func startManager(t *testing.T, cfg Config, fc *fakeConnector) *Manager {
	t.Helper()
	cfg.Connector = fc
	if cfg.Self.IsZero() {
		cfg.Self = testID(1)
	}
	m, err := New(cfg)
	require.NoError(t, err)
	m.jitter = func(d time.Duration) time.Duration { return d }
	m.Start()
	return m
}

// sleepUntil sleeps until d after fc was made.
func sleepUntil(fc *fakeConnector, d time.Duration) {
	time.Sleep(time.Until(fc.start.Add(d)))
}

func ms(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

func TestNew(t *testing.T) {
	fc := newFakeConnector()
	valid := Config{Self: testID(1), Connector: fc}

	m, err := New(valid)
	require.NoError(t, err)
	require.Equal(t, DefaultK, m.cfg.K)
	require.Equal(t, DefaultCheckInterval, m.cfg.CheckInterval)
	require.Equal(t, DefaultMinBackoff, m.cfg.MinBackoff)
	require.Equal(t, DefaultMaxBackoff, m.cfg.MaxBackoff)
	require.Equal(t, DefaultDialTimeout, m.cfg.DialTimeout)
	require.NotNil(t, m.cfg.Logger)
	require.NoError(t, m.Close())

	for _, tc := range []struct {
		name   string
		modify func(*Config)
	}{
		{"zero self", func(c *Config) { c.Self = security.NodeID{} }},
		{"nil connector", func(c *Config) { c.Connector = nil }},
		{"negative K", func(c *Config) { c.K = -1 }},
		{"negative CheckInterval", func(c *Config) { c.CheckInterval = -time.Second }},
		{"negative MinBackoff", func(c *Config) { c.MinBackoff = -1 }},
		{"negative MaxBackoff", func(c *Config) { c.MaxBackoff = -1 }},
		{"negative DialTimeout", func(c *Config) { c.DialTimeout = -1 }},
		{"MaxBackoff below MinBackoff", func(c *Config) { c.MinBackoff, c.MaxBackoff = time.Second, time.Millisecond }},
		{"MaxBackoff below default MinBackoff", func(c *Config) { c.MaxBackoff = time.Millisecond }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid
			tc.modify(&cfg)
			_, err := New(cfg)
			require.ErrorIs(t, err, ErrInvalidConfig)
		})
	}
}

func TestManagerConnectsToNeighbours(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := newFakeConnector()
		m := startManager(t, Config{Self: testID(3)}, fc)
		defer m.Close()

		m.SetMembers(testIDs(1, 6))
		require.Equal(t, []security.NodeID{testID(4), testID(2)}, m.Neighbours())
		synctest.Wait()
		require.ElementsMatch(t, []call{{testID(4), 0}, {testID(2), 0}}, fc.allCalls())

		// Periodic checks find the links up and dial nothing more.
		time.Sleep(10 * time.Second)
		require.Len(t, fc.allCalls(), 2)
	})
}

func TestManagerNeverDialsSelf(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := newFakeConnector()
		m := startManager(t, Config{Self: testID(1)}, fc)
		defer m.Close()

		m.SetMembers([]security.NodeID{testID(1)})
		time.Sleep(5 * time.Second)
		m.SetMembers(nil)
		time.Sleep(5 * time.Second)
		require.Empty(t, m.Neighbours())
		require.Empty(t, fc.allCalls())
	})
}

func TestManagerBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := newFakeConnector()
		a, b := testID(2), testID(3)
		fc.set(b, -1, false)
		m := startManager(t, Config{Self: testID(1), MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}, fc)
		defer m.Close()

		m.SetMembers(testIDs(1, 3))
		// A PeerDown while b waits out its backoff does not cut it short.
		sleepUntil(fc, 350*time.Millisecond)
		m.PeerDown(b)
		sleepUntil(fc, 5950*time.Millisecond)

		// Waits 100, 200, 400, 800ms, then capped at 1s.
		require.Equal(t, ms(0, 100, 300, 700, 1500, 2500, 3500, 4500, 5500), fc.callsTo(b))
		require.Equal(t, ms(0), fc.callsTo(a))
	})
}

// bannedErr is a Connect error that says when a retry can succeed, as
// the transport's error for a banned peer does.
type bannedErr struct{ left time.Duration }

func (e bannedErr) Error() string             { return "banned" }
func (e bannedErr) RetryAfter() time.Duration { return e.left }

func TestManagerWaitsOutRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := newFakeConnector()
		b := testID(3)
		fc.set(b, 2, false)
		fc.mu.Lock()
		fc.errs[b] = fmt.Errorf("dial: %w", bannedErr{left: 5 * time.Second})
		fc.mu.Unlock()
		m := startManager(t, Config{Self: testID(1), MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}, fc)
		defer m.Close()

		m.SetMembers(testIDs(1, 3))
		sleepUntil(fc, 20*time.Second)
		// Not every backoff interval during the ban: once it has ended,
		// even beyond MaxBackoff; then connected.
		require.Equal(t, ms(0, 5000, 10000), fc.callsTo(b))
		require.True(t, fc.Connected(b))
	})
}

func TestManagerBackoffJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := newFakeConnector()
		b := testID(2)
		fc.set(b, -1, false)
		cfg := Config{Self: testID(1), Connector: fc, MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}
		m, err := New(cfg) // with the default jitter
		require.NoError(t, err)
		m.Start()
		defer m.Close()

		m.SetMembers(testIDs(1, 2))
		time.Sleep(20 * time.Second)
		at := fc.callsTo(b)
		require.Greater(t, len(at), 10)
		backoff := 100 * time.Millisecond
		for i := 1; i < len(at); i++ {
			gap := at[i] - at[i-1]
			require.GreaterOrEqual(t, gap, backoff/2, "attempt %d", i)
			require.LessOrEqual(t, gap, backoff, "attempt %d", i)
			backoff = min(2*backoff, time.Second)
		}
	})
}

func TestEqualJitter(t *testing.T) {
	for _, d := range []time.Duration{0, 1, 2, 3, 100 * time.Millisecond, 30 * time.Second} {
		for range 1000 {
			j := equalJitter(d)
			require.GreaterOrEqual(t, j, d/2)
			require.LessOrEqual(t, j, d)
		}
	}
}

func TestManagerSuccessResetsBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := newFakeConnector()
		b := testID(2)
		fc.set(b, 3, false) // three failures, then success
		m := startManager(t, Config{Self: testID(1), MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}, fc)
		defer m.Close()

		m.SetMembers(testIDs(1, 2))
		sleepUntil(fc, 1050*time.Millisecond)
		require.Equal(t, ms(0, 100, 300, 700), fc.callsTo(b))

		// The link drops and b stops answering: the first retry is at
		// once, the next after MinBackoff again.
		fc.set(b, -1, false)
		fc.disconnect(b)
		m.PeerDown(b)
		sleepUntil(fc, 1400*time.Millisecond)
		require.Equal(t, ms(0, 100, 300, 700, 1050, 1150, 1350), fc.callsTo(b))
	})
}

func TestManagerPeerDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := newFakeConnector()
		a, b := testID(2), testID(3)
		m := startManager(t, Config{Self: testID(1), CheckInterval: time.Hour}, fc)
		defer m.Close()

		m.SetMembers(testIDs(1, 3))
		sleepUntil(fc, 5*time.Second)
		fc.disconnect(a)
		m.PeerDown(a) // re-dialled at once
		sleepUntil(fc, 6*time.Second)
		fc.disconnect(b) // no PeerDown: found by the periodic check
		sleepUntil(fc, 2*time.Hour)

		require.Equal(t, []time.Duration{0, 5 * time.Second}, fc.callsTo(a))
		require.Equal(t, []time.Duration{0, time.Hour + 5*time.Second}, fc.callsTo(b))
	})
}

func TestManagerSetMembersRetargets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := newFakeConnector()
		m := startManager(t, Config{Self: testID(1), CheckInterval: time.Hour}, fc)
		defer m.Close()

		failing := testID(6)
		fc.set(failing, -1, false)
		m.SetMembers(testIDs(1, 6)) // neighbours 2 and 6
		sleepUntil(fc, 10*time.Second)
		m.SetMembers(testIDs(1, 4)) // neighbours 2 and 4
		require.Equal(t, []security.NodeID{testID(2), testID(4)}, m.Neighbours())
		sleepUntil(fc, 20*time.Second)

		require.Equal(t, []time.Duration{0}, fc.callsTo(testID(2)))
		require.Equal(t, []time.Duration{10 * time.Second}, fc.callsTo(testID(4)))
		// The former neighbour is no longer retried.
		at := fc.callsTo(failing)
		require.NotEmpty(t, at)
		require.Less(t, at[len(at)-1], 10*time.Second)
	})
}

func TestManagerDialTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := newFakeConnector()
		b := testID(2)
		fc.set(b, 0, true)
		m := startManager(t, Config{Self: testID(1), DialTimeout: 5 * time.Second, MinBackoff: 100 * time.Millisecond}, fc)
		defer m.Close()

		m.SetMembers(testIDs(1, 2))
		// Prompts while the Connect is in flight do not start another.
		sleepUntil(fc, time.Second)
		m.PeerDown(b)
		m.SetMembers(testIDs(1, 2))
		sleepUntil(fc, 11*time.Second)

		require.Equal(t, ms(0, 5100, 10300), fc.callsTo(b))
		require.Equal(t, []error{context.DeadlineExceeded, context.DeadlineExceeded}, fc.seenCtxErrs())
	})
}

func TestManagerCloseCancelsConnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := newFakeConnector()
		b := testID(2)
		fc.set(b, 0, true)
		m := startManager(t, Config{Self: testID(1)}, fc)
		m.SetMembers(testIDs(1, 2))
		synctest.Wait() // Connect is blocked
		require.Len(t, fc.callsTo(b), 1)

		start := time.Now()
		require.NoError(t, m.Close())
		require.Zero(t, time.Since(start), "Close must not wait for DialTimeout")
		require.Equal(t, []error{context.Canceled}, fc.seenCtxErrs())
		require.NoError(t, m.Close()) // idempotent

		// A closed Manager stays quiet.
		m.Start()
		m.SetMembers(testIDs(1, 3))
		m.PeerDown(b)
		time.Sleep(time.Minute)
		require.Len(t, fc.allCalls(), 1)
	})
}

func TestManagerLifecycle(t *testing.T) {
	t.Run("close without start", func(t *testing.T) {
		m, err := New(Config{Self: testID(1), Connector: newFakeConnector()})
		require.NoError(t, err)
		m.SetMembers(testIDs(1, 3)) // before Start: only recorded
		require.Len(t, m.Neighbours(), 2)
		require.NoError(t, m.Close())
		require.NoError(t, m.Close())
	})
	t.Run("members set before start", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			fc := newFakeConnector()
			m, err := New(Config{Self: testID(1), Connector: fc})
			require.NoError(t, err)
			m.SetMembers(testIDs(1, 3))
			m.Start()
			m.Start() // no second goroutine
			defer m.Close()
			synctest.Wait()
			require.ElementsMatch(t, []call{{testID(2), 0}, {testID(3), 0}}, fc.allCalls())
		})
	})
	t.Run("concurrent use", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			fc := newFakeConnector()
			m := startManager(t, Config{Self: testID(1)}, fc)
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Go(func() {
					for i := range 50 {
						m.SetMembers(testIDs(1, 3+(g+i)%7))
						m.PeerDown(testID(2 + i%5))
						_ = m.Neighbours()
						time.Sleep(time.Millisecond)
					}
				})
			}
			wg.Wait()
			require.NoError(t, m.Close())
		})
	})
}
