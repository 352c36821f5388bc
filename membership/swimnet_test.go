package membership_test

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/org/macula/internal/faultnet"
	"github.com/org/macula/membership"
	"github.com/org/macula/security"
	"github.com/org/macula/transport"
)

// This file is a lighter mesh than meshtest for the SWIM tests at scale:
// each node is a transport.Transport (real quic-go and TLS, on a simnet
// endpoint of internal/faultnet, the network under meshtest too) with a
// Membership on it, wired as macula.Node wires them,
// but without the DHT, overlay, pub/sub and discovery a full node runs.
// Those add their own traffic and about 8 MB per node; membership alone is
// what these tests measure, and it lets one process hold thousands of
// members.

const (
	swimRealm   = "org.example.swim"
	swimLatency = 5 * time.Millisecond // one way, as in meshtest
)

// ethernet is a link's largest UDP payload on Ethernet: 1500 bytes less
// the IPv6 and UDP headers. simnet's default, 1400, silently drops
// memberlist's fullest gossip packets: memberlist overshoots its
// UDPBufferSize by up to 4 bytes (the length of the compound message's
// entries is not all counted), so sealed they reach 1404 bytes. At 200
// members that was 13 % of all gossip, and a few members never learned of
// some others.
const ethernet = 1500 - 40 - 8

// swimKey is every node's gossip key, derived from the realm as a dev-mode
// macula.Node derives its own: nodes of one realm open each other's
// packets from the first one.
var swimKey = func() []byte { k := sha256.Sum256([]byte("macula/1/gossip-key/" + swimRealm)); return k[:] }()

// swimSize is the node count of the large SWIM tests: 200, the issue's
// size, or 50 under the race detector, which makes 200 members too slow
// for `make test` on two cores. MACULA_MEMBERSHIP_NODES overrides both
// (make sim-scale sets it for the convergence run).
func swimSize(t testing.TB) int {
	if v := os.Getenv("MACULA_MEMBERSHIP_NODES"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "MACULA_MEMBERSHIP_NODES")
		require.GreaterOrEqual(t, n, 10, "MACULA_MEMBERSHIP_NODES")
		return n
	}
	if raceEnabled {
		return 50
	}
	return 200
}

// swimNode is one member: its transport and membership.
type swimNode struct {
	index int
	id    security.NodeID
	addr  *net.UDPAddr
	tr    *transport.Transport
	m     *membership.Membership
}

// swimMesh is a set of swimNodes on one faultnet.Net. Packets to or from
// a crashed node vanish, as do a random share of all packets while a loss
// rate is set. It must be created in a synctest bubble; it is closed by
// t.Cleanup.
type swimMesh struct {
	t     testing.TB
	net   *faultnet.Net
	nodes []*swimNode // nil once killed
	rng   *rand.Rand
	trace *traceLog // nil: members log nothing
}

// newSwimMesh starts n members with cfg, none joined yet. If trace is
// not nil, the members log to it.
func newSwimMesh(t testing.TB, n int, cfg membership.Config, trace *traceLog) *swimMesh {
	t.Helper()
	sm := &swimMesh{
		t:     t,
		net:   faultnet.New(faultnet.Config{Seed: uint64(n), Latency: swimLatency, MTU: ethernet}),
		rng:   rand.New(rand.NewPCG(uint64(n), 7)),
		trace: trace,
	}
	t.Cleanup(sm.close)
	cfg.GossipKey = swimKey
	for i := range n {
		sm.nodes = append(sm.nodes, sm.start(i, cfg))
	}
	return sm
}

// start brings up member i on its own address: endpoint, transport,
// then membership, connected the way macula.Node connects them.
func (sm *swimMesh) start(i int, cfg membership.Config) *swimNode {
	t := sm.t
	t.Helper()
	id, err := security.GenerateIdentity()
	require.NoError(t, err)
	h := i + 1 // 10.0.0.0 would be a network's own address
	addr := &net.UDPAddr{IP: net.IPv4(10, byte(h>>16), byte(h>>8), byte(h)).To4(), Port: 4433}
	conn := sm.net.Sim(addr)
	// The transport's callbacks reach the membership, which is built
	// before the transport starts: no callback can run before it exists.
	var m *membership.Membership
	tr, err := transport.New(transport.Config{
		Identity: id, Realm: swimRealm, Conn: conn,
		// A connected peer this node has not heard of gets a state
		// exchange, and a peer's shutdown notice marks it leaving.
		OnPeerChange: func(ev transport.PeerEvent) {
			if ev.Connected {
				m.PeerConnected(ev.Peer)
			}
		},
		OnPeerLeaving: func(id security.NodeID) { m.PeerLeaving(id) },
	})
	if err != nil {
		_ = conn.Close()
		require.NoError(t, err)
	}
	var log *zap.Logger
	if sm.trace != nil {
		log = sm.trace.logger(i)
	}
	m, err = membership.New(tr, membership.Meta{Addrs: []string{addr.String()}, Version: transport.Software}, cfg, log)
	if err == nil {
		err = tr.Start()
		if err != nil {
			_ = m.Close()
		}
	}
	if err != nil {
		_ = tr.Close()
		require.NoError(t, err)
	}
	return &swimNode{index: i, id: id.ID(), addr: addr, tr: tr, m: m}
}

func (nd *swimNode) stop() {
	_ = nd.m.Close()
	_ = nd.tr.Close() // closes the endpoint and its link
}

// join has member i exchange state with member j.
func (sm *swimMesh) join(i, j int) error {
	return sm.nodes[i].m.Join(sm.nodes[j].id, sm.nodes[j].addr.String())
}

// joinAll joins members 1..n-1 in waves of `wave` at once, each to a
// random member of the earlier waves, as nodes bootstrapping from any
// known member would. Waves keep the dials to one member within quic-go's
// accept queue (see swimWave) and memberlist's limit of 128 concurrent
// state exchanges, and each joiner exchanges state only with a member
// already in the mesh.
func (sm *swimMesh) joinAll(wave int) {
	t := sm.t
	t.Helper()
	for lo := 1; lo < len(sm.nodes); lo += wave {
		hi := min(lo+wave, len(sm.nodes))
		errs := make([]error, hi-lo)
		var wg sync.WaitGroup
		for i := lo; i < hi; i++ {
			j := sm.rng.IntN(lo)
			wg.Go(func() { errs[i-lo] = sm.join(i, j) })
		}
		wg.Wait()
		for k, err := range errs {
			require.NoError(t, err, "member %d joining", lo+k)
		}
	}
}

// live returns the running members.
func (sm *swimMesh) live() []*swimNode {
	out := make([]*swimNode, 0, len(sm.nodes))
	for _, nd := range sm.nodes {
		if nd != nil {
			out = append(out, nd)
		}
	}
	return out
}

// converged reports whether every running member counts exactly the
// running members alive, and if not, what some of the lagging views lack.
func (sm *swimMesh) converged() (bool, string) {
	live := sm.live()
	behind, least := 0, len(live)
	for _, nd := range live {
		if a := nd.m.NumAlive(); a != len(live) {
			behind++
			least = min(least, a)
		}
	}
	if behind == 0 {
		return true, ""
	}
	why := fmt.Sprintf("%d of %d members do not see %d alive (fewest: %d)", behind, len(live), len(live), least)
	shown := 0
	for _, nd := range live {
		if nd.m.NumAlive() == len(live) {
			continue
		}
		for _, other := range live {
			mem, ok := nd.m.Member(other.id)
			if !ok || mem.State != membership.StateAlive {
				why += fmt.Sprintf("; member %d sees member %d: known %v, %v", nd.index, other.index, ok, mem.State)
				if shown++; shown == 5 {
					return false, why
				}
			}
		}
	}
	return false, why
}

// allSee reports whether every running member sees each of ids in state st.
func (sm *swimMesh) allSee(ids []security.NodeID, st membership.State) bool {
	for _, nd := range sm.live() {
		for _, id := range ids {
			if mem, ok := nd.m.Member(id); !ok || mem.State != st {
				return false
			}
		}
	}
	return true
}

// kill crashes members at one instant: their packets stop first, so no
// member hears a goodbye, then they are closed without leaving.
func (sm *swimMesh) kill(idx ...int) []security.NodeID {
	var ids []security.NodeID
	var wg sync.WaitGroup
	for _, i := range idx {
		nd := sm.nodes[i]
		sm.net.SetDead(nd.addr, true)
		ids = append(ids, nd.id)
		sm.nodes[i] = nil
		wg.Go(nd.stop)
	}
	wg.Wait()
	return ids
}

// waitFor polls cond every step of virtual time until it holds or timeout
// passes, and reports whether it held.
func waitFor(timeout, step time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(step)
	}
	return true
}

// packetStats sums the members' gossip packet counters.
func (sm *swimMesh) packetStats() membership.PacketStats {
	var s membership.PacketStats
	for _, nd := range sm.live() {
		p := nd.m.PacketStats()
		s.Sent += p.Sent
		s.Received += p.Received
		s.Refused += p.Refused
		s.Dropped += p.Dropped
		s.Nudges += p.Nudges
		s.Refutations += p.Refutations
	}
	return s
}

// rawRead is how many raw packets the members' transports read from
// quic-go (which drops them beyond a queue of 32 per socket).
func (sm *swimMesh) rawRead() uint64 {
	var n uint64
	for _, nd := range sm.live() {
		n += nd.tr.PacketStats().Received
	}
	return n
}

// close stops every member at once.
func (sm *swimMesh) close() {
	var wg sync.WaitGroup
	for i, nd := range sm.nodes {
		if nd != nil {
			sm.nodes[i] = nil
			wg.Go(nd.stop)
		}
	}
	wg.Wait()
}
