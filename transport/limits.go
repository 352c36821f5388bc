package transport

import (
	"fmt"
	"math"
	"net"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
)

// Limit names one of the per-peer abuse limits of [Config].
type Limit uint8

const (
	// LimitStreams is [Config.MaxStreamsPerPeer]: a stream arrived while the
	// peer already had that many in handlers.
	LimitStreams Limit = iota + 1
	// LimitStreamRate is [Config.StreamRate] and [Config.StreamBurst]: the
	// peer opened streams faster than that.
	LimitStreamRate
	// LimitFrameRate is [Config.FrameRate] and [Config.FrameBurst]: the peer
	// sent frames faster than that.
	LimitFrameRate
	// LimitPingRate is [Config.PingRate] and [Config.PingBurst]: the peer
	// sent pings or heartbeats faster than that.
	LimitPingRate
	// LimitDatagramRate is [Config.DatagramRate] and
	// [Config.DatagramBurst]: the peer sent datagrams faster than that.
	LimitDatagramRate
	// LimitHandshakeRate is [Config.HandshakeRate] and
	// [Config.HandshakeBurst]: connections from one source address were
	// opened faster than that. Its events name no peer: the refusal comes
	// before any authentication.
	LimitHandshakeRate

	numLimits = iota + 1 // size of arrays indexed by Limit
)

// String returns "streams", "stream_rate", "frame_rate", "ping_rate",
// "datagram_rate" or "handshake_rate".
func (l Limit) String() string {
	switch l {
	case LimitStreams:
		return "streams"
	case LimitStreamRate:
		return "stream_rate"
	case LimitFrameRate:
		return "frame_rate"
	case LimitPingRate:
		return "ping_rate"
	case LimitDatagramRate:
		return "datagram_rate"
	case LimitHandshakeRate:
		return "handshake_rate"
	}
	return fmt.Sprintf("limit_%d", uint8(l))
}

// LimitEvent reports a peer refused for a limit; see [Config.OnLimitExceeded].
type LimitEvent struct {
	// Peer is the node that went over the limit; zero for
	// LimitHandshakeRate, which refuses before the peer is known.
	Peer security.NodeID
	// RemoteAddr is the address of its connection (for
	// LimitHandshakeRate, of the refused connection attempt).
	RemoteAddr net.Addr
	// Limit is the limit it went over.
	Limit Limit
	// Refused is how many streams (or frames, pings, datagrams,
	// handshakes) were refused for this limit on this connection (for
	// LimitHandshakeRate, from this source address) since the previous
	// event, this one included.
	Refused uint64
}

// LimitStats counts what the per-peer limits refused, over all peers, since
// the Transport started, and the bans they led to.
type LimitStats struct {
	// StreamsRefused counts streams refused because their peer already had
	// MaxStreamsPerPeer streams in handlers.
	StreamsRefused uint64
	// StreamRateRefused counts streams refused because their peer opened
	// streams faster than StreamRate allows.
	StreamRateRefused uint64
	// FramesRefused counts frames refused, each aborting its stream,
	// because their peer sent frames faster than FrameRate allows.
	FramesRefused uint64
	// PingsRefused counts pings left unanswered and heartbeats dropped
	// because their peer sent them faster than PingRate allows.
	PingsRefused uint64
	// DatagramsRefused counts datagrams dropped because their peer sent
	// them faster than DatagramRate allows.
	DatagramsRefused uint64
	// HandshakesRefused counts connection attempts refused because their
	// source address opened connections faster than HandshakeRate allows.
	// It counts the attempt's packets that would each have started a
	// connection: a refused dial whose ClientHello takes two Initial
	// packets (as one with a post-quantum key share does) counts twice.
	HandshakesRefused uint64
	// Bans counts the bans of peers that kept going over their limits
	// (see [Config.StrikeLimit]); a peer banned twice counts twice.
	Bans uint64
	// BannedRefused counts the connections refused because their peer was
	// banned: its handshakes, and this node's own dials to it.
	BannedRefused uint64
}

// LimitStats returns the counts of streams, frames, pings, datagrams and
// handshakes refused by the per-peer limits, and of bans.
func (t *Transport) LimitStats() LimitStats {
	return LimitStats{
		StreamsRefused:    t.limitRefused[LimitStreams].Load(),
		StreamRateRefused: t.limitRefused[LimitStreamRate].Load(),
		FramesRefused:     t.limitRefused[LimitFrameRate].Load(),
		PingsRefused:      t.limitRefused[LimitPingRate].Load(),
		DatagramsRefused:  t.limitRefused[LimitDatagramRate].Load(),
		HandshakesRefused: t.limitRefused[LimitHandshakeRate].Load(),
		Bans:              t.bansImposed.Load(),
		BannedRefused:     t.bannedRefused.Load(),
	}
}

// limitReportInterval is the least time between two reports (log line and
// OnLimitExceeded call) of one limit on one connection.
const limitReportInterval = time.Second

// connLimits is the limit state of one connection.
type connLimits struct {
	// base is the connection's origin of time for the frame bucket and
	// the reporters, which count nanoseconds from it (monotonic, and
	// virtual inside a synctest bubble).
	base      time.Time
	active    atomic.Int64  // the peer's streams from accept until their handler returns
	opens     *rate.Limiter // nil when off, as are the others
	pings     *rate.Limiter
	datagrams *rate.Limiter
	frames    *bucket
	reports   [numLimits]reporter
	// violations throttles the reports of protocol violations.
	violations [numViolations]reporter
}

func newConnLimits(cfg *Config) *connLimits {
	return &connLimits{
		base:      time.Now(),
		opens:     newLimiter(cfg.StreamRate, cfg.StreamBurst),
		pings:     newLimiter(cfg.PingRate, cfg.PingBurst),
		datagrams: newLimiter(cfg.DatagramRate, cfg.DatagramBurst),
		frames:    newBucket(cfg.FrameRate, cfg.FrameBurst),
	}
}

func (l *connLimits) now() int64 { return int64(time.Since(l.base)) }

// newLimiter returns a token bucket of r events per second with bursts of
// burst, or nil (no limit) when either is NoLimit.
func newLimiter(r float64, burst int) *rate.Limiter {
	if r == NoLimit || burst == NoLimit {
		return nil
	}
	return rate.NewLimiter(rate.Limit(r), burst)
}

// allow takes a token from l at now; a nil l allows everything.
func allow(l *rate.Limiter, now time.Time) bool { return l == nil || l.AllowN(now, 1) }

// admitStream decides whether the peer may have one more stream. When it
// may, the stream counts as active until streamDone.
func (pc *peerConn) admitStream() (Limit, bool) {
	l := pc.limits
	if !allow(l.opens, time.Now()) {
		return LimitStreamRate, false
	}
	n := l.active.Add(1)
	if most := pc.t.cfg.MaxStreamsPerPeer; most != NoLimit && n > int64(most) {
		l.active.Add(-1)
		return LimitStreams, false
	}
	return 0, true
}

// allowPing takes a token from the connection's ping bucket.
func (pc *peerConn) allowPing() bool { return allow(pc.limits.pings, time.Now()) }

// allowDatagram takes a token from the connection's datagram bucket.
func (pc *peerConn) allowDatagram() bool { return allow(pc.limits.datagrams, time.Now()) }

// streamDone ends the count of a stream admitted by admitStream.
func (pc *peerConn) streamDone() { pc.limits.active.Add(-1) }

// refuseStream aborts a stream the peer opened over limit.
func (pc *peerConn) refuseStream(s *quic.Stream, limit Limit) {
	s.CancelRead(quic.StreamErrorCode(protocol.CodeRateLimited))
	s.CancelWrite(quic.StreamErrorCode(protocol.CodeRateLimited))
	pc.limitExceeded(limit)
}

// allowFrame takes a token from the connection's frame bucket.
func (pc *peerConn) allowFrame() bool {
	l := pc.limits
	return l.frames.allow(l.now())
}

// limitExceeded counts one refusal, strikes the peer once (which may ban
// it: see Config.StrikeLimit) and, at most once per limitReportInterval
// per limit on this connection, logs the refusals and calls
// OnLimitExceeded.
func (pc *peerConn) limitExceeded(limit Limit) {
	t := pc.t
	t.limitRefused[limit].Add(1)
	defer t.strike(pc.id, 1)
	n := pc.limits.reports[limit].note(pc.limits.now())
	if n == 0 {
		return
	}
	remote := pc.conn.RemoteAddr()
	t.log.Warn("peer over a limit, refusing its excess", zap.Stringer("peer", pc.id),
		zap.Stringer("addr", addrStringer{remote}), zap.Stringer("limit", limit), zap.Uint64("refused", n))
	if t.cfg.OnLimitExceeded != nil {
		t.cfg.OnLimitExceeded(LimitEvent{Peer: pc.id, RemoteAddr: remote, Limit: limit, Refused: n})
	}
}

// reporter throttles the reports of one limit on one connection.
type reporter struct {
	next    atomic.Int64  // time (see connLimits.base) before which no report goes out
	pending atomic.Uint64 // refusals not reported yet
}

// note counts one refusal at now and returns how many refusals to report
// now, or 0 while the last report is less than limitReportInterval old.
func (r *reporter) note(now int64) uint64 {
	r.pending.Add(1)
	next := r.next.Load()
	if now < next || !r.next.CompareAndSwap(next, now+int64(limitReportInterval)) {
		return 0
	}
	return r.pending.Swap(0)
}

// bucket is a token bucket in its GCRA form (the generic cell rate
// algorithm), used for the frame limit only; every other limit uses
// golang.org/x/time/rate. Instead of a token count refilled on every call,
// it keeps the theoretical arrival time of the next event, and admits an
// event while that time is at most burst-1 intervals ahead of now: one
// atomic compare-and-swap and a monotonic clock read per event, no lock.
// The frame check runs for every frame read, the busiest path of the
// node, and there the difference was measured: in the 128-byte pub/sub
// throughput benchmark (BenchmarkPubSubThroughput/128B, both nodes in one
// process) rate.Limiter's Allow took 4.3 % of all CPU samples and this
// bucket 1.1 % (x/time/rate v0.16.0: ~115 ns against ~36 ns per call on
// an idle core, a mutex, float arithmetic and a wall-clock read). Times
// are nanoseconds from the owner's origin, passed in so tests drive the
// clock.
type bucket struct {
	interval  int64 // ns per token
	tolerance int64 // how far ahead of now tat may run: (burst-1) intervals
	tat       atomic.Int64
}

// maxBucketSpan bounds interval and tolerance so that now+tolerance+interval
// cannot overflow for centuries of uptime.
const maxBucketSpan = 1 << 60

// newBucket returns a bucket admitting rate events per second with bursts
// of up to burst, or nil (admit everything) when either is NoLimit.
func newBucket(rate float64, burst int) *bucket {
	if rate == NoLimit || burst == NoLimit {
		return nil
	}
	interval := math.Max(1, math.Min(float64(time.Second)/rate, maxBucketSpan))
	tolerance := math.Min(interval*float64(burst-1), maxBucketSpan)
	return &bucket{interval: int64(interval), tolerance: int64(tolerance)}
}

// allow takes a token at now, reporting false (and taking nothing) when
// the bucket is empty. A nil bucket admits everything.
func (b *bucket) allow(now int64) bool {
	if b == nil {
		return true
	}
	for {
		tat := b.tat.Load()
		next := max(tat, now)
		if next-now > b.tolerance {
			return false
		}
		if b.tat.CompareAndSwap(tat, next+b.interval) {
			return true
		}
	}
}
