package transport

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/stretchr/testify/require"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
)

// limitEvents records OnLimitExceeded reports.
type limitEvents struct {
	mu  sync.Mutex
	evs []LimitEvent
}

func (l *limitEvents) record(ev LimitEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, ev)
}

func (l *limitEvents) all() []LimitEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]LimitEvent(nil), l.evs...)
}

// checkReported checks that the refusals of peer for limit were reported,
// starting with the first one; in virtual time, where they all fall within
// a second, in exactly one event.
func checkReported(t *testing.T, nw network, evs *limitEvents, peer *Transport, limit Limit) {
	t.Helper()
	all := evs.all()
	require.NotEmpty(t, all)
	if nw.sim {
		require.Len(t, all, 1)
	}
	require.Equal(t, peer.ID(), all[0].Peer)
	require.Equal(t, peer.Addr().String(), all[0].RemoteAddr.String())
	require.Equal(t, limit, all[0].Limit)
	require.Equal(t, uint64(1), all[0].Refused)
}

// readRefusal reads from a stream the peer refused and checks the error.
func readRefusal(t *testing.T, s *Stream) {
	t.Helper()
	_ = s.SetDeadline(time.Now().Add(5 * time.Second))
	var env protocol.Envelope
	err := s.ReadFrame(&env)
	require.ErrorIs(t, err, ErrRateLimited)
	code, ok := StreamCode(err)
	require.True(t, ok)
	require.Equal(t, protocol.CodeRateLimited, code)
}

func TestStreamFloodRefusedOnlyForThatPeer(t *testing.T) {
	onBoth(t, func(t *testing.T, nw network) {
		const most, excess = 4, 6
		ctx := context.Background()
		conns := nw.conns(3)
		var evs limitEvents
		b := newNode(t, conns[1], func(c *Config) { c.MaxStreamsPerPeer = most; c.OnLimitExceeded = evs.record })
		a, c := newNode(t, conns[0]), newNode(t, conns[2])
		started := make(chan struct{}, most+excess)
		release := make(chan struct{})
		b.Handle(protocol.StreamEvents, func(ctx context.Context, _ *Stream) {
			started <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
		})
		b.Handle(protocol.StreamRPC, echoHandler(make(chan error, 8)))
		dial(t, a, b)
		dial(t, c, b)

		// a fills its allowance with streams whose handlers block.
		for range most {
			_, err := a.OpenStream(ctx, b.ID(), protocol.StreamEvents)
			require.NoError(t, err)
		}
		for range most {
			select {
			case <-started:
			case <-time.After(5 * time.Second):
				t.Fatal("handlers did not start")
			}
		}

		// Every stream beyond it is refused at once, of whatever type.
		for i := range excess {
			typ := protocol.StreamEvents
			if i%2 == 1 {
				typ = protocol.StreamRPC
			}
			s, err := a.OpenStream(ctx, b.ID(), typ)
			require.NoError(t, err)
			readRefusal(t, s)
		}
		require.Empty(t, started, "no refused stream reached a handler")
		require.Equal(t, LimitStats{StreamsRefused: excess}, b.LimitStats())
		checkReported(t, nw, &evs, a, LimitStreams)

		// Meanwhile b serves c, and both peers' pings work.
		roundTrip(t, c, b)
		_, err := c.Ping(ctx, b.ID())
		require.NoError(t, err)
		_, err = a.Ping(ctx, b.ID())
		require.NoError(t, err)

		// Once its handlers return, a is served again.
		close(release)
		pc := b.peers.get(a.ID())
		require.NotNil(t, pc)
		eventually(t, 2*time.Second, func() bool { return pc.limits.active.Load() == 0 }, "a's handlers return")
		roundTrip(t, a, b)
		require.Equal(t, LimitStats{StreamsRefused: excess}, b.LimitStats())
	})
}

func TestStreamRateLimit(t *testing.T) {
	onBoth(t, func(t *testing.T, nw network) {
		const rate, burst, opens = 4, 5, 8
		ctx := context.Background()
		conns := nw.conns(2)
		var evs limitEvents
		b := newNode(t, conns[1], func(c *Config) {
			c.StreamRate, c.StreamBurst, c.OnLimitExceeded = rate, burst, evs.record
		})
		a := newNode(t, conns[0])
		b.Handle(protocol.StreamRPC, echoHandler(make(chan error, opens)))
		dial(t, a, b)

		// Of a burst of opens at once, the bucket's burst is served and the
		// rest refused. Which ones is up to arrival order: over real UDP,
		// quic-go may send the first frames of several new streams in any
		// order. And on a loaded machine the opens may spread over more than
		// one refill interval (1/rate), each of which adds a token: the
		// served count may exceed the burst by rate × the time the whole
		// exchange took, never more.
		// A refusal can also come back before the first frame is written
		// (over real UDP, once in 50 runs of a flake hunt): the write then
		// fails with it.
		start := time.Now()
		streams := make([]*Stream, opens)
		writeErrs := make([]error, opens)
		for i := range streams {
			s, err := a.OpenStream(ctx, b.ID(), protocol.StreamRPC)
			require.NoError(t, err)
			writeErrs[i] = s.WriteFrame(ping(uint64(i)))
			streams[i] = s
		}
		served := 0
		for i, s := range streams {
			_ = s.SetDeadline(time.Now().Add(5 * time.Second))
			var env protocol.Envelope
			err := writeErrs[i]
			if err == nil {
				err = s.ReadFrame(&env)
			}
			if errors.Is(err, ErrRateLimited) {
				code, ok := StreamCode(err)
				require.True(t, ok)
				require.Equal(t, protocol.CodeRateLimited, code)
				continue
			}
			require.NoError(t, err)
			require.Equal(t, uint64(i), env.GetPing().GetNonce())
			require.NoError(t, s.CloseWrite())
			served++
		}
		refills := int(time.Since(start) * rate / time.Second)
		require.GreaterOrEqual(t, served, burst)
		require.LessOrEqual(t, served, burst+refills, "served %d of %d opens in %v", served, opens, time.Since(start))
		refused := uint64(opens - served)
		require.Equal(t, LimitStats{StreamRateRefused: refused}, b.LimitStats())
		checkReported(t, nw, &evs, a, LimitStreamRate)

		// One interval later the bucket holds a token again.
		time.Sleep(time.Second / rate)
		roundTrip(t, a, b)
		require.Equal(t, LimitStats{StreamRateRefused: refused}, b.LimitStats())
	})
}

func TestFrameRateLimit(t *testing.T) {
	onBoth(t, func(t *testing.T, nw network) {
		const rate, burst, sent = 100, 10, 30
		ctx := context.Background()
		conns := nw.conns(3)
		var evs limitEvents
		b := newNode(t, conns[1], func(c *Config) {
			c.FrameRate, c.FrameBurst, c.OnLimitExceeded = rate, burst, evs.record
		})
		a, c := newNode(t, conns[0]), newNode(t, conns[2])
		type result struct {
			frames int
			err    error
		}
		results := make(chan result, 4)
		b.Handle(protocol.StreamEvents, func(_ context.Context, s *Stream) {
			var env protocol.Envelope
			n := 0
			for {
				if err := s.ReadFrame(&env); err != nil {
					results <- result{n, err}
					return
				}
				n++
			}
		})
		b.Handle(protocol.StreamRPC, echoHandler(make(chan error, 4)))
		dial(t, a, b)
		dial(t, c, b)

		// a sends frames much faster than the rate: b reads the burst, then
		// refuses a frame and aborts the stream.
		s, err := a.OpenStream(ctx, b.ID(), protocol.StreamEvents)
		require.NoError(t, err)
		for i := range sent {
			if err := s.WriteFrame(ping(uint64(i))); err != nil {
				require.ErrorIs(t, err, ErrRateLimited) // the refusal arrived
				break
			}
		}
		var r result
		select {
		case r = <-results:
		case <-time.After(5 * time.Second):
			t.Fatal("the handler did not end")
		}
		require.ErrorIs(t, r.err, ErrRateLimited)
		if nw.sim {
			require.Equal(t, burst, r.frames) // all frames arrived at one instant
		} else {
			require.GreaterOrEqual(t, r.frames, burst)
			require.Less(t, r.frames, sent)
		}
		readRefusal(t, s)
		require.Equal(t, LimitStats{FramesRefused: 1}, b.LimitStats())
		checkReported(t, nw, &evs, a, LimitFrameRate)

		// c has its own bucket, and a's refills.
		roundTrip(t, c, b)
		time.Sleep(time.Second / rate)
		roundTrip(t, a, b)
		require.Equal(t, LimitStats{FramesRefused: 1}, b.LimitStats())
	})
}

func TestLimitConfig(t *testing.T) {
	id, err := security.GenerateIdentity()
	require.NoError(t, err)
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer conn.Close()

	type limits struct {
		streams  int
		sRate    float64
		sBurst   int
		fRate    float64
		fBurst   int
		incoming int64
	}
	defaults := limits{DefaultMaxStreamsPerPeer, DefaultStreamRate, DefaultStreamBurst,
		DefaultFrameRate, DefaultFrameBurst, DefaultMaxIncomingStreams}
	cases := []struct {
		name string
		set  func(*Config)
		want limits // unless invalid
		bad  bool
	}{
		{name: "defaults", set: func(*Config) {}, want: defaults},
		{name: "explicit", set: func(c *Config) {
			c.MaxStreamsPerPeer, c.StreamRate, c.StreamBurst, c.FrameRate, c.FrameBurst = 8, 10.5, 2, 100, 10
		}, want: limits{8, 10.5, 2, 100, 10, DefaultMaxIncomingStreams}},
		{name: "QUIC credit follows many streams per peer", set: func(c *Config) { c.MaxStreamsPerPeer = 800 },
			want: func() limits { l := defaults; l.streams, l.incoming = 800, 1600; return l }()},
		{name: "explicit QUIC credit kept", set: func(c *Config) { c.MaxStreamsPerPeer, c.MaxIncomingStreams = 800, 100 },
			want: func() limits { l := defaults; l.streams, l.incoming = 800, 100; return l }()},
		{name: "no limits", set: func(c *Config) {
			c.MaxStreamsPerPeer, c.StreamRate, c.StreamBurst, c.FrameRate, c.FrameBurst = NoLimit, NoLimit, NoLimit, NoLimit, NoLimit
		}, want: limits{NoLimit, NoLimit, NoLimit, NoLimit, NoLimit, DefaultMaxIncomingStreams}},
		{name: "negative streams", set: func(c *Config) { c.MaxStreamsPerPeer = -2 }, bad: true},
		{name: "negative stream rate", set: func(c *Config) { c.StreamRate = -0.5 }, bad: true},
		{name: "negative stream burst", set: func(c *Config) { c.StreamBurst = -3 }, bad: true},
		{name: "NaN frame rate", set: func(c *Config) { c.FrameRate = math.NaN() }, bad: true},
		{name: "infinite frame rate", set: func(c *Config) { c.FrameRate = math.Inf(1) }, bad: true},
		{name: "negative frame burst", set: func(c *Config) { c.FrameBurst = -2 }, bad: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Identity: id, Realm: testRealm, Conn: conn}
			tc.set(&cfg)
			got, err := cfg.withDefaults()
			if tc.bad {
				require.ErrorIs(t, err, ErrInvalidConfig)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, limits{got.MaxStreamsPerPeer, got.StreamRate, got.StreamBurst,
				got.FrameRate, got.FrameBurst, got.MaxIncomingStreams})
		})
	}
	require.Greater(t, int64(DefaultMaxIncomingStreams), int64(DefaultMaxStreamsPerPeer),
		"QUIC's credit must leave room for the excess to be refused")
}

// TestRequestLimitConfig covers the limits on pings, datagrams and
// handshakes, and the strikes and bans.
func TestRequestLimitConfig(t *testing.T) {
	id, err := security.GenerateIdentity()
	require.NoError(t, err)
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer conn.Close()

	type limits struct {
		pRate, dRate, hRate    float64
		pBurst, dBurst, hBurst int
		strikes                int
		window, ban, most      time.Duration
	}
	get := func(c Config) limits {
		return limits{c.PingRate, c.DatagramRate, c.HandshakeRate, c.PingBurst, c.DatagramBurst, c.HandshakeBurst,
			c.StrikeLimit, c.StrikeWindow, c.BanDuration, c.MaxBanDuration}
	}
	defaults := limits{DefaultPingRate, DefaultDatagramRate, DefaultHandshakeRate,
		DefaultPingBurst, DefaultDatagramBurst, DefaultHandshakeBurst,
		DefaultStrikeLimit, DefaultStrikeWindow, DefaultBanDuration, DefaultMaxBanDuration}
	cases := []struct {
		name string
		set  func(*Config)
		want limits // unless invalid
		bad  bool
	}{
		{name: "defaults", set: func(*Config) {}, want: defaults},
		{name: "explicit", set: func(c *Config) {
			c.PingRate, c.DatagramRate, c.HandshakeRate = 1, 2, 3
			c.PingBurst, c.DatagramBurst, c.HandshakeBurst = 4, 5, 6
			c.StrikeLimit, c.StrikeWindow, c.BanDuration, c.MaxBanDuration = 7, time.Second, time.Minute, time.Hour
		}, want: limits{1, 2, 3, 4, 5, 6, 7, time.Second, time.Minute, time.Hour}},
		{name: "no limits", set: func(c *Config) {
			c.PingRate, c.DatagramRate, c.HandshakeRate = NoLimit, NoLimit, NoLimit
			c.PingBurst, c.DatagramBurst, c.HandshakeBurst, c.StrikeLimit = NoLimit, NoLimit, NoLimit, NoLimit
		}, want: limits{NoLimit, NoLimit, NoLimit, NoLimit, NoLimit, NoLimit, NoLimit,
			DefaultStrikeWindow, DefaultBanDuration, DefaultMaxBanDuration}},
		{name: "a long ban raises the cap's default", set: func(c *Config) { c.BanDuration = 2 * time.Hour },
			want: func() limits { l := defaults; l.ban, l.most = 2*time.Hour, 2*time.Hour; return l }()},
		{name: "negative ping rate", set: func(c *Config) { c.PingRate = -2 }, bad: true},
		{name: "NaN datagram rate", set: func(c *Config) { c.DatagramRate = math.NaN() }, bad: true},
		{name: "infinite handshake rate", set: func(c *Config) { c.HandshakeRate = math.Inf(1) }, bad: true},
		{name: "negative handshake burst", set: func(c *Config) { c.HandshakeBurst = -5 }, bad: true},
		{name: "negative strike limit", set: func(c *Config) { c.StrikeLimit = -3 }, bad: true},
		{name: "negative strike window", set: func(c *Config) { c.StrikeWindow = -time.Second }, bad: true},
		{name: "negative ban", set: func(c *Config) { c.BanDuration = -time.Second }, bad: true},
		{name: "cap below the ban", set: func(c *Config) { c.BanDuration, c.MaxBanDuration = time.Hour, time.Minute }, bad: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Identity: id, Realm: testRealm, Conn: conn}
			tc.set(&cfg)
			got, err := cfg.withDefaults()
			if tc.bad {
				require.ErrorIs(t, err, ErrInvalidConfig)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, get(got))
		})
	}
}

func TestBucket(t *testing.T) {
	ms := int64(time.Millisecond)
	take := func(b *bucket, now int64) int {
		n := 0
		for b.allow(now) {
			n++
			require.Less(t, n, 1<<20, "bucket never empties")
		}
		return n
	}

	b := newBucket(10, 3) // a token per 100 ms
	require.Equal(t, 3, take(b, 0), "the burst")
	require.Equal(t, 0, take(b, 50*ms))
	require.Equal(t, 1, take(b, 100*ms))
	require.Equal(t, 0, take(b, 199*ms))
	require.Equal(t, 3, take(b, 10_000*ms), "refill stops at the burst")

	one := newBucket(1, 1)
	require.Equal(t, 1, take(one, 0))
	require.Equal(t, 0, take(one, 999*ms))
	require.Equal(t, 1, take(one, 1000*ms))

	// Extreme values neither overflow nor stop the bucket.
	fast := newBucket(1e15, 1)
	require.Equal(t, 1, take(fast, 0))
	require.Equal(t, 1, take(fast, 1))
	slow := newBucket(1e-12, math.MaxInt32)
	require.True(t, slow.allow(0))
	require.True(t, slow.allow(math.MaxInt64/4))

	// NoLimit in either field turns the bucket off.
	require.Nil(t, newBucket(NoLimit, 5))
	require.Nil(t, newBucket(5, NoLimit))
	var off *bucket
	require.True(t, off.allow(0))
}

func TestLimitReportsThrottled(t *testing.T) {
	var r reporter
	s := int64(time.Second)
	require.Equal(t, uint64(1), r.note(0), "the first refusal is reported at once")
	require.Zero(t, r.note(s/2))
	require.Zero(t, r.note(s-1))
	require.Equal(t, uint64(3), r.note(s), "a second later, with those held back")
	require.Zero(t, r.note(s+s/2))
	require.Equal(t, uint64(2), r.note(5*s))
}

func TestRateLimitedErrors(t *testing.T) {
	refused := &quic.StreamError{ErrorCode: quic.StreamErrorCode(protocol.CodeRateLimited), Remote: true}
	err := streamErr(refused)
	require.ErrorIs(t, err, ErrRateLimited)
	require.ErrorIs(t, err, refused, "the QUIC error stays in the chain")
	code, ok := StreamCode(err)
	require.True(t, ok)
	require.Equal(t, protocol.CodeRateLimited, code)

	// Other codes, io.EOF and nil pass unchanged.
	other := &quic.StreamError{ErrorCode: quic.StreamErrorCode(protocol.CodeCancelled), Remote: true}
	require.Same(t, other, streamErr(other))
	require.Equal(t, io.EOF, streamErr(io.EOF))
	require.NoError(t, streamErr(nil))

	// The code and the sentinel map to each other.
	require.Equal(t, protocol.CodeRateLimited, codeOf(ErrRateLimited))
	require.True(t, errors.Is(sentinelFor(protocol.CodeRateLimited), ErrRateLimited))
}

func TestLimitString(t *testing.T) {
	require.Equal(t, "streams", LimitStreams.String())
	require.Equal(t, "stream_rate", LimitStreamRate.String())
	require.Equal(t, "frame_rate", LimitFrameRate.String())
	require.Equal(t, "ping_rate", LimitPingRate.String())
	require.Equal(t, "datagram_rate", LimitDatagramRate.String())
	require.Equal(t, "handshake_rate", LimitHandshakeRate.String())
	require.Equal(t, "limit_9", Limit(9).String())
}

// BenchmarkFrameBucket is the cost the frame limit adds to each ReadFrame:
// a monotonic clock read and one compare-and-swap.
func BenchmarkFrameBucket(b *testing.B) {
	l := &connLimits{base: time.Now(), frames: newBucket(1e12, math.MaxInt32)}
	for b.Loop() {
		l.frames.allow(l.now())
	}
}
