package faultnet

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/quic-go/quic-go/testutils/simnet"
)

// Config configures a Net. The zero value is a perfect network.
type Config struct {
	// Seed seeds the random source of packet loss: with the same seed the
	// same sequence of packets loses the same ones.
	Seed uint64
	// Latency is the one-way latency of every node's link, unless
	// [Net.SetLatencyTo] sets the node's own; default 0.
	Latency time.Duration
	// MTU is the largest packet a simnet link carries; larger ones vanish,
	// as simnet drops them. Zero means simnet's default, 1400 bytes. Real
	// sockets ignore it.
	MTU int
}

// Stats counts the packets sent by the Conns of a Net.
type Stats struct {
	// Sent is every packet written (on simnet, every one within the
	// MTU: simnet drops larger ones at the link).
	Sent uint64
	// Lost is the packets dropped at random by the loss rate, and on real
	// sockets those a full delay line could not hold.
	Lost uint64
	// Blocked is the packets dropped by a partition, by a dead or paused
	// sender, by a dead receiver, or on simnet by a receiver that has no
	// link.
	Blocked uint64
	// NonQUIC is the packets passed on that are not QUIC's (their first
	// two bits are clear): membership's SWIM packets.
	NonQUIC uint64
}

// Net is a network's faults and, for simnet endpoints, its switch. It is
// safe for concurrent use.
type Net struct {
	cfg Config

	mu        sync.Mutex
	rng       *rand.Rand
	loss      float64
	latency   time.Duration
	latencyTo map[netip.AddrPort]time.Duration
	group     map[netip.AddrPort]int // partition; absent means group 0
	dead      map[netip.AddrPort]bool
	paused    map[netip.AddrPort]chan struct{} // closed on Resume
	links     map[netip.AddrPort]simnet.PacketReceiver
	stats     Stats
}

// New returns a Net without faults but cfg's latency.
func New(cfg Config) *Net {
	return &Net{
		cfg:       cfg,
		rng:       rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		latency:   cfg.Latency,
		latencyTo: make(map[netip.AddrPort]time.Duration),
		group:     make(map[netip.AddrPort]int),
		dead:      make(map[netip.AddrPort]bool),
		paused:    make(map[netip.AddrPort]chan struct{}),
		links:     make(map[netip.AddrPort]simnet.PacketReceiver),
	}
}

// Key is the form of an address the Net compares: IPv4 addresses come in
// both 4- and 16-byte forms from quic-go, simnet and memberlist.
func Key(a net.Addr) netip.AddrPort {
	if u, ok := a.(*net.UDPAddr); ok {
		ap := u.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Partition splits the network: from now on packets pass only between
// addresses of the same group. Addresses in no group form one more group
// together.
func (n *Net) Partition(groups ...[]net.Addr) {
	g := make(map[netip.AddrPort]int)
	for i, members := range groups {
		for _, a := range members {
			g[Key(a)] = i + 1
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.group = g
}

// Heal removes every partition.
func (n *Net) Heal() { n.Partition() }

// SetLoss drops each packet with probability p, 0 to 1, from now on.
func (n *Net) SetLoss(p float64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.loss = p
}

// SetLatency sets the one-way latency of every link that has none of its
// own, from now on.
func (n *Net) SetLatency(d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.latency = d
}

// SetLatencyTo sets the one-way latency of the packets sent to addr from
// now on, whatever [Net.SetLatency] says. A negative d removes addr's own
// latency: its packets take the Net's again.
func (n *Net) SetLatencyTo(addr net.Addr, d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if d < 0 {
		delete(n.latencyTo, Key(addr))
		return
	}
	n.latencyTo[Key(addr)] = d
}

// SetDead marks addr dead (a crashed host: nothing it sends or is sent
// passes) or alive again.
func (n *Net) SetDead(addr net.Addr, dead bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if dead {
		n.dead[Key(addr)] = true
	} else {
		delete(n.dead, Key(addr))
	}
}

// Pause stops addr as a stopped process is stopped: what it sends is
// dropped, and its Conn's ReadFrom returns nothing until [Net.Resume],
// while what is sent to it waits in its socket. Pausing a paused address
// does nothing.
func (n *Net) Pause(addr net.Addr) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if k := Key(addr); n.paused[k] == nil {
		n.paused[k] = make(chan struct{})
	}
}

// Resume undoes [Net.Pause]: addr reads what waited and sends again.
func (n *Net) Resume(addr net.Addr) {
	n.mu.Lock()
	defer n.mu.Unlock()
	k := Key(addr)
	if ch := n.paused[k]; ch != nil {
		close(ch)
		delete(n.paused, k)
	}
}

// Stats returns the packet counts so far.
func (n *Net) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

// admit decides the fate of one packet: whether it passes, and if so its
// latency. sim says it travels on simnet, where a receiver without a link
// is unreachable.
func (n *Net) admit(from, to netip.AddrPort, p []byte, sim bool) (time.Duration, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stats.Sent++
	_, linked := n.links[to]
	switch {
	case n.dead[from] || n.paused[from] != nil || n.dead[to] || n.group[from] != n.group[to] || (sim && !linked):
		n.stats.Blocked++
		return 0, false
	case n.loss > 0 && n.rng.Float64() < n.loss:
		n.stats.Lost++
		return 0, false
	}
	if len(p) > 0 && p[0]&0xc0 == 0 {
		n.stats.NonQUIC++
	}
	return n.latencyLocked(to), true
}

// lost counts a packet that passed but could not be held for its latency.
func (n *Net) lost() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stats.Lost++
}

func (n *Net) latencyOf(to netip.AddrPort) time.Duration {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.latencyLocked(to)
}

func (n *Net) latencyLocked(to netip.AddrPort) time.Duration {
	if d, ok := n.latencyTo[to]; ok {
		return d
	}
	return n.latency
}

// resumed returns the channel closed when addr resumes, or nil if it is
// not paused.
func (n *Net) resumed(addr netip.AddrPort) <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ch := n.paused[addr]; ch != nil {
		return ch
	}
	return nil
}

// Sim returns a running simnet endpoint at addr on this Net, for use
// inside a testing/synctest bubble (simnet's links run goroutines and
// timers). An address can have one endpoint at a time: a new one replaces
// a closed one, as a restarted node rebinds its port. Closing the Conn
// stops its link.
func (n *Net) Sim(addr *net.UDPAddr) *Conn {
	k := Key(addr)
	link := &simnet.SimulatedLink{
		UploadPacket:     switchboard{n},
		UplinkSettings:   simnet.LinkSettings{MTU: n.cfg.MTU},
		DownlinkSettings: simnet.LinkSettings{MTU: n.cfg.MTU},
		LatencyFunc:      func(simnet.Packet) time.Duration { return n.latencyOf(k) },
	}
	// 4-byte IPs: simnet keys addresses by their raw bytes, and those
	// parsed from strings (as in records) are 4 bytes long.
	if ip4 := addr.IP.To4(); ip4 != nil {
		addr = &net.UDPAddr{IP: ip4, Port: addr.Port}
	}
	sc := simnet.NewBlockingSimConn(addr, link)
	n.mu.Lock()
	n.links[k] = link
	n.mu.Unlock()
	link.Start()
	return newConn(n, sc, k, link, false)
}

// Listen binds a real UDP socket at addr ("127.0.0.1:0" for a free
// port; a port again for a restarted node) and returns it on this Net.
// Its packets pass through the kernel's loopback; the Net decides which
// are sent, and the Conn holds each back for its latency.
func (n *Net) Listen(addr string) (*Conn, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("faultnet: listen %s: %w", addr, err)
	}
	uc, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("faultnet: listen %s: %w", addr, err)
	}
	return newConn(n, uc, Key(uc.LocalAddr()), nil, true), nil
}

// dropLink forgets addr's link if it is still link.
func (n *Net) dropLink(addr netip.AddrPort, link *simnet.SimulatedLink) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.links[addr] == link {
		delete(n.links, addr)
	}
}

// switchboard is the simnet.Router of a Net's links: it hands each
// packet to its receiver's link. The faults were applied when the packet
// was written (Conn.WriteTo).
type switchboard struct{ n *Net }

// SendPacket implements simnet.Router. Like UDP it never fails: a packet
// whose receiver is gone vanishes.
func (s switchboard) SendPacket(p simnet.Packet) error {
	s.n.mu.Lock()
	recv := s.n.links[Key(p.To)]
	s.n.mu.Unlock()
	if recv != nil {
		recv.RecvPacket(p)
	}
	return nil
}

// AddNode implements simnet.Router; Net.Sim registers links itself.
func (switchboard) AddNode(net.Addr, simnet.PacketReceiver) {}
