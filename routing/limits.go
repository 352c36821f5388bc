package routing

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/org/macula/security"
)

// Request names a kind of request a peer sends to this node's DHT that
// is held to a per-sender rate.
type Request uint8

const (
	// RequestStore is a STORE ([Config].StoreRate).
	RequestStore Request = iota + 1
	// RequestQuery is a FIND_NODE or FIND_VALUE ([Config].QueryRate).
	RequestQuery
	// RequestWatch is a WATCH ([Config].WatchRate).
	RequestWatch
)

// String returns "store", "query" or "watch".
func (r Request) String() string {
	switch r {
	case RequestStore:
		return "store"
	case RequestQuery:
		return "query"
	case RequestWatch:
		return "watch"
	}
	return fmt.Sprintf("request_%d", uint8(r))
}

// plural is the request's name in "n per second" messages.
func (r Request) plural() string {
	switch r {
	case RequestQuery:
		return "queries"
	case RequestWatch:
		return "watches"
	}
	return r.String() + "s"
}

// LimitEvent reports a peer refused for one of the DHT's per-sender
// rates; see [Config].OnLimitExceeded.
type LimitEvent struct {
	// Peer is the sender that went over the rate.
	Peer security.NodeID
	// Request is the kind of request refused.
	Request Request
	// Refused is how many of the peer's requests of this kind were
	// refused since the previous event for the peer and kind, this one
	// included.
	Refused uint64
}

// limitReportInterval is the least time between two reports of one
// sender and kind of request, unless limitReportBatch refusals are
// pending: a flood is then reported every limitReportBatch refusals, so
// that a node counting the refusals toward a ban bans a flooder at once.
const (
	limitReportInterval = time.Second
	limitReportBatch    = 64
)

// maxSenderBuckets bounds how many senders' token buckets a node keeps
// per kind of request (about 150 bytes each, so at most a few MiB).
// Buckets that have refilled are dropped on every maintenance sweep
// (every TTL/10); a node reaching the bound between sweeps evicts the
// fullest of a few buckets, which is an idle sender's rather than a
// flooder's.
const maxSenderBuckets = 1 << 16

// evictSample is how many buckets are compared to choose one to evict.
const evictSample = 8

// senderLimiter is a token bucket per sending node for one kind of
// request (golang.org/x/time/rate): each request takes a token, a
// sender's bucket holds at most burst tokens and refills at rate tokens
// per second, and a request finding its sender's bucket empty is refused.
// A nil *senderLimiter allows everything. Safe for concurrent use.
type senderLimiter struct {
	kind    Request
	rate    rate.Limit
	burst   int
	refused atomic.Uint64

	mu      sync.Mutex
	buckets map[security.NodeID]*senderBucket
}

// senderBucket is one sender's bucket and report throttle.
type senderBucket struct {
	lim        *rate.Limiter
	pending    uint64    // refusals not reported yet
	nextReport time.Time // no report before this time
}

// newSenderLimiter returns a limiter of r requests of kind per second
// with bursts of burst, or nil (no limit) when r is +Inf.
func newSenderLimiter(kind Request, r float64, burst int) *senderLimiter {
	if math.IsInf(r, 1) {
		return nil
	}
	return &senderLimiter{kind: kind, rate: rate.Limit(r), burst: burst, buckets: make(map[security.NodeID]*senderBucket)}
}

// allow takes a token from id's bucket at now, or fails with an error
// wrapping ErrRateLimited if there is none. A refusal also returns how
// many refusals of id to report now: 0 while the last report is less than
// limitReportInterval old and fewer than limitReportBatch are pending.
func (l *senderLimiter) allow(id security.NodeID, now time.Time) (report uint64, err error) {
	if l == nil {
		return 0, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[id]
	if !ok {
		if len(l.buckets) >= maxSenderBuckets {
			l.makeRoom(now)
		}
		b = &senderBucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[id] = b
	}
	if b.lim.AllowN(now, 1) {
		return 0, nil
	}
	l.refused.Add(1)
	b.pending++
	if !now.Before(b.nextReport) || b.pending >= limitReportBatch {
		report, b.pending, b.nextReport = b.pending, 0, now.Add(limitReportInterval)
	}
	return report, fmt.Errorf("%w: sender %s is over %g %s/s (burst %d)", ErrRateLimited, id.Short(), float64(l.rate), l.kind.plural(), l.burst)
}

// full reports whether b holds its whole burst at now: it then behaves
// exactly as the bucket of a sender never seen.
func (l *senderLimiter) full(b *senderBucket, now time.Time) bool {
	return b.lim.TokensAt(now) >= float64(l.burst)
}

// makeRoom drops the fullest of a few buckets, most likely an idle
// sender's, never the empty bucket of a flooder unless every sampled
// sender floods. Callers hold mu.
func (l *senderLimiter) makeRoom(now time.Time) {
	var (
		victim security.NodeID
		most   = -1.0
		n      = 0
	)
	for id, b := range l.buckets { // map order is random: a random sample
		if t := b.lim.TokensAt(now); t > most {
			victim, most = id, t
		}
		if n++; n == evictSample {
			break
		}
	}
	delete(l.buckets, victim)
}

// sweep drops the buckets that are full at now, which forgets nothing,
// and returns how many it dropped.
func (l *senderLimiter) sweep(now time.Time) int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for id, b := range l.buckets {
		if l.full(b, now) {
			delete(l.buckets, id)
			n++
		}
	}
	return n
}

// len returns the number of buckets kept.
func (l *senderLimiter) len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// refusals returns how many requests the limiter refused.
func (l *senderLimiter) refusals() uint64 {
	if l == nil {
		return 0
	}
	return l.refused.Load()
}

// senderLimits are the DHT's per-sender rates, one limiter per kind of
// request; a nil limiter is a limit turned off.
type senderLimits struct {
	store, query, watch *senderLimiter
}

func newSenderLimits(cfg *Config) senderLimits {
	return senderLimits{
		store: newSenderLimiter(RequestStore, cfg.StoreRate, cfg.StoreBurst),
		query: newSenderLimiter(RequestQuery, cfg.QueryRate, cfg.QueryBurst),
		watch: newSenderLimiter(RequestWatch, cfg.WatchRate, cfg.WatchBurst),
	}
}

// sweep sweeps every limiter.
func (s senderLimits) sweep(now time.Time) {
	s.store.sweep(now)
	s.query.sweep(now)
	s.watch.sweep(now)
}

// admit takes a token for a request from the sender from out of l, or
// refuses it with an error wrapping ErrRateLimited and reports the
// refusals ([Config].OnLimitExceeded, throttled per sender and kind).
func (d *DHT) admit(l *senderLimiter, from security.NodeID) error {
	if l == nil {
		return nil
	}
	report, err := l.allow(from, time.Now())
	if err != nil && report > 0 {
		d.log.Debug("sender over its DHT rate", zap.String("from", from.Short()),
			zap.Stringer("request", l.kind), zap.Uint64("refused", report))
		d.cfg.OnLimitExceeded(LimitEvent{Peer: from, Request: l.kind, Refused: report})
	}
	return err
}

// admitQuery takes a token for a FIND_NODE or FIND_VALUE from the sender
// from ([Config].QueryRate); [Serve] calls it before answering.
func (d *DHT) admitQuery(from security.NodeID) error { return d.admit(d.limits.query, from) }
