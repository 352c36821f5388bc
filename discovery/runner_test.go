package discovery

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// step is one scripted answer of a scriptedSource.
type step struct {
	addrs []string
	err   error
}

// scriptedSource is a Source that plays a script of answers, then repeats
// the last one, and records when it was asked.
type scriptedSource struct {
	name  string
	start time.Time

	mu     sync.Mutex
	script []step
	calls  []time.Duration
}

func (s *scriptedSource) Name() string { return s.name }

func (s *scriptedSource) Discover(ctx context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, time.Since(s.start))
	st := s.script[0]
	if len(s.script) > 1 {
		s.script = s.script[1:]
	}
	return st.addrs, st.err
}

func (s *scriptedSource) callTimes() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.calls...)
}

// delivery is one call of OnAddrs.
type delivery struct {
	at     time.Duration
	source string
	addrs  []string
}

// recorder collects OnAddrs calls.
type recorder struct {
	start time.Time
	mu    sync.Mutex
	got   []delivery
}

func (r *recorder) onAddrs(source string, addrs []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, delivery{time.Since(r.start), source, addrs})
}

func (r *recorder) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestRunnerBackoffAndRecovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		boom := fmt.Errorf("%w: flaky: connection refused", ErrSourceFailed)
		src := &scriptedSource{name: "flaky", start: start, script: []step{
			{err: boom}, {err: boom}, {err: boom}, {err: boom},
			{addrs: []string{"b.example.org:2", "a.example.org:1", "b.example.org:2"}},
			{err: boom},
			{addrs: []string{"c.example.org:3"}},
		}}
		core, logs := observer.New(zap.InfoLevel)
		rec := &recorder{start: start}
		r, err := NewRunner(RunnerConfig{
			Sources:    []Source{src},
			Interval:   10 * time.Second,
			MinBackoff: 500 * time.Millisecond,
			MaxBackoff: 2 * time.Second,
			Logger:     zap.New(core),
			OnAddrs:    rec.onAddrs,
		})
		require.NoError(t, err)
		r.jitter = func(d time.Duration) time.Duration { return d } // no jitter
		r.Start()

		time.Sleep(30 * time.Second)
		synctest.Wait()
		require.NoError(t, r.Close())

		// Failures at 0, 0.5, 1.5 and 3.5 s wait 0.5, 1, 2 and 2 s (capped);
		// the success at 5.5 s waits the interval; the failure at 15.5 s
		// waits MinBackoff again; then the interval.
		require.Equal(t, []time.Duration{
			0, ms(500), ms(1500), ms(3500), ms(5500), ms(15500), ms(16000), ms(26000),
		}, src.callTimes())
		require.Equal(t, []delivery{
			{ms(5500), "flaky", []string{"a.example.org:1", "b.example.org:2"}},
			{ms(16000), "flaky", []string{"c.example.org:3"}},
			{ms(26000), "flaky", []string{"c.example.org:3"}},
		}, rec.deliveries())

		warns := logs.FilterLevelExact(zapcore.WarnLevel).All()
		require.Len(t, warns, 5)
		for i, e := range warns {
			fields := e.ContextMap()
			require.Equal(t, "flaky", fields["source"], "warning %d names the source", i)
			require.Contains(t, fields["error"], "connection refused")
		}
		require.Equal(t, ms(500), warns[0].ContextMap()["retry_in"])
		require.Equal(t, ms(2000), warns[3].ContextMap()["retry_in"])
		require.Len(t, logs.FilterMessage("discovery source recovered").All(), 2)
	})
}

func TestRunnerJitterIsApplied(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		src := &scriptedSource{name: "down", start: start, script: []step{{err: ErrSourceFailed}}}
		r, err := NewRunner(RunnerConfig{Sources: []Source{src}, OnAddrs: func(string, []string) {}})
		require.NoError(t, err)
		var asked []time.Duration
		r.jitter = func(d time.Duration) time.Duration {
			asked = append(asked, d)
			return d + ms(100)
		}
		r.Start()
		time.Sleep(4 * time.Second)
		synctest.Wait()
		require.NoError(t, r.Close())
		// Defaults: 500 ms doubling, each wait lengthened by the jitter.
		require.Equal(t, []time.Duration{0, ms(600), ms(1700), ms(3800)}, src.callTimes())
		require.Equal(t, []time.Duration{ms(500), ms(1000), ms(2000), ms(4000)}, asked)
	})
}

func TestRunnerSeveralSources(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		rec := &recorder{start: start}
		a := &scriptedSource{name: "a", start: start, script: []step{{addrs: []string{"a:1"}}}}
		r, err := NewRunner(RunnerConfig{Sources: []Source{a, Static("s:1", "s:1", "")}, OnAddrs: rec.onAddrs, Interval: time.Second})
		require.NoError(t, err)
		r.Start()
		r.Start() // no effect
		synctest.Wait()
		got := rec.deliveries()
		require.ElementsMatch(t, []delivery{{0, "a", []string{"a:1"}}, {0, "static", []string{"s:1"}}}, got)
		require.NoError(t, r.Close())
		require.NoError(t, r.Close())
	})
}

// blockingSource blocks in Discover until its context ends.
type blockingSource struct{ entered chan struct{} }

func (blockingSource) Name() string { return "blocking" }

func (s blockingSource) Discover(ctx context.Context) ([]string, error) {
	close(s.entered)
	<-ctx.Done()
	return nil, fmt.Errorf("%w: blocking: %w", ErrSourceFailed, ctx.Err())
}

func TestRunnerCloseCancelsDiscover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		core, logs := observer.New(zap.InfoLevel)
		src := blockingSource{entered: make(chan struct{})}
		r, err := NewRunner(RunnerConfig{Sources: []Source{src}, Logger: zap.New(core), OnAddrs: func(string, []string) {
			t.Error("OnAddrs called")
		}})
		require.NoError(t, err)
		r.Start()
		<-src.entered
		require.NoError(t, r.Close())
		require.Zero(t, logs.Len(), "a cancelled Discover is not a failure")
		r.Start() // after Close: no effect
		synctest.Wait()
	})
}

func TestRunnerCloseWithoutStart(t *testing.T) {
	r, err := NewRunner(RunnerConfig{Sources: []Source{Static()}, OnAddrs: func(string, []string) {}})
	require.NoError(t, err)
	require.NoError(t, r.Close())
	r.Start()
	require.NoError(t, r.Close())
}

func TestRunnerRealTime(t *testing.T) {
	// Outside a bubble too, with real timers: addresses arrive and Close
	// returns.
	got := make(chan []string, 10)
	r, err := NewRunner(RunnerConfig{
		Sources:  []Source{Static("x:1")},
		Interval: time.Millisecond,
		OnAddrs: func(_ string, addrs []string) {
			select {
			case got <- addrs:
			default:
			}
		},
	})
	require.NoError(t, err)
	r.Start()
	require.Equal(t, []string{"x:1"}, <-got)
	require.Equal(t, []string{"x:1"}, <-got)
	require.NoError(t, r.Close())
}

func TestNewRunnerInvalid(t *testing.T) {
	ok := func(string, []string) {}
	for name, cfg := range map[string]RunnerConfig{
		"no sources":        {OnAddrs: ok},
		"nil source":        {Sources: []Source{nil}, OnAddrs: ok},
		"duplicate names":   {Sources: []Source{Static(), Static()}, OnAddrs: ok},
		"no OnAddrs":        {Sources: []Source{Static()}},
		"negative interval": {Sources: []Source{Static()}, OnAddrs: ok, Interval: -1},
		"negative backoff":  {Sources: []Source{Static()}, OnAddrs: ok, MinBackoff: -1},
		"min above max":     {Sources: []Source{Static()}, OnAddrs: ok, MinBackoff: time.Minute},
		"min above max set": {Sources: []Source{Static()}, OnAddrs: ok, MinBackoff: 2 * time.Second, MaxBackoff: time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewRunner(cfg)
			require.ErrorIs(t, err, ErrInvalidConfig)
		})
	}
}

func TestNewRunnerDefaults(t *testing.T) {
	r, err := NewRunner(RunnerConfig{Sources: []Source{Static()}, OnAddrs: func(string, []string) {}})
	require.NoError(t, err)
	require.Equal(t, DefaultInterval, r.interval)
	require.Equal(t, DefaultMinBackoff, r.minBackoff)
	require.Equal(t, DefaultMaxBackoff, r.maxBackoff)
	require.NotNil(t, r.log)
	require.NotNil(t, r.jitter)
	require.Equal(t, 10*time.Second, DefaultInterval)
	require.Equal(t, 500*time.Millisecond, DefaultMinBackoff)
	require.Equal(t, 30*time.Second, DefaultMaxBackoff)
}

func TestBackoff(t *testing.T) {
	r := &Runner{minBackoff: ms(500), maxBackoff: 30 * time.Second}
	var got []time.Duration
	for n := 1; n <= 9; n++ {
		got = append(got, r.backoff(n))
	}
	require.Equal(t, []time.Duration{ms(500), time.Second, 2 * time.Second, 4 * time.Second,
		8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second}, got)

	huge := &Runner{minBackoff: time.Second, maxBackoff: time.Duration(1<<63 - 1)}
	require.Equal(t, huge.maxBackoff, huge.backoff(1000), "no overflow")
}

func TestDefaultJitter(t *testing.T) {
	seen := map[bool]bool{}
	for range 1000 {
		d := defaultJitter(10 * time.Second)
		require.GreaterOrEqual(t, d, 8*time.Second)
		require.LessOrEqual(t, d, 12*time.Second)
		seen[d < 10*time.Second] = true
	}
	require.Len(t, seen, 2, "jitter goes both ways")
	require.Equal(t, time.Duration(0), defaultJitter(0))
	require.Equal(t, time.Duration(4), defaultJitter(4))
}

func TestRunnerSourceErrorIsLogged(t *testing.T) {
	// The error a source returns is logged as it is, wrapped sentinel and all.
	synctest.Test(t, func(t *testing.T) {
		core, logs := observer.New(zap.WarnLevel)
		src := &scriptedSource{name: "dns-srv:_macula._udp.example.org.", start: time.Now(),
			script: []step{{err: fmt.Errorf("%w: dns-srv: %w", ErrSourceFailed, errors.New("server misbehaving"))}}}
		r, err := NewRunner(RunnerConfig{Sources: []Source{src}, Logger: zap.New(core), OnAddrs: func(string, []string) {}})
		require.NoError(t, err)
		r.Start()
		synctest.Wait()
		require.NoError(t, r.Close())
		entries := logs.All()
		require.Len(t, entries, 1)
		require.Equal(t, "dns-srv:_macula._udp.example.org.", entries[0].ContextMap()["source"])
		require.Equal(t, "macula: discovery source failed: dns-srv: server misbehaving", entries[0].ContextMap()["error"])
	})
}
