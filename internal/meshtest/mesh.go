package meshtest

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go/testutils/simnet"
	"github.com/stretchr/testify/require"

	"github.com/org/macula"
	"github.com/org/macula/security"
)

// DefaultLatency is the one-way latency of every link unless set otherwise.
const DefaultLatency = 5 * time.Millisecond

// Option configures a Mesh.
type Option func(*Mesh)

// WithNodeOptions adds options given to every node's macula.New (after the
// mesh's own WithTransport and WithIdentity).
func WithNodeOptions(opts ...macula.Option) Option {
	return func(m *Mesh) { m.nodeOpts = append(m.nodeOpts, opts...) }
}

// WithLatency sets the initial one-way latency of every link.
func WithLatency(d time.Duration) Option {
	return func(m *Mesh) { m.latency.Store(int64(d)) }
}

// WithBootstrapTo makes every member start with member i's address as its
// bootstrap address (WithBootstrap), as an operator would configure a seed.
func WithBootstrapTo(i int) Option {
	return func(m *Mesh) { m.bootstrap = &i }
}

// WithSeed seeds the router's packet-loss randomness (default 1).
func WithSeed(seed uint64) Option {
	return func(m *Mesh) { m.seed = seed }
}

// Member is one node slot of a Mesh. Its address and identity survive
// Kill and Restart.
type Member struct {
	// Index is the member's position in the mesh.
	Index int
	// Addr is the member's simulated UDP address.
	Addr *net.UDPAddr
	// Identity is the member's key pair, kept across restarts.
	Identity *security.Identity

	node *macula.Node
	link *simnet.SimulatedLink
}

// Mesh is a set of nodes on one simulated network.
type Mesh struct {
	t         testing.TB
	router    *router
	members   []*Member
	nodeOpts  []macula.Option
	latency   atomic.Int64
	seed      uint64
	bootstrap *int
	closed    bool
}

// New starts n nodes, each on its own simulated endpoint, not yet connected
// to each other. It must be called inside a synctest bubble. The mesh is
// closed by t.Cleanup.
func New(t testing.TB, n int, opts ...Option) *Mesh {
	t.Helper()
	m := &Mesh{t: t, seed: 1}
	m.latency.Store(int64(DefaultLatency))
	for _, o := range opts {
		o(m)
	}
	m.router = newRouter(m.seed)
	if m.bootstrap != nil {
		m.nodeOpts = append(m.nodeOpts, macula.WithBootstrap(addrOf(*m.bootstrap).String()))
	}
	for i := range n {
		id, err := security.GenerateIdentity()
		require.NoError(t, err)
		mem := &Member{
			Index:    i,
			Addr:     addrOf(i),
			Identity: id,
		}
		m.members = append(m.members, mem)
		m.start(mem)
	}
	t.Cleanup(m.Close)
	return m
}

// addrOf is member i's simulated address.
func addrOf(i int) *net.UDPAddr {
	return &net.UDPAddr{IP: net.IPv4(10, byte(i>>16), byte(i>>8), byte(i)+1), Port: 4433}
}

// start brings a member's endpoint and node up.
func (m *Mesh) start(mem *Member) {
	m.t.Helper()
	link := &simnet.SimulatedLink{
		UploadPacket: m.router,
		LatencyFunc:  func(simnet.Packet) time.Duration { return time.Duration(m.latency.Load()) },
	}
	conn := simnet.NewBlockingSimConn(mem.Addr, link)
	m.router.AddNode(mem.Addr, link)
	link.Start()
	m.router.setDead(mem.Addr.String(), false)
	opts := append([]macula.Option{macula.WithTransport(conn), macula.WithIdentity(mem.Identity)}, m.nodeOpts...)
	node, err := macula.New(opts...)
	if err != nil {
		_ = link.Close()
		require.NoError(m.t, err, "starting node %d", mem.Index)
	}
	mem.node, mem.link = node, link
}

// Len is the number of members.
func (m *Mesh) Len() int { return len(m.members) }

// Node returns member i's running node (nil while it is killed).
func (m *Mesh) Node(i int) *macula.Node { return m.members[i].node }

// Member returns member i.
func (m *Mesh) Member(i int) *Member { return m.members[i] }

// Addr returns member i's address as "host:port".
func (m *Mesh) Addr(i int) string { return m.members[i].Addr.String() }

// URI returns member i's macula:// URI, naming its node ID and address.
func (m *Mesh) URI(i int) string {
	mem := m.members[i]
	return security.URI{Realm: mem.node.Realm(), NodeID: mem.Identity.ID(), Addr: mem.Addr.String()}.String()
}

// JoinAll makes every running member other than 0 join member 0, and
// returns the first error.
func (m *Mesh) JoinAll(ctx context.Context) error {
	for i, mem := range m.members[1:] {
		if mem.node == nil {
			continue
		}
		if err := mem.node.Join(ctx, m.Addr(0)); err != nil {
			return fmt.Errorf("node %d join: %w", i+1, err)
		}
	}
	return nil
}

// Partition splits the network: packets flow only between members of the
// same group. Members in no group form one more group together.
func (m *Mesh) Partition(groups ...[]int) {
	g := make(map[string]int)
	for gi, members := range groups {
		for _, i := range members {
			g[m.Addr(i)] = gi + 1
		}
	}
	m.router.partition(g)
}

// Heal removes every partition.
func (m *Mesh) Heal() { m.router.partition(make(map[string]int)) }

// SetLatency sets the one-way latency of every link from now on.
func (m *Mesh) SetLatency(d time.Duration) { m.latency.Store(int64(d)) }

// SetLoss drops each packet with probability p (0 to 1) from now on.
func (m *Mesh) SetLoss(p float64) { m.router.setLoss(p) }

// PacketStats returns how many packets were sent and how many dropped.
func (m *Mesh) PacketStats() (sent, dropped uint64) { return m.router.stats() }

// Kill stops the given members abruptly and at the same instant: their
// packets stop flowing first, so no peer hears a goodbye, then their nodes
// are closed (concurrently; closing takes some virtual time).
func (m *Mesh) Kill(members ...int) {
	var victims []*Member
	for _, i := range members {
		if mem := m.members[i]; mem.node != nil {
			m.router.setDead(mem.Addr.String(), true)
			victims = append(victims, mem)
		}
	}
	var wg sync.WaitGroup
	for _, mem := range victims {
		wg.Go(func() {
			// The link first: a crashed node's sends fail, so nothing of
			// its graceful Close (leave, probes in flight) waits on
			// answers that cannot come.
			_ = mem.link.Close()
			_ = mem.node.Close()
		})
	}
	wg.Wait()
	for _, mem := range victims {
		mem.node, mem.link = nil, nil
	}
}

// Stop closes member i gracefully: it leaves the realm (others see it
// left, not dead) and its slot is empty until Restart.
func (m *Mesh) Stop(i int) error {
	mem := m.members[i]
	if mem.node == nil {
		return nil
	}
	err := mem.node.Close()
	_ = mem.link.Close()
	mem.node, mem.link = nil, nil
	return err
}

// Restart starts a killed member again with the same identity and address,
// and returns its new node.
func (m *Mesh) Restart(i int) *macula.Node {
	mem := m.members[i]
	if mem.node != nil {
		m.Kill(i)
	}
	m.start(mem)
	return mem.node
}

// WaitFor polls cond every 10 ms of virtual time until it holds or timeout
// passes, and reports whether it held.
func (m *Mesh) WaitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Close stops every node (concurrently) and link. It is called by
// t.Cleanup.
func (m *Mesh) Close() {
	if m.closed {
		return
	}
	m.closed = true
	var wg sync.WaitGroup
	for _, mem := range m.members {
		if mem.node != nil {
			wg.Go(func() { _ = mem.node.Close() })
		}
	}
	wg.Wait()
	for _, mem := range m.members {
		if mem.link != nil {
			_ = mem.link.Close()
		}
		mem.node, mem.link = nil, nil
	}
}
