package rpc

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/security"
)

func cands(n int, local int) []candidate {
	out := make([]candidate, n)
	for i := range out {
		out[i] = candidate{id: security.NodeID{byte(i + 1)}, local: i == local}
	}
	return out
}

func firstOf(b *balancer, p Policy, n, local int, rtt func(security.NodeID) (time.Duration, bool)) security.NodeID {
	return b.order("svc.x", p, cands(n, local), rtt)[0].id
}

func noRTT(security.NodeID) (time.Duration, bool) { return 0, false }

func TestPolicyNames(t *testing.T) {
	require.Equal(t, "local-first", LocalFirst.String())
	require.Equal(t, "round-robin", RoundRobin.String())
	require.Equal(t, "random", Random.String())
	require.Equal(t, "least-latency", LeastLatency.String())
	require.Equal(t, "policy(9)", Policy(9).String())
}

func TestRoundRobinTurns(t *testing.T) {
	b := newBalancer(time.Second)
	count := map[security.NodeID]int{}
	for range 300 {
		order := b.order("svc.x", RoundRobin, cands(3, -1), noRTT)
		require.Len(t, order, 3)
		count[order[0].id]++
		// The rest follow in ring order.
		require.Equal(t, (order[0].id[0])%3+1, order[1].id[0])
	}
	require.Equal(t, map[security.NodeID]int{{1}: 100, {2}: 100, {3}: 100}, count)
	// Each procedure has its own turn.
	require.Equal(t, security.NodeID{1}, b.order("svc.y", RoundRobin, cands(3, -1), noRTT)[0].id)
}

func TestLocalFirstOrder(t *testing.T) {
	b := newBalancer(time.Second)
	for range 5 {
		order := b.order("svc.x", LocalFirst, cands(4, 2), noRTT)
		require.True(t, order[0].local)
		require.Len(t, order, 4)
	}
	count := map[security.NodeID]int{}
	for range 30 {
		count[firstOf(b, LocalFirst, 3, -1, noRTT)]++
	}
	require.Equal(t, map[security.NodeID]int{{1}: 10, {2}: 10, {3}: 10}, count, "no local handler: round-robin")
}

func TestRandomOrder(t *testing.T) {
	b := newBalancer(time.Second)
	count := map[security.NodeID]int{}
	for range 3000 {
		order := b.order("svc.x", Random, cands(3, -1), noRTT)
		require.Len(t, order, 3)
		count[order[0].id]++
	}
	for id, n := range count {
		require.InDelta(t, 1000, n, 150, "%v", id)
	}
}

func TestLeastLatencyOrder(t *testing.T) {
	b := newBalancer(time.Second)
	rtts := map[security.NodeID]time.Duration{{1}: time.Millisecond, {2}: 10 * time.Millisecond, {3}: 50 * time.Millisecond}
	rtt := func(id security.NodeID) (time.Duration, bool) { d, ok := rtts[id]; return d, ok }
	count := map[security.NodeID]int{}
	for range 3000 {
		count[firstOf(b, LeastLatency, 3, -1, rtt)]++
	}
	require.Zero(t, count[security.NodeID{3}], "the worst never wins a pair")
	require.InDelta(t, 2000, count[security.NodeID{1}], 150, "the best wins the two pairs it is in")
	require.InDelta(t, 1000, count[security.NodeID{2}], 150)

	// In-flight calls weigh: with 60 in flight, 1 ms costs more than 50 ms.
	for range 60 {
		b.begin(security.NodeID{1})
	}
	clear(count)
	for range 300 {
		count[firstOf(b, LeastLatency, 3, -1, rtt)]++
	}
	require.Zero(t, count[security.NodeID{1}])
	for range 60 {
		b.end(security.NodeID{1})
	}
	require.Empty(t, b.inflight)

	// Unknown RTTs count as slow; this node as fast.
	clear(count)
	for range 300 {
		count[firstOf(b, LeastLatency, 3, 1, noRTT)]++
	}
	// This node (second) wins the two pairs it is in, about 200 of 300.
	require.InDelta(t, 200, count[security.NodeID{2}], 40)
}

func TestFailedProvidersGoLast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBalancer(10 * time.Second)
		b.fail(security.NodeID{1})
		for _, p := range []Policy{LocalFirst, RoundRobin, Random, LeastLatency} {
			for range 20 {
				order := b.order("svc.x", p, cands(3, -1), noRTT)
				require.Len(t, order, 3)
				require.Equal(t, security.NodeID{1}, order[2].id, "%v", p)
			}
		}
		// Round-robin spreads over the others evenly meanwhile.
		count := map[security.NodeID]int{}
		for range 100 {
			count[firstOf(b, RoundRobin, 3, -1, noRTT)]++
		}
		require.Equal(t, map[security.NodeID]int{{2}: 50, {3}: 50}, count)

		time.Sleep(10*time.Second + time.Nanosecond)
		count = map[security.NodeID]int{}
		for range 30 {
			count[firstOf(b, RoundRobin, 3, -1, noRTT)]++
		}
		require.Len(t, count, 3, "the backoff ended")

		b.fail(security.NodeID{2})
		b.succeed(security.NodeID{2})
		require.Empty(t, b.failed)
	})
}
