package rpc

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/org/macula/security"
)

// Policy chooses the provider of a call among those of its procedure. It
// also orders the rest, which a call tries next when one fails before
// accepting. Providers that failed recently ([Config].FailureBackoff) are
// tried after all others, whatever the policy.
type Policy uint8

// Policies.
const (
	// LocalFirst runs the call on this node when it provides the
	// procedure, in process; otherwise it goes round-robin among the
	// others. It is the zero value and the default.
	LocalFirst Policy = iota
	// RoundRobin takes the providers in turn, this node included, in the
	// order of their node IDs; each procedure keeps its own turn.
	RoundRobin
	// Random takes a provider at random.
	Random
	// LeastLatency takes the better of two providers chosen at random
	// (power of two choices), scoring each by round-trip time times one
	// plus the calls this node has in flight to it.
	LeastLatency
)

// String returns the policy's name, e.g. "round-robin".
func (p Policy) String() string {
	switch p {
	case LocalFirst:
		return "local-first"
	case RoundRobin:
		return "round-robin"
	case Random:
		return "random"
	case LeastLatency:
		return "least-latency"
	}
	return "policy(" + strconv.Itoa(int(p)) + ")"
}

func (p Policy) valid() bool { return p <= LeastLatency }

// Scoring of LeastLatency.
const (
	// latencyBase is added to every RTT so that in-flight calls count for
	// a node with no measurable RTT (this one) too.
	latencyBase = 200 * time.Microsecond
	// unknownRTT is assumed for a node whose RTT is not known: one not yet
	// connected costs a handshake before anything else.
	unknownRTT = 100 * time.Millisecond
	// maxTurns bounds the per-procedure round-robin turns kept, and the
	// failed providers remembered.
	maxTurns = 4096
)

// candidate is one provider a call may try.
type candidate struct {
	id    security.NodeID
	addrs []string
	local bool
}

// balancer keeps what the policies need: round-robin turns per procedure,
// calls in flight per provider, and providers that failed recently.
type balancer struct {
	backoff time.Duration

	mu       sync.Mutex
	turns    map[string]uint64
	inflight map[security.NodeID]int
	failed   map[security.NodeID]time.Time // until when
}

func newBalancer(backoff time.Duration) *balancer {
	return &balancer{
		backoff:  backoff,
		turns:    make(map[string]uint64),
		inflight: make(map[security.NodeID]int),
		failed:   make(map[security.NodeID]time.Time),
	}
}

// order returns cands in the order a call of procedure should try them
// under policy p: the providers that failed within the backoff come last,
// in their given order, and the policy orders the others. cands are
// sorted by node ID; order may reorder them in place. rtt reports the
// round-trip time to a remote node.
func (b *balancer) order(procedure string, p Policy, cands []candidate, rtt func(security.NodeID) (time.Duration, bool)) []candidate {
	cands, failed := b.splitFailed(cands)
	switch p {
	case LocalFirst:
		i := slices.IndexFunc(cands, func(c candidate) bool { return c.local })
		if i >= 0 {
			local := cands[i]
			rest := slices.Delete(cands, i, i+1)
			b.rotate(procedure, rest)
			cands = append([]candidate{local}, rest...)
		} else {
			b.rotate(procedure, cands)
		}
	case RoundRobin:
		b.rotate(procedure, cands)
	case Random:
		rand.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	case LeastLatency:
		cands = b.twoChoices(cands, rtt)
	}
	return append(cands, failed...)
}

// rotate turns cands left by procedure's next turn.
func (b *balancer) rotate(procedure string, cands []candidate) {
	if len(cands) < 2 {
		return
	}
	b.mu.Lock()
	if _, ok := b.turns[procedure]; !ok && len(b.turns) >= maxTurns {
		clear(b.turns)
	}
	turn := b.turns[procedure]
	b.turns[procedure] = turn + 1
	b.mu.Unlock()
	k := int(turn % uint64(len(cands)))
	slices.Reverse(cands[:k])
	slices.Reverse(cands[k:])
	slices.Reverse(cands)
}

// twoChoices orders cands by repeated power of two choices: of two random
// candidates left, the one with the lower cost comes next.
func (b *balancer) twoChoices(cands []candidate, rtt func(security.NodeID) (time.Duration, bool)) []candidate {
	cost := make([]float64, len(cands))
	b.mu.Lock()
	for i, c := range cands {
		d := time.Duration(0)
		if !c.local {
			var ok bool
			if d, ok = rtt(c.id); !ok {
				d = unknownRTT
			}
		}
		cost[i] = float64(d+latencyBase) * float64(b.inflight[c.id]+1)
	}
	b.mu.Unlock()
	out := make([]candidate, 0, len(cands))
	for len(cands) > 1 {
		i := rand.IntN(len(cands))
		j := rand.IntN(len(cands) - 1)
		if j >= i {
			j++
		}
		if cost[j] < cost[i] {
			i = j
		}
		out = append(out, cands[i])
		cands = slices.Delete(cands, i, i+1)
		cost = slices.Delete(cost, i, i+1)
	}
	return append(out, cands...)
}

// splitFailed separates the candidates that failed within the backoff
// from the others, keeping the order within each group.
func (b *balancer) splitFailed(cands []candidate) (ok, failed []candidate) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.failed) == 0 {
		return cands, nil
	}
	now := time.Now()
	ok = cands[:0:0]
	for _, c := range cands {
		until, f := b.failed[c.id]
		if f && now.After(until) {
			delete(b.failed, c.id)
			f = false
		}
		if f {
			failed = append(failed, c)
		} else {
			ok = append(ok, c)
		}
	}
	return ok, failed
}

// begin counts a call in flight to id; end undoes it.
func (b *balancer) begin(id security.NodeID) {
	b.mu.Lock()
	b.inflight[id]++
	b.mu.Unlock()
}

func (b *balancer) end(id security.NodeID) {
	b.mu.Lock()
	if b.inflight[id] <= 1 {
		delete(b.inflight, id)
	} else {
		b.inflight[id]--
	}
	b.mu.Unlock()
}

// fail marks id as failed for the backoff; succeed clears the mark.
func (b *balancer) fail(id security.NodeID) {
	b.mu.Lock()
	if _, ok := b.failed[id]; !ok && len(b.failed) >= maxTurns {
		clear(b.failed)
	}
	b.failed[id] = time.Now().Add(b.backoff)
	b.mu.Unlock()
}

func (b *balancer) succeed(id security.NodeID) {
	b.mu.Lock()
	if len(b.failed) > 0 {
		delete(b.failed, id)
	}
	b.mu.Unlock()
}
