package rpc

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/directory"
	"github.com/org/macula/internal/stacktest"
	"github.com/org/macula/routing"
	"github.com/org/macula/security"
	"github.com/org/macula/transport"
)

const testRealm = "org.example.rpc"

// oneWay is the default one-way latency of a test node's link.
const oneWay = stacktest.DefaultLatency

// testNode is one node of a test mesh: a stack of stacktest (a real
// quic-go transport on simnet, a DHT served over it, a directory over the
// DHT) and the RPC Service.
type testNode struct {
	id   *security.Identity
	addr string
	tr   *transport.Transport
	dht  *routing.DHT
	dir  *directory.Cache
	svc  *Service
}

func (n *testNode) ID() security.NodeID { return n.id.ID() }

// testMesh is n nodes on one simnet.
type testMesh struct {
	t      *testing.T
	stacks *stacktest.Mesh
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

// newMesh starts n stacks on quic-go's simnet (stacktest: a Transport, a
// DHT served over it and bootstrapped through node 0, a directory) and a
// Service on each. Must run in a synctest bubble; everything is closed at
// the end of the test, the Services first.
func newMesh(t *testing.T, n int, mc meshConfig) *testMesh {
	t.Helper()
	m := &testMesh{t: t, stacks: stacktest.New(t, n, stacktest.Config{Realm: testRealm, Latency: mc.latency})}
	m.nodes = services(t, m.stacks, mc)
	return m
}

// services starts a Service on each stack of sm; they are closed when the
// test ends, before the stacks.
func services(t testing.TB, sm *stacktest.Mesh, mc meshConfig) []*testNode {
	t.Helper()
	nodes := make([]*testNode, len(sm.Stacks))
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, nd := range nodes {
			if nd != nil {
				wg.Go(func() { _ = nd.svc.Close() })
			}
		}
		wg.Wait()
	})
	for i, s := range sm.Stacks {
		cfg := Config{
			Self:      s.ID(),
			Realm:     testRealm,
			Addrs:     []string{s.Addr},
			Network:   s.Transport,
			Records:   s.DHT,
			Directory: s.Directory,
		}
		if mc.sign {
			cfg.Signer = s.Identity
		}
		if mc.service != nil {
			mc.service(i, &cfg)
		}
		svc, err := New(cfg)
		require.NoError(t, err)
		nodes[i] = &testNode{id: s.Identity, addr: s.Addr, tr: s.Transport, dht: s.DHT, dir: s.Directory, svc: svc}
	}
	return nodes
}

// crash stops node i the way a power cut would: its packets vanish, so its
// peers learn nothing, and its transport is closed.
func (m *testMesh) crash(i int) { m.stacks.Crash(i) }

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
