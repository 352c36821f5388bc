// Package stacktest starts meshes of the stack that pub/sub and RPC run
// on: on each node a transport, a DHT served over it and bootstrapped
// through node 0, and a directory cache over the DHT. The tests of the
// pubsub and rpc packages build their Service on each stack; they cannot
// use meshtest, which runs whole nodes and so imports the root package,
// which imports them.
//
// The stacks run on the same faulty network as meshtest's nodes
// (internal/faultnet): on simnet, inside a testing/synctest bubble, with
// its partitions, loss, latency and crashes; or, for benchmarks, on plain
// UDP sockets of 127.0.0.1 ([Config.Loopback]).
package stacktest

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/directory"
	"github.com/org/macula/internal/faultnet"
	"github.com/org/macula/routing"
	"github.com/org/macula/security"
	"github.com/org/macula/transport"
)

// DefaultLatency is the one-way latency of a simnet link unless
// Config.Latency says otherwise.
const DefaultLatency = 5 * time.Millisecond

// Config configures a Mesh.
type Config struct {
	// Realm is every stack's realm; required.
	Realm string
	// Latency returns the one-way latency of the packets to stack i; nil
	// means DefaultLatency for every stack.
	Latency func(i int) time.Duration
	// Seed seeds the network's packet loss.
	Seed uint64
	// Loopback runs the stacks on plain UDP sockets of 127.0.0.1, in real
	// time, with quic-go's fast paths and no faults: for benchmarks. The
	// default is simnet, inside a synctest bubble.
	Loopback bool
}

// Stack is one node's transport, DHT and directory.
type Stack struct {
	// Index is the stack's position in the mesh.
	Index int
	// Identity is the node's key pair.
	Identity *security.Identity
	// Addr is the node's address, "host:port".
	Addr string
	// Transport is the node's QUIC transport.
	Transport *transport.Transport
	// DHT is the node's DHT, served over Transport.
	DHT *routing.DHT
	// Directory is the node's directory cache over DHT.
	Directory *directory.Cache

	local     net.Addr // the socket's address, for the Net
	closeOnce sync.Once
}

// ID is the node's ID.
func (s *Stack) ID() security.NodeID { return s.Identity.ID() }

// Close closes the directory, the DHT and the transport, in that order;
// it is idempotent. A Service built on the stack must be closed first.
func (s *Stack) Close() {
	s.closeOnce.Do(func() {
		s.Directory.Close()
		_ = s.DHT.Close()
		_ = s.Transport.Close()
	})
}

// Mesh is n stacks on one network.
type Mesh struct {
	// Net is the network's faults; on Loopback it governs nothing.
	Net *faultnet.Net
	// Stacks are the mesh's stacks, by index.
	Stacks []*Stack
}

// New starts n stacks and bootstraps every DHT through stack 0, then
// starts the DHTs. On simnet it must be called inside a synctest bubble.
// The stacks are closed when the test ends; a Service built on them
// afterwards and closed by a t.Cleanup registered after New is closed
// first.
func New(t testing.TB, n int, cfg Config) *Mesh {
	t.Helper()
	require.NotEmpty(t, cfg.Realm, "stacktest: no realm")
	m := &Mesh{Net: faultnet.New(faultnet.Config{Seed: cfg.Seed, Latency: DefaultLatency})}
	m.Stacks = make([]*Stack, n)
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, s := range m.Stacks {
			if s != nil {
				wg.Go(s.Close)
			}
		}
		wg.Wait()
	})
	for i := range n {
		conn := m.listen(t, i, cfg)
		m.Stacks[i] = start(t, i, cfg.Realm, conn)
	}
	seed := m.Stacks[0].DHT.Self()
	for _, s := range m.Stacks[1:] {
		s.DHT.AddPeer(seed)
		require.NoError(t, s.DHT.Bootstrap(context.Background()))
	}
	for _, s := range m.Stacks {
		s.DHT.Start()
	}
	return m
}

// listen opens stack i's socket.
func (m *Mesh) listen(t testing.TB, i int, cfg Config) net.PacketConn {
	t.Helper()
	if cfg.Loopback {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		require.NoError(t, err)
		return c
	}
	h := i + 1 // 10.2.0.0 would be a network's own address
	addr := &net.UDPAddr{IP: net.IPv4(10, 2, byte(h>>8), byte(h)).To4(), Port: 4433}
	if cfg.Latency != nil {
		m.Net.SetLatencyTo(addr, cfg.Latency(i))
	}
	return m.Net.Sim(addr)
}

// start runs a transport on conn, a DHT served over it and a directory.
func start(t testing.TB, i int, realm string, conn net.PacketConn) *Stack {
	t.Helper()
	id, err := security.GenerateIdentity()
	if err != nil {
		_ = conn.Close()
		require.NoError(t, err)
	}
	addr := conn.LocalAddr().String()
	tr, err := transport.New(transport.Config{Identity: id, Realm: realm, Conn: conn})
	require.NoError(t, err) // a Transport that cannot be built closes conn
	s := &Stack{Index: i, Identity: id, Addr: addr, Transport: tr, local: conn.LocalAddr()}
	if err := tr.Start(); err != nil {
		_ = tr.Close()
		require.NoError(t, err)
	}
	s.DHT, err = routing.New(routing.Config{
		Self:     routing.Contact{ID: id.ID(), Addrs: []string{addr}},
		Realm:    realm,
		Identity: id,
		Querier:  routing.NewQUICQuerier(tr),
	})
	if err != nil {
		_ = tr.Close()
		require.NoError(t, err)
	}
	routing.Serve(tr, s.DHT, nil)
	s.Directory, err = directory.New(directory.Config{Source: s.DHT})
	if err != nil {
		_ = s.DHT.Close()
		_ = tr.Close()
		require.NoError(t, err)
	}
	return s
}

// Crash stops stack i as a power cut would: its packets vanish both ways,
// so its peers learn nothing, and its transport is closed. On Loopback
// only the transport is closed.
func (m *Mesh) Crash(i int) {
	s := m.Stacks[i]
	m.Net.SetDead(s.local, true)
	_ = s.Transport.Close()
}
