package topology_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/org/macula/security"
	"github.com/org/macula/topology"
	"github.com/org/macula/transport"
)

// transportConnector is a Connector over a Transport: it dials the
// address book's entry for a peer.
type transportConnector struct {
	tr    *transport.Transport
	addrs map[security.NodeID]string // read-only once the Manager runs
}

// Connect dials id unless a connection is up.
func (c *transportConnector) Connect(ctx context.Context, id security.NodeID) error {
	_, err := c.tr.Connect(ctx, id, []string{c.addrs[id]})
	return err
}

// Connected reports whether a connection to id is up.
func (c *transportConnector) Connected(id security.NodeID) bool {
	_, ok := c.tr.Peer(id)
	return ok
}

// A Manager keeps one node's links to its overlay neighbours among six
// nodes on real QUIC on 127.0.0.1; a Connector adapts the transport.
func ExampleManager() {
	const realm = "org.example.mesh"
	var trs []*transport.Transport
	defer func() {
		for _, tr := range trs {
			_ = tr.Close()
		}
	}()
	addrs := make(map[security.NodeID]string)
	var members []security.NodeID
	for range 6 {
		id, err := security.GenerateIdentity()
		if err != nil {
			fmt.Println(err)
			return
		}
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			fmt.Println(err)
			return
		}
		tr, err := transport.New(transport.Config{Identity: id, Realm: realm, Conn: conn})
		if err != nil {
			_ = conn.Close()
			fmt.Println(err)
			return
		}
		if err := tr.Start(); err != nil {
			_ = tr.Close()
			fmt.Println(err)
			return
		}
		trs = append(trs, tr)
		addrs[id.ID()] = conn.LocalAddr().String()
		members = append(members, id.ID())
	}

	self := trs[0]
	conn := &transportConnector{tr: self, addrs: addrs}
	m, err := topology.New(topology.Config{Self: self.ID(), Connector: conn})
	if err != nil {
		fmt.Println(err)
		return
	}
	m.SetMembers(members) // in a node: on every membership change
	m.Start()
	defer m.Close()

	want := m.Neighbours()
	deadline := time.Now().Add(5 * time.Second)
	for up := 0; up < len(want) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		up = 0
		for _, id := range want {
			if conn.Connected(id) {
				up++
			}
		}
	}
	fmt.Println("neighbours:", len(want), "same as Neighbours:", fmt.Sprint(want) == fmt.Sprint(topology.Neighbours(self.ID(), members, topology.DefaultK)))
	for _, id := range want {
		if !conn.Connected(id) {
			fmt.Println("not connected:", id.Short())
		}
	}
	fmt.Println("links up:", len(self.Peers()) >= len(want))
	// Output:
	// neighbours: 2 same as Neighbours: true
	// links up: true
}
