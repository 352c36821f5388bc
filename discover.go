package macula

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/org/macula/discovery"
)

// mdnsOptions configures WithMDNS.
type mdnsOptions struct {
	iface string
}

// buildDiscovery builds the discovery runner over the sources and, with
// WithMDNS, prepares the mDNS advertiser, which starts with the runner.
func (n *Node) buildDiscovery() error {
	sources := append([]discovery.Source(nil), n.cfg.discovery...)
	if n.cfg.mdns != nil {
		var ifc *net.Interface
		if n.cfg.mdns.iface != "" {
			found, err := net.InterfaceByName(n.cfg.mdns.iface)
			if err != nil {
				return invalid("WithMDNS", "interface %q: %w", n.cfg.mdns.iface, err)
			}
			ifc = found
		}
		ap, err := netip.ParseAddrPort(n.advertise[0])
		if err != nil {
			return invalid("WithMDNS", "needs an IP:port address to advertise: %w", err)
		}
		var ips []net.IP
		if !ap.Addr().IsUnspecified() {
			ips = []net.IP{net.IP(ap.Addr().AsSlice())}
		}
		// The advertiser answers queries from the moment it exists, so it
		// is made when the node starts, not here.
		advCfg := discovery.AdvertiseConfig{
			Realm: n.cfg.realm, NodeID: n.ID(), Port: int(ap.Port()), IPs: ips, Interface: ifc,
		}
		n.parts.add("mDNS advertiser", func() error {
			adv, err := discovery.Advertise(advCfg)
			if err != nil {
				return fmt.Errorf("macula: mDNS advertise: %w", err)
			}
			n.mdnsAdvertiser = adv
			return nil
		}, func() error {
			if n.mdnsAdvertiser != nil {
				_ = n.mdnsAdvertiser.Close()
			}
			return nil
		})
		src, err := discovery.MDNS(discovery.MDNSConfig{Realm: n.cfg.realm, Interface: ifc})
		if err != nil {
			return invalid("WithMDNS", "%w", err)
		}
		sources = append(sources, src)
	}
	if len(sources) == 0 {
		return nil
	}
	runner, err := discovery.NewRunner(discovery.RunnerConfig{
		Sources: sources,
		Logger:  n.log.Named("discovery"),
		OnAddrs: n.discovered,
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidOption, err)
	}
	n.discoveryRunner = runner
	n.parts.add("discovery", func() error { runner.Start(); return nil }, runner.Close)
	return nil
}

// dialing tracks addresses found by discovery that are being dialed.
type dialing struct {
	mu    sync.Mutex
	addrs map[string]bool
}

// discovered dials every address a discovery source found that this node
// is not connected to yet. It is called on the runner's goroutines and
// returns at once.
func (n *Node) discovered(source string, addrs []string) {
	for _, addr := range addrs {
		if n.isSelfOrConnected(addr) {
			continue
		}
		n.dialingDiscovered.mu.Lock()
		if n.dialingDiscovered.addrs[addr] {
			n.dialingDiscovered.mu.Unlock()
			continue
		}
		n.dialingDiscovered.addrs[addr] = true
		n.dialingDiscovered.mu.Unlock()
		n.goFunc(func() {
			defer func() {
				n.dialingDiscovered.mu.Lock()
				delete(n.dialingDiscovered.addrs, addr)
				n.dialingDiscovered.mu.Unlock()
			}()
			if err := n.dial(n.ctx, addr); err != nil && n.ctx.Err() == nil {
				n.log.Debug("dialing a discovered address failed", zap.String("source", source), zap.String("addr", addr), zap.Error(err))
			}
		})
	}
}

// isSelfOrConnected reports whether addr names this node or a peer that is
// already connected.
func (n *Node) isSelfOrConnected(addr string) bool {
	tg, err := parseTarget(addr)
	if err != nil {
		return true // nothing to dial; the source's answer was odd
	}
	if tg.expected == n.ID() {
		return true
	}
	if !tg.expected.IsZero() {
		_, ok := n.tr.Peer(tg.expected)
		return ok
	}
	for _, own := range n.advertise {
		if strings.EqualFold(own, tg.hostPort) {
			return true
		}
	}
	_, ok := n.tr.PeerByAddr(tg.hostPort)
	return ok
}
