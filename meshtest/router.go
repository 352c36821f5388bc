package meshtest

import (
	"math/rand/v2"
	"net"
	"sync"

	"github.com/quic-go/quic-go/testutils/simnet"
)

// router delivers packets between simnet links, dropping those between
// partitions, to or from dead nodes, and a random share when loss is set.
type router struct {
	mu      sync.Mutex
	links   map[string]simnet.PacketReceiver
	group   map[string]int // partition per address; absent means group 0
	dead    map[string]bool
	loss    float64
	rng     *rand.Rand
	sent    uint64
	dropped uint64
}

func newRouter(seed uint64) *router {
	return &router{
		links: make(map[string]simnet.PacketReceiver),
		group: make(map[string]int),
		dead:  make(map[string]bool),
		rng:   rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
}

// SendPacket implements simnet.Router. Like UDP, it never reports failure:
// undeliverable packets vanish.
func (r *router) SendPacket(p simnet.Packet) error {
	from, to := p.From.String(), p.To.String()
	r.mu.Lock()
	r.sent++
	recv, ok := r.links[to]
	drop := !ok || r.dead[from] || r.dead[to] || r.group[from] != r.group[to] ||
		(r.loss > 0 && r.rng.Float64() < r.loss)
	if drop {
		r.dropped++
	}
	r.mu.Unlock()
	if !drop {
		recv.RecvPacket(p)
	}
	return nil
}

// AddNode implements simnet.Router.
func (r *router) AddNode(addr net.Addr, recv simnet.PacketReceiver) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.links[addr.String()] = recv
}

func (r *router) setDead(addr string, dead bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if dead {
		r.dead[addr] = true
	} else {
		delete(r.dead, addr)
	}
}

func (r *router) partition(groups map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.group = groups
}

func (r *router) setLoss(p float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.loss = p
}

func (r *router) stats() (sent, dropped uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sent, r.dropped
}
