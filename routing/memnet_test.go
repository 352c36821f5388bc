package routing

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/security"
)

// errUnreachable is what a query to a dead node of a memNet fails with.
var errUnreachable = errors.New("memnet: node unreachable")

// memNet is an in-memory network of DHTs: a node's Querier calls the
// Handle methods of the node it queries directly, copying records as the
// wire would. A node can be made unreachable (queries fail at once) or
// silent (queries hang until their context ends).
type memNet struct {
	mu     sync.RWMutex
	nodes  map[security.NodeID]*DHT
	down   map[security.NodeID]bool
	silent map[security.NodeID]bool

	queries atomic.Int64
}

func newMemNet() *memNet {
	return &memNet{
		nodes:  make(map[security.NodeID]*DHT),
		down:   make(map[security.NodeID]bool),
		silent: make(map[security.NodeID]bool),
	}
}

// attach makes d reachable as d.Self().ID.
func (n *memNet) attach(d *DHT) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.nodes[d.Self().ID] = d
}

// kill makes id unreachable.
func (n *memNet) kill(id security.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.down[id] = true
}

// silence makes queries to id hang until their context ends.
func (n *memNet) silence(id security.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.silent[id] = true
}

// querier returns the Querier of the node self.
func (n *memNet) querier(self security.NodeID) Querier {
	return &memQuerier{net: n, from: Contact{ID: self, Addrs: []string{"mem:" + self.Short()}}}
}

// memQuerier is one node's Querier on a memNet.
type memQuerier struct {
	net  *memNet
	from Contact
}

// peer returns the DHT to reach, or why it cannot be reached.
func (q *memQuerier) peer(ctx context.Context, to Contact) (*DHT, error) {
	q.net.queries.Add(1)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q.net.mu.RLock()
	d, down, silent := q.net.nodes[to.ID], q.net.down[to.ID], q.net.silent[to.ID]
	q.net.mu.RUnlock()
	if silent {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if d == nil || down {
		return nil, errUnreachable
	}
	return d, nil
}

func (q *memQuerier) FindNode(ctx context.Context, to Contact, target Key) ([]Contact, error) {
	d, err := q.peer(ctx, to)
	if err != nil {
		return nil, err
	}
	return cloneContacts(d.HandleFindNode(q.from, target)), nil
}

func (q *memQuerier) FindValue(ctx context.Context, to Contact, key Key) ([]*Record, []Contact, error) {
	d, err := q.peer(ctx, to)
	if err != nil {
		return nil, nil, err
	}
	recs, closer := d.HandleFindValue(q.from, key)
	out := make([]*Record, len(recs))
	for i, r := range recs {
		out[i] = r.clone()
	}
	return out, cloneContacts(closer), nil
}

func (q *memQuerier) Store(ctx context.Context, to Contact, rec *Record) error {
	d, err := q.peer(ctx, to)
	if err != nil {
		return err
	}
	return d.HandleStore(q.from, rec.clone())
}

func cloneContacts(cs []Contact) []Contact {
	out := make([]Contact, len(cs))
	for i, c := range cs {
		out[i] = Contact{ID: c.ID, Addrs: slices.Clone(c.Addrs)}
	}
	return out
}

// cluster is N DHTs on one memNet.
type cluster struct {
	net   *memNet
	nodes []*DHT
	ids   []*security.Identity
	rng   *rand.Rand
}

// newCluster starts n DHTs (not bootstrapped, not started) configured by
// edit, which may be nil; they are closed when the test ends.
func newCluster(t testing.TB, n int, edit func(*Config)) *cluster {
	t.Helper()
	c := &cluster{net: newMemNet(), rng: rand.New(rand.NewPCG(uint64(n), 1))}
	for range n {
		c.add(t, edit)
	}
	t.Cleanup(c.close)
	return c
}

// add creates one more node and returns it.
func (c *cluster) add(t testing.TB, edit func(*Config)) *DHT {
	t.Helper()
	id := newIdentity(t)
	cfg := Config{
		Realm:    testRealm,
		Identity: id,
		Querier:  c.net.querier(id.ID()),
	}
	cfg.Self.Addrs = []string{"mem:" + id.ID().Short()}
	if edit != nil {
		edit(&cfg)
	}
	d, err := New(cfg)
	require.NoError(t, err)
	c.net.attach(d)
	c.nodes = append(c.nodes, d)
	c.ids = append(c.ids, id)
	return d
}

func (c *cluster) close() {
	for _, d := range c.nodes {
		_ = d.Close()
	}
}

// bootstrap gives every node `contacts` random other nodes, then has each
// look itself up, as a joining Kademlia node does. workers lookups run at
// once.
func (c *cluster) bootstrap(t testing.TB, contacts, workers int) {
	t.Helper()
	for i, d := range c.nodes {
		for range contacts {
			j := c.rng.IntN(len(c.nodes))
			if j != i {
				d.AddPeer(c.nodes[j].Self())
			}
		}
	}
	next := make(chan *DHT)
	var wg sync.WaitGroup
	errs := make(chan error, len(c.nodes))
	for range workers {
		wg.Go(func() {
			for d := range next {
				if err := d.Bootstrap(context.Background()); err != nil {
					errs <- err
				}
			}
		})
	}
	for _, d := range c.nodes {
		next <- d
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// random returns a random node that is not down.
func (c *cluster) random() *DHT {
	for {
		d := c.nodes[c.rng.IntN(len(c.nodes))]
		if !d.isClosed() {
			return d
		}
	}
}

// killRandom closes and makes unreachable a random fraction of the nodes,
// and returns them.
func (c *cluster) killRandom(fraction float64) map[security.NodeID]bool {
	dead := make(map[security.NodeID]bool)
	for _, i := range c.rng.Perm(len(c.nodes))[:int(fraction*float64(len(c.nodes)))] {
		d := c.nodes[i]
		c.net.kill(d.Self().ID)
		_ = d.Close()
		dead[d.Self().ID] = true
	}
	return dead
}

func (q *memQuerier) Watch(ctx context.Context, to Contact, key Key, lease time.Duration, onEvent func([]*Record)) error {
	d, err := q.peer(ctx, to)
	if err != nil {
		return err
	}
	return d.HandleWatch(ctx, q.from, key, lease, func(recs []*Record) error {
		out := make([]*Record, len(recs))
		for i, r := range recs {
			out[i] = r.clone()
		}
		onEvent(out)
		return nil
	})
}
