package meshtest

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/org/macula"
	"github.com/org/macula/internal/faultnet"
	"github.com/org/macula/security"
)

// Member is one node slot of a Mesh. Its address and identity survive
// [Mesh.Kill], [Mesh.Stop] and [Mesh.Restart].
type Member struct {
	// Index is the member's position in the mesh.
	Index int
	// Addr is the member's UDP address: simulated (10.x.x.x:4433) on
	// simnet, a port of 127.0.0.1 over real sockets.
	Addr *net.UDPAddr
	// Identity is the member's key pair, derived from the mesh's seed.
	Identity *security.Identity

	node   *macula.Node // nil while stopped or killed
	paused bool
}

// Mesh is a set of Macula nodes on one network whose faults the test
// controls. Its methods are safe for concurrent use; the fault and
// lifecycle methods (Partition, Kill, Restart, ...) are meant for the
// test's own goroutine.
type Mesh struct {
	net      *faultnet.Net
	nodeOpts []macula.Option
	seed     uint64
	udp      bool

	mu      sync.Mutex
	members []*Member
	closed  bool
}

// New starts n nodes for the test t, not yet connected to each other
// unless [WithBootstrapTo] is given, and closes them in t.Cleanup. If the
// test fails, the mesh logs its seed there, for [WithSeed] or [SeedEnv].
// On simnet (the default) New must be called inside synctest.Test, whose
// bubble then runs the whole mesh in virtual time; with [OverUDP], from
// any test. Errors (invalid options, a node that cannot start) fail the
// test.
func New(t testing.TB, n int, opts ...Option) *Mesh {
	t.Helper()
	m, err := Start(n, opts...)
	if err != nil {
		t.Fatalf("meshtest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("meshtest: seed %d; replay with %s=%d or meshtest.WithSeed(%d)", m.seed, SeedEnv, m.seed, m.seed)
		}
	})
	t.Cleanup(m.Close)
	return m
}

// Start is [New] for code that has no testing.TB (an Example, TestMain, a
// tool): it returns the error instead of failing a test, and the caller
// must call [Mesh.Close]. Invalid options match macula.ErrInvalidOption;
// n < 1 and a bad [SeedEnv] match macula.ErrInvalidConfig.
func Start(n int, opts ...Option) (*Mesh, error) {
	if n < 1 {
		return nil, fmt.Errorf("%w: meshtest: %d nodes, want 1 or more", macula.ErrInvalidConfig, n)
	}
	s := settings{latency: -1, bootstrap: -1}
	for _, o := range opts {
		if o == nil {
			return nil, invalid("Option", "nil option")
		}
		if err := o(&s); err != nil {
			return nil, err
		}
	}
	if s.bootstrap >= n {
		return nil, invalid("WithBootstrapTo", "member %d of a mesh of %d", s.bootstrap, n)
	}
	if !s.seeded {
		var err error
		if s.seed, err = defaultSeed(); err != nil {
			return nil, err
		}
	}
	if s.latency < 0 {
		s.latency = DefaultLatency
		if s.udp {
			s.latency = 0
		}
	}
	m := &Mesh{
		net:      faultnet.New(faultnet.Config{Seed: s.seed, Latency: s.latency}),
		nodeOpts: s.nodeOpts,
		seed:     s.seed,
		udp:      s.udp,
	}
	// Every socket first, so that every address is known before the
	// first node starts (a bootstrap address may be a later member's).
	conns := make([]*faultnet.Conn, n)
	closeConns := func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
	}
	for i := range n {
		id, err := identity(s.seed, i)
		if err != nil {
			closeConns()
			return nil, err
		}
		mem := &Member{Index: i, Identity: id}
		if !s.udp {
			mem.Addr = simAddr(i)
		}
		if conns[i], err = m.listen(mem); err != nil {
			closeConns()
			return nil, err
		}
		m.members = append(m.members, mem)
	}
	if s.bootstrap >= 0 {
		m.nodeOpts = append(m.nodeOpts, macula.WithBootstrap(m.members[s.bootstrap].Addr.String()))
	}
	for i, mem := range m.members {
		if err := m.start(mem, conns[i]); err != nil {
			conns[i] = nil // closed by start
			closeConns()
			m.Close()
			return nil, err
		}
		conns[i] = nil // the node's now
	}
	return m, nil
}

// defaultSeed is the seed of a mesh without WithSeed: SeedEnv's, or a
// random one.
func defaultSeed() (uint64, error) {
	v := os.Getenv(SeedEnv)
	if v == "" {
		return rand.Uint64(), nil
	}
	seed, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: meshtest: %s=%q: %w", macula.ErrInvalidConfig, SeedEnv, v, err)
	}
	return seed, nil
}

// identity derives member i's identity from the seed.
func identity(seed uint64, i int) (*security.Identity, error) {
	var b [32]byte
	copy(b[:], "meshtest identity")
	binary.LittleEndian.PutUint64(b[16:], seed)
	binary.LittleEndian.PutUint64(b[24:], uint64(i))
	key := sha256.Sum256(b[:])
	id, err := security.IdentityFromPrivateKey(ed25519.NewKeyFromSeed(key[:]))
	if err != nil {
		return nil, fmt.Errorf("meshtest: identity of member %d: %w", i, err)
	}
	return id, nil
}

// simAddr is member i's address on simnet.
func simAddr(i int) *net.UDPAddr {
	h := i + 1 // 10.0.0.0 would be a network's own address
	return &net.UDPAddr{IP: net.IPv4(10, byte(h>>16), byte(h>>8), byte(h)).To4(), Port: 4433}
}

// listen opens mem's socket: its simnet endpoint, or a UDP socket on
// 127.0.0.1 (at its old port after the first time). It sets mem.Addr.
func (m *Mesh) listen(mem *Member) (*faultnet.Conn, error) {
	if !m.udp {
		return m.net.Sim(mem.Addr), nil
	}
	addr := "127.0.0.1:0"
	if mem.Addr != nil {
		addr = mem.Addr.String()
	}
	c, err := m.net.Listen(addr)
	if err != nil {
		return nil, fmt.Errorf("meshtest: member %d: %w", mem.Index, err)
	}
	if mem.Addr == nil { // set once: others may read it meanwhile
		mem.Addr = c.LocalAddr().(*net.UDPAddr)
	}
	return c, nil
}

// start runs a node for mem on conn, which it owns from then on (and
// closes if the node cannot start).
func (m *Mesh) start(mem *Member, conn *faultnet.Conn) error {
	opts := append([]macula.Option{macula.WithTransport(conn), macula.WithIdentity(mem.Identity)}, m.nodeOpts...)
	node, err := macula.New(opts...)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("meshtest: starting member %d: %w", mem.Index, err)
	}
	m.mu.Lock()
	mem.node = node
	m.mu.Unlock()
	return nil
}

// Len is the number of members, running or not.
func (m *Mesh) Len() int { return len(m.members) }

// Seed is the mesh's seed (see [WithSeed]).
func (m *Mesh) Seed() uint64 { return m.seed }

// Node returns member i's running node, nil while it is stopped or
// killed.
func (m *Mesh) Node(i int) *macula.Node {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.members[i].node
}

// Member returns member i.
func (m *Mesh) Member(i int) *Member { return m.members[i] }

// Addr returns member i's address as "host:port".
func (m *Mesh) Addr(i int) string { return m.members[i].Addr.String() }

// URI returns member i's macula:// URI, naming its realm, node ID and
// address; member i must be running.
func (m *Mesh) URI(i int) string {
	mem := m.members[i]
	return security.URI{Realm: m.Node(i).Realm(), NodeID: mem.Identity.ID(), Addr: mem.Addr.String()}.String()
}

// JoinAll makes every running member other than 0 join member 0, one
// after the other, and returns the first error.
func (m *Mesh) JoinAll(ctx context.Context) error {
	for i := 1; i < m.Len(); i++ {
		node := m.Node(i)
		if node == nil {
			continue
		}
		if err := node.Join(ctx, m.Addr(0)); err != nil {
			return fmt.Errorf("meshtest: member %d joining member 0: %w", i, err)
		}
	}
	return nil
}

// Partition splits the network: from now on packets pass only between
// members of the same group. Members in no group form one more group
// together. Connections across the cut are not closed: they time out, as
// on a real network.
func (m *Mesh) Partition(groups ...[]int) {
	addrs := make([][]net.Addr, len(groups))
	for g, members := range groups {
		for _, i := range members {
			addrs[g] = append(addrs[g], m.members[i].Addr)
		}
	}
	m.net.Partition(addrs...)
}

// Heal removes every partition.
func (m *Mesh) Heal() { m.net.Heal() }

// SetLatency sets the one-way latency of every link from now on.
func (m *Mesh) SetLatency(d time.Duration) { m.net.SetLatency(d) }

// SetMemberLatency sets the one-way latency of every packet sent to member
// i from now on, whatever [Mesh.SetLatency] says: a slow node, or one far
// away. Its own packets keep the mesh's latency, so a round trip with it
// takes d plus the mesh's latency. A negative d gives its packets the
// mesh's latency again.
func (m *Mesh) SetMemberLatency(i int, d time.Duration) {
	m.net.SetLatencyTo(m.members[i].Addr, d)
}

// SetLoss drops each packet with probability p (0 to 1) from now on, at
// random from the mesh's seed.
func (m *Mesh) SetLoss(p float64) { m.net.SetLoss(p) }

// PacketStats returns how many packets the members sent, and how many of
// those the faults dropped.
func (m *Mesh) PacketStats() (sent, dropped uint64) {
	s := m.net.Stats()
	return s.Sent, s.Lost + s.Blocked
}

// Kill crashes the given members at one instant: their packets stop
// first, both ways, so no peer hears a goodbye; then their nodes are
// closed (concurrently; on simnet that takes some virtual time). A killed
// member keeps its slot, identity and address for [Mesh.Restart]; killing
// one that is not running does nothing.
func (m *Mesh) Kill(members ...int) {
	var victims []*Member
	var nodes []*macula.Node
	m.mu.Lock()
	for _, i := range members {
		mem := m.members[i]
		if mem.node == nil {
			continue
		}
		m.net.SetDead(mem.Addr, true)
		victims = append(victims, mem)
		nodes = append(nodes, mem.node)
		mem.node = nil
	}
	m.mu.Unlock()
	// A paused victim reads again (nothing reaches it now), so that its
	// Close does not wait for its reads to time out.
	for _, mem := range victims {
		m.setPaused(mem, false)
	}
	m.closeNodes(nodes)
}

// Stop closes member i gracefully (a paused member is resumed first): it
// leaves the realm, so the others see it left, not dead. Its slot stays
// empty until [Mesh.Restart]. It returns the node's Close error.
func (m *Mesh) Stop(i int) error {
	mem := m.members[i]
	m.setPaused(mem, false)
	m.mu.Lock()
	node := mem.node
	mem.node = nil
	m.mu.Unlock()
	if node == nil {
		return nil
	}
	return node.Close()
}

// Restart starts member i again with the same identity and address, as a
// restarted process that kept its key and port, and returns its new node.
// A running member is killed first. The node joins no one by itself
// unless [WithBootstrapTo] was given. Over real sockets the port is bound
// again; should another socket have taken it meanwhile, Restart fails.
func (m *Mesh) Restart(i int) (*macula.Node, error) {
	mem := m.members[i]
	if m.Node(i) != nil {
		m.Kill(i)
	}
	m.net.SetDead(mem.Addr, false)
	conn, err := m.listen(mem)
	if err != nil {
		return nil, err
	}
	if err := m.start(mem, conn); err != nil {
		return nil, err
	}
	return m.Node(i), nil
}

// Pause stops the given members as SIGSTOP stops a process: they send
// nothing, and what is sent to them waits in their sockets, unread, until
// [Mesh.Resume]; their nodes are not closed and their timers run on.
// Peers see them go silent, and after Resume they read the backlog and
// carry on.
func (m *Mesh) Pause(members ...int) {
	for _, i := range members {
		m.setPaused(m.members[i], true)
	}
}

// Resume undoes [Mesh.Pause].
func (m *Mesh) Resume(members ...int) {
	for _, i := range members {
		m.setPaused(m.members[i], false)
	}
}

func (m *Mesh) setPaused(mem *Member, paused bool) {
	m.mu.Lock()
	mem.paused = paused
	m.mu.Unlock()
	if paused {
		m.net.Pause(mem.Addr)
	} else {
		m.net.Resume(mem.Addr)
	}
}

// Close stops every running node, concurrently and gracefully. It is
// idempotent; [New] calls it in t.Cleanup.
func (m *Mesh) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	var nodes []*macula.Node
	for _, mem := range m.members {
		if mem.node != nil {
			nodes = append(nodes, mem.node)
			mem.node = nil
		}
	}
	m.mu.Unlock()
	// A paused node would close only when its reads time out.
	for _, mem := range m.members {
		m.setPaused(mem, false)
	}
	m.closeNodes(nodes)
}

func (m *Mesh) closeNodes(nodes []*macula.Node) {
	var wg sync.WaitGroup
	for _, nd := range nodes {
		wg.Go(func() { _ = nd.Close() })
	}
	wg.Wait()
}
