package macula

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/org/macula/protocol"
	"github.com/org/macula/routing"
	"github.com/org/macula/security"
	"github.com/org/macula/topology"
	"github.com/org/macula/transport"
)

// Graph is an overlay graph: nodes and the long-lived links between them.
// It encodes as JSON (Graph.JSON) and Graphviz DOT (Graph.DOT).
type Graph = topology.Graph

// A node publishes its connected overlay links in its membership metadata
// so that any node can draw the whole overlay. Each publication is a
// gossiped metadata update, so it is rationed: links are compared every
// linkCheckInterval, published once unchanged for linkSettle, and not more
// often than every linkMinInterval. While 200 nodes join, links change
// many times a second across the mesh: publishing every change (once a
// second) flooded the gossip with updates and tripled the time the mesh
// took to converge (7 s to 25 s after the last join).
const (
	linkCheckInterval = time.Second
	linkSettle        = 5 * time.Second
	linkMinInterval   = 30 * time.Second
)

// redrawInterval is the shortest time between two redraws of the overlay
// after membership changes. A new member's links wait at most this long;
// a lost link is redialled at once by the topology manager whatever it is.
const redrawInterval = 250 * time.Millisecond

// connector lets the topology manager dial members by ID.
type connector Node

// Connect dials the member at the address membership knows for it.
func (c *connector) Connect(ctx context.Context, id security.NodeID) error {
	n := (*Node)(c)
	if _, ok := n.tr.Peer(id); ok {
		return nil
	}
	mem, ok := n.members.Member(id)
	if !ok {
		return fmt.Errorf("connect %s: %w", id.Short(), ErrNotConnected)
	}
	ap, err := netip.ParseAddrPort(mem.Addr)
	if err != nil {
		return fmt.Errorf("connect %s: member address %q: %w", id.Short(), mem.Addr, err)
	}
	_, err = n.tr.Dial(ctx, net.UDPAddrFromAddrPort(ap), id)
	return err
}

// Connected reports whether there is a connection to id.
func (c *connector) Connected(id security.NodeID) bool {
	_, ok := (*Node)(c).tr.Peer(id)
	return ok
}

// buildTopology builds the overlay manager.
func (n *Node) buildTopology() error {
	topo, err := topology.New(topology.Config{
		Self:      n.ID(),
		K:         n.cfg.topologyK,
		Connector: (*connector)(n),
		Logger:    n.log,
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidOption, err)
	}
	n.topo = topo
	n.parts.add("topology", n.startTopology, topo.Close)
	return nil
}

// startTopology starts the overlay manager, fed by membership changes and
// connection losses, and the goroutine that publishes this node's links.
func (n *Node) startTopology() error {
	topo := n.topo
	topo.Start()
	events := n.members.Watch(n.ctx)
	n.goFunc(func() {
		var links []security.NodeID
		topo.SetMembers(n.aliveIDs())
		links = n.protectLinks(links, topo.Neighbours())
		var redrawn time.Time
		for ev := range events {
			// Suspicions, refutations and metadata updates leave the set
			// of alive members as it is (suspects count as alive).
			if ev.Type != EventMemberJoined && ev.Type != EventMemberLeft && ev.Type != EventMemberFailed {
				continue
			}
			// One redraw for a burst of changes, and at most one per
			// redrawInterval: reading and sorting every member costs
			// O(n) per redraw on every node, and while n nodes join
			// each join is an event on all of them (12 % of the CPU of
			// a 300-node run in one process with a redraw per event,
			// 9 % of a 500-node one with one per burst).
			if wait := redrawInterval - time.Since(redrawn); wait > 0 {
				select {
				case <-n.ctx.Done():
					return
				case <-time.After(wait):
				}
			}
			if !drainEvents(events) {
				return
			}
			topo.SetMembers(n.aliveIDs())
			links = n.protectLinks(links, topo.Neighbours())
			redrawn = time.Now()
		}
	})
	n.goFunc(n.publishLinks)
	return nil
}

// overlayTag is the connection manager's protection tag of overlay links.
const overlayTag = "overlay"

// protectLinks makes the overlay links, and only they, the connections the
// connection manager never closes; old are the links protected so far. It
// returns the links now protected.
func (n *Node) protectLinks(old, links []security.NodeID) []security.NodeID {
	for _, id := range old {
		if !slices.Contains(links, id) {
			n.tr.Unprotect(id, overlayTag)
		}
	}
	for _, id := range links {
		n.tr.Protect(id, overlayTag)
	}
	return links
}

// onPeerChange is the transport's peer callback. A new connection's peer
// goes into the DHT routing table (peers are learned from handshakes too);
// a lost connection to an overlay neighbour is re-dialed at once.
func (n *Node) onPeerChange(ev transport.PeerEvent) {
	n.peerChanged(ev)
	if ev.Connected {
		n.members.PeerConnected(ev.Peer)
		n.dht.AddPeer(routing.Contact{ID: ev.Peer.ID, Addrs: ev.Peer.AdvertisedAddrs})
		return
	}
	if code, byPeer := transport.ClosedByPeer(ev.Err); byPeer && code == protocol.CodeShutdown {
		n.onPeerLeaving(ev.Peer.ID)
	}
	n.topo.PeerDown(ev.Peer.ID)
}

// onPeerLeaving records a peer's graceful-shutdown notice.
func (n *Node) onPeerLeaving(id security.NodeID) { n.members.PeerLeaving(id) }

// aliveIDs are the IDs of the alive members, this node included. Suspect
// members count: most suspicions are refuted within a second, and
// redrawing the overlay for each would churn links for nothing.
func (n *Node) aliveIDs() []security.NodeID {
	return n.members.AliveIDs(nil)
}

// currentLinks are the overlay neighbours this node is connected to.
func (n *Node) currentLinks() []security.NodeID {
	var links []security.NodeID
	for _, id := range n.topo.Neighbours() {
		if _, ok := n.tr.Peer(id); ok {
			links = append(links, id)
		}
	}
	slices.SortFunc(links, security.NodeID.Compare)
	return links
}

// publishLinks keeps this node's links in its membership metadata, so any
// node can draw the whole overlay (Node.Topology).
func (n *Node) publishLinks() {
	var (
		published   []security.NodeID
		publishedAt time.Time
		seen        []security.NodeID
		seenSince   time.Time
	)
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(linkCheckInterval):
		}
		now := time.Now()
		links := n.currentLinks()
		if !slices.Equal(links, seen) {
			seen, seenSince = links, now
		}
		if slices.Equal(links, published) || now.Sub(seenSince) < linkSettle ||
			(!publishedAt.IsZero() && now.Sub(publishedAt) < linkMinInterval) {
			continue
		}
		meta := n.members.LocalMeta()
		meta.Links = links
		if err := n.members.UpdateMeta(meta, linkCheckInterval); err != nil && !errors.Is(err, context.Canceled) {
			n.log.Debug("publishing overlay links", zap.Error(err))
		}
		published, publishedAt = links, now
	}
}

// Topology returns the overlay as this node sees it: every alive member,
// and the links each member last published (this node's own are current).
// Links to members that are dead or left are left out.
func (n *Node) Topology() *Graph {
	g := topology.NewGraph()
	alive := make(map[security.NodeID]bool)
	for _, m := range n.members.Members() {
		if m.State == MemberAlive || m.State == MemberSuspect {
			alive[m.ID] = true
			g.AddNode(m.ID, m.ID.Short())
		}
	}
	for _, m := range n.members.Members() {
		if !alive[m.ID] || m.ID == n.ID() {
			continue
		}
		for _, l := range m.Meta.Links {
			if alive[l] {
				g.AddEdge(m.ID, l)
			}
		}
	}
	for _, l := range n.currentLinks() {
		if alive[l] {
			g.AddEdge(n.ID(), l)
		}
	}
	return g
}

// drainEvents discards the events already queued on events; it reports
// false if events is closed.
func drainEvents(events <-chan MemberEvent) bool {
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return false
			}
		default:
			return true
		}
	}
}
