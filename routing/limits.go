package routing

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/org/macula/security"
)

// maxStoreBuckets bounds how many senders' token buckets a node keeps
// (about 100 bytes each, so at most a few MiB). Buckets that have refilled
// are dropped on every maintenance sweep (every TTL/10); a node reaching
// the bound between sweeps evicts the fullest of a few buckets, which is
// an idle sender's rather than a flooder's.
const maxStoreBuckets = 1 << 16

// evictSample is how many buckets are compared to choose one to evict.
const evictSample = 8

// storeLimiter is a token bucket per sending node: each STORE takes a
// token, a sender's bucket holds at most burst tokens and refills at rate
// tokens per second, and a STORE finding its sender's bucket empty is
// refused. A nil *storeLimiter allows everything. Safe for concurrent use.
//
// It is a few lines of arithmetic rather than golang.org/x/time/rate so
// that the package needs no new module; the semantics are those of
// rate.Limiter.AllowN(now, 1).
type storeLimiter struct {
	rate  float64 // tokens per second
	burst float64

	mu      sync.Mutex
	buckets map[security.NodeID]*tokenBucket
}

// tokenBucket is one sender's bucket: tokens as of last.
type tokenBucket struct {
	tokens float64
	last   time.Time
}

// newStoreLimiter returns a limiter of rate STOREs per second with bursts
// of burst, or nil (no limit) when rate is +Inf.
func newStoreLimiter(rate float64, burst int) *storeLimiter {
	if math.IsInf(rate, 1) {
		return nil
	}
	return &storeLimiter{rate: rate, burst: float64(burst), buckets: make(map[security.NodeID]*tokenBucket)}
}

// tokensAt returns b's tokens at now.
func (l *storeLimiter) tokensAt(b *tokenBucket, now time.Time) float64 {
	elapsed := now.Sub(b.last).Seconds()
	if elapsed <= 0 {
		return b.tokens
	}
	return min(l.burst, b.tokens+elapsed*l.rate)
}

// allow takes a token from id's bucket at now, or fails with an error
// wrapping ErrRateLimited if it holds less than one.
func (l *storeLimiter) allow(id security.NodeID, now time.Time) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[id]
	if !ok {
		if len(l.buckets) >= maxStoreBuckets {
			l.makeRoom(now)
		}
		b = &tokenBucket{tokens: l.burst, last: now}
		l.buckets[id] = b
	}
	tokens := l.tokensAt(b, now)
	if now.After(b.last) {
		b.last = now
	}
	if tokens < 1 {
		b.tokens = tokens
		return fmt.Errorf("%w: sender %s is over %g stores/s (burst %g)", ErrRateLimited, id.Short(), l.rate, l.burst)
	}
	b.tokens = tokens - 1
	return nil
}

// makeRoom drops the fullest of a few buckets, most likely an idle
// sender's (a full one behaves as a sender never seen), never the empty
// bucket of a flooder unless every sampled sender floods. Callers hold mu.
func (l *storeLimiter) makeRoom(now time.Time) {
	var (
		victim security.NodeID
		most   = -1.0
		n      = 0
	)
	for id, b := range l.buckets { // map order is random: a random sample
		if t := l.tokensAt(b, now); t > most {
			victim, most = id, t
		}
		if n++; n == evictSample {
			break
		}
	}
	delete(l.buckets, victim)
}

// sweep drops the buckets that are full at now: a full bucket behaves
// exactly as a sender never seen, so this forgets nothing. It returns how
// many it dropped.
func (l *storeLimiter) sweep(now time.Time) int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for id, b := range l.buckets {
		if l.tokensAt(b, now) >= l.burst {
			delete(l.buckets, id)
			n++
		}
	}
	return n
}

// len returns the number of buckets kept.
func (l *storeLimiter) len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
