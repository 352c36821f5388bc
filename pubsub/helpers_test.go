package pubsub

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/directory"
	"github.com/org/macula/internal/stacktest"
	"github.com/org/macula/routing"
	"github.com/org/macula/security"
	"github.com/org/macula/transport"
)

const testRealm = "org.example.pubsub"

// node is one mesh node with the pub/sub stack: transport, DHT,
// directory (from stacktest) and Service.
type node struct {
	id  *security.Identity
	tr  *transport.Transport
	dht *routing.DHT
	dir *directory.Cache
	ps  *Service
}

// mesh starts n stacks on simnet (5 ms one way), their DHTs bootstrapped
// through node 0, and a Service on each, its Config changed by mutate.
// Must run in a synctest bubble.
func mesh(t *testing.T, n int, mutate ...func(*Config)) []*node {
	t.Helper()
	return services(t, stacktest.New(t, n, stacktest.Config{Realm: testRealm}), mutate...)
}

// services starts a Service on each stack of m; they are closed when the
// test ends, before the stacks.
func services(t testing.TB, m *stacktest.Mesh, mutate ...func(*Config)) []*node {
	t.Helper()
	nodes := make([]*node, len(m.Stacks))
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, nd := range nodes {
			if nd != nil {
				wg.Go(func() { _ = nd.ps.Close() })
			}
		}
		wg.Wait()
	})
	for i, s := range m.Stacks {
		identities.Store(s.ID(), s.Identity)
		cfg := Config{Self: s.ID(), Realm: testRealm, Addrs: []string{s.Addr}, Network: s.Transport, Records: s.DHT, Directory: s.Directory}
		for _, m := range mutate {
			m(&cfg)
		}
		ps, err := New(cfg)
		require.NoError(t, err)
		nodes[i] = &node{id: s.Identity, tr: s.Transport, dht: s.DHT, dir: s.Directory, ps: ps}
	}
	return nodes
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
