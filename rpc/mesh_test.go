package rpc

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go/testutils/simnet"
	"github.com/stretchr/testify/require"

	"github.com/org/macula/directory"
	"github.com/org/macula/routing"
	"github.com/org/macula/security"
	"github.com/org/macula/transport"
)

const testRealm = "org.example.rpc"

// oneWay is the default one-way latency of a test node's link.
const oneWay = 5 * time.Millisecond

// testRouter delivers simnet packets, dropping those to or from dead
// addresses, as a crashed node would.
type testRouter struct {
	mu    sync.Mutex
	links map[string]simnet.PacketReceiver
	dead  map[string]bool
}

func (r *testRouter) SendPacket(p simnet.Packet) error {
	r.mu.Lock()
	recv, ok := r.links[p.To.String()]
	drop := !ok || r.dead[p.From.String()] || r.dead[p.To.String()]
	r.mu.Unlock()
	if !drop {
		recv.RecvPacket(p)
	}
	return nil
}

func (r *testRouter) AddNode(addr net.Addr, recv simnet.PacketReceiver) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.links[addr.String()] = recv
}

func (r *testRouter) setDead(addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dead[addr] = true
}

// testNode is one node of a test mesh: a real quic-go transport on simnet,
// a DHT served over it, a directory over the DHT, and the RPC Service.
type testNode struct {
	id   *security.Identity
	addr string
	tr   *transport.Transport
	dht  *routing.DHT
	dir  *directory.Cache
	svc  *Service

	closeOnce sync.Once
}

func (n *testNode) ID() security.NodeID { return n.id.ID() }

// close shuts the node down in order; safe to call more than once.
func (n *testNode) close() {
	n.closeOnce.Do(func() {
		_ = n.svc.Close()
		n.dir.Close()
		_ = n.dht.Close()
		_ = n.tr.Close()
	})
}

// testMesh is n nodes on one simnet.
type testMesh struct {
	t      *testing.T
	router *testRouter
	nodes  []*testNode
}

// meshConfig adjusts a test mesh.
type meshConfig struct {
	// latency returns node i's one-way downlink latency; default oneWay.
	latency func(i int) time.Duration
	// service adjusts node i's Service config.
	service func(i int, cfg *Config)
	// sign makes every node sign its results with its identity.
	sign bool
}

// newMesh starts n nodes on quic-go's simnet, each with a Transport, a DHT
// served over it and bootstrapped through node 0, a directory and a
// Service. Must run in a synctest bubble; everything is closed at the end
// of the test.
func newMesh(t *testing.T, n int, mc meshConfig) *testMesh {
	t.Helper()
	m := &testMesh{t: t, router: &testRouter{links: map[string]simnet.PacketReceiver{}, dead: map[string]bool{}}}
	sn := &simnet.Simnet{Router: m.router}
	conns := make([]net.PacketConn, n)
	for i := range conns {
		lat := oneWay
		if mc.latency != nil {
			lat = mc.latency(i)
		}
		// 4-byte IPs: simnet keys nodes by raw IP bytes, and addresses
		// parsed from strings (as in records) are 4 bytes long.
		addr := &net.UDPAddr{IP: net.IPv4(10, 2, byte(i>>8), byte(i)+1).To4(), Port: 4433}
		conns[i] = sn.NewEndpoint(addr, simnet.NodeBiDiLinkSettings{Latency: lat})
	}
	require.NoError(t, sn.Start())
	t.Cleanup(func() { _ = sn.Close() })
	m.nodes = make([]*testNode, n)
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, nd := range m.nodes {
			if nd != nil {
				wg.Go(nd.close)
			}
		}
		wg.Wait()
	})
	for i := range m.nodes {
		id, err := security.GenerateIdentity()
		require.NoError(t, err)
		addr := conns[i].LocalAddr().String()
		tr, err := transport.New(transport.Config{Identity: id, Realm: testRealm, Conn: conns[i]})
		require.NoError(t, err)
		require.NoError(t, tr.Start())
		d, err := routing.New(routing.Config{
			Self:     routing.Contact{ID: id.ID(), Addrs: []string{addr}},
			Realm:    testRealm,
			Identity: id,
			Querier:  routing.NewQUICQuerier(tr),
		})
		require.NoError(t, err)
		routing.Serve(tr, d, nil)
		dir, err := directory.New(directory.Config{Source: d})
		require.NoError(t, err)
		cfg := Config{
			Self:      id.ID(),
			Realm:     testRealm,
			Addrs:     []string{addr},
			Network:   tr,
			Records:   d,
			Directory: dir,
		}
		if mc.sign {
			cfg.Signer = id
		}
		if mc.service != nil {
			mc.service(i, &cfg)
		}
		svc, err := New(cfg)
		require.NoError(t, err)
		m.nodes[i] = &testNode{id: id, addr: addr, tr: tr, dht: d, dir: dir, svc: svc}
	}
	seed := m.nodes[0].dht.Self()
	for _, nd := range m.nodes[1:] {
		nd.dht.AddPeer(seed)
		require.NoError(t, nd.dht.Bootstrap(context.Background()))
	}
	for _, nd := range m.nodes {
		nd.dht.Start()
	}
	return m
}

// crash stops node i the way a power cut would: its packets vanish, so its
// peers learn nothing, and its transport is closed.
func (m *testMesh) crash(i int) {
	m.router.setDead(m.nodes[i].addr)
	_ = m.nodes[i].tr.Close()
}

// setDown marks node i down in every other node's directory, as
// membership does for a dead member.
func (m *testMesh) setDown(i int) {
	for j, nd := range m.nodes {
		if j != i {
			nd.dir.SetDown(m.nodes[i].ID(), true)
		}
	}
}

// register registers h for procedure on node i.
func (m *testMesh) register(i int, procedure string, h Handler, opts ...RegisterOption) *Registration {
	m.t.Helper()
	r, err := m.nodes[i].svc.Register(context.Background(), procedure, h, opts...)
	require.NoError(m.t, err)
	return r
}

// index returns the index of the node with the given ID, or -1.
func (m *testMesh) index(id security.NodeID) int {
	for i, nd := range m.nodes {
		if nd.ID() == id {
			return i
		}
	}
	return -1
}

// addHandler adds two ints.
func addHandler(_ context.Context, inv *Invocation) (any, error) {
	var in [2]int
	if err := inv.Decode(&in); err != nil {
		return nil, Errorf(invalidArgument, "want two numbers: %v", err)
	}
	return in[0] + in[1], nil
}
