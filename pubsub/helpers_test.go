package pubsub

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

const testRealm = "org.example.pubsub"

// node is one mesh node with the pub/sub stack: transport, DHT,
// directory and Service.
type node struct {
	id   *security.Identity
	conn net.PacketConn
	tr   *transport.Transport
	dht  *routing.DHT
	dir  *directory.Cache
	ps   *Service
	once sync.Once
}

func (n *node) close() {
	n.once.Do(func() {
		_ = n.ps.Close()
		n.dir.Close()
		_ = n.dht.Close()
		_ = n.tr.Close()
	})
}

// mesh starts n nodes on simnet (5 ms one way) and bootstraps their DHTs
// through node 0. Must run in a synctest bubble.
func mesh(t *testing.T, n int, mutate ...func(*Config)) []*node {
	t.Helper()
	sn := &simnet.Simnet{Router: &simnet.PerfectRouter{}}
	conns := make([]net.PacketConn, n)
	for i := range conns {
		addr := &net.UDPAddr{IP: net.IPv4(10, 2, byte(i>>8), byte(i)+1).To4(), Port: 4433}
		conns[i] = sn.NewEndpoint(addr, simnet.NodeBiDiLinkSettings{Latency: 5 * time.Millisecond})
	}
	require.NoError(t, sn.Start())
	t.Cleanup(func() { _ = sn.Close() })
	nodes := make([]*node, n)
	for i := range nodes {
		nodes[i] = startNode(t, conns[i], nil, mutate...)
	}
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, nd := range nodes {
			wg.Go(nd.close)
		}
		wg.Wait()
	})
	seed := nodes[0].dht.Self()
	for _, nd := range nodes[1:] {
		nd.dht.AddPeer(seed)
		require.NoError(t, nd.dht.Bootstrap(context.Background()))
	}
	for _, nd := range nodes {
		nd.dht.Start()
	}
	return nodes
}

// startNode starts the stack on conn with identity id (a new one if nil).
func startNode(t testing.TB, conn net.PacketConn, id *security.Identity, mutate ...func(*Config)) *node {
	t.Helper()
	if id == nil {
		var err error
		id, err = security.GenerateIdentity()
		require.NoError(t, err)
	}
	identities.Store(id.ID(), id)
	tr, err := transport.New(transport.Config{Identity: id, Realm: testRealm, Conn: conn})
	require.NoError(t, err)
	require.NoError(t, tr.Start())
	addrs := []string{conn.LocalAddr().String()}
	d, err := routing.New(routing.Config{
		Self:     routing.Contact{ID: id.ID(), Addrs: addrs},
		Realm:    testRealm,
		Identity: id,
		Querier:  routing.NewQUICQuerier(tr),
	})
	require.NoError(t, err)
	routing.Serve(tr, d, nil)
	dir, err := directory.New(directory.Config{Source: d})
	require.NoError(t, err)
	cfg := Config{Self: id.ID(), Realm: testRealm, Addrs: addrs, Network: tr, Records: d, Directory: dir}
	for _, m := range mutate {
		m(&cfg)
	}
	ps, err := New(cfg)
	require.NoError(t, err)
	return &node{id: id, conn: conn, tr: tr, dht: d, dir: dir, ps: ps}
}

// identities holds every test node's identity by ID, for signing.
var identities sync.Map

// signing makes a node sign its events with its own identity.
func signing(c *Config) {
	id, _ := identities.Load(c.Self)
	c.Signer = id.(*security.Identity)
}

// collector records the events a handler receives.
type collector struct {
	mu     sync.Mutex
	events []*Event
}

func (c *collector) handle(_ context.Context, ev *Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, ev)
}

func (c *collector) topics() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.events))
	for i, ev := range c.events {
		out[i] = ev.Topic
	}
	return out
}

func (c *collector) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.events)
}

func (c *collector) all() []*Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Event(nil), c.events...)
}
