package macula

import (
	"fmt"

	"github.com/org/macula/routing"
)

// Route is one entry of the node's DHT routing table: a node ID and the
// addresses it can be dialed at.
type Route = routing.Contact

// buildRouting builds the node's DHT and registers its handler of peers'
// DHT queries (answered from the moment the transport starts; the DHT
// needs no Start for that).
func (n *Node) buildRouting() error {
	cfg := routing.Config{
		Self:            routing.Contact{ID: n.ID(), Addrs: n.advertise},
		Realm:           n.cfg.realm,
		Identity:        n.identity,
		Querier:         routing.NewQUICQuerier(n.tr),
		Logger:          n.log,
		OnRecordRefused: n.auditRecordRefused,
		OnLimitExceeded: n.onDHTLimit,
	}
	n.cfg.limits.routingConfig(&cfg)
	if n.cfg.acl != nil {
		cfg.AuthorizeStore = n.authorizeRecord(false)
		cfg.AuthorizeAnswer = n.authorizeRecord(true)
	}
	d, err := routing.New(cfg)
	if err != nil {
		return fmt.Errorf("macula: start DHT: %w", err)
	}
	n.dht = d
	routing.Serve(n.tr, d, n.log)
	n.parts.add("routing", n.startRouting, d.Close)
	return nil
}

// startRouting starts the DHT's background work and keeps its routing
// table fed from membership: joins and updates add a member, failures and
// departures remove it.
func (n *Node) startRouting() error {
	d := n.dht
	d.Start()
	events := n.members.Watch(n.ctx)
	n.goFunc(func() {
		for _, m := range n.members.Members() {
			if (m.State == MemberAlive || m.State == MemberSuspect) && m.ID != n.ID() {
				d.AddPeer(routing.Contact{ID: m.ID, Addrs: m.Meta.Addrs})
			}
		}
		for ev := range events {
			if ev.Member.ID == n.ID() {
				continue
			}
			switch ev.Member.State {
			case MemberAlive:
				d.AddPeer(routing.Contact{ID: ev.Member.ID, Addrs: ev.Member.Meta.Addrs})
			case MemberSuspect:
				// Still a member until declared dead: most suspicions
				// are refuted, and lookups route around a node that
				// really fails a query.
			default:
				d.RemovePeer(ev.Member.ID)
			}
		}
	})
	return nil
}

// Routes returns the node's DHT routing table, for tools such as the CLI.
func (n *Node) Routes() []Route { return n.dht.Routes() }
