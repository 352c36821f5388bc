package pubsub_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/org/macula/directory"
	"github.com/org/macula/pubsub"
	"github.com/org/macula/routing"
	"github.com/org/macula/security"
	"github.com/org/macula/transport"
)

// node is the stack one Service needs: transport, DHT and directory.
type node struct {
	tr  *transport.Transport
	dht *routing.DHT
	dir *directory.Cache
	ps  *pubsub.Service
}

func (n *node) close() {
	_ = n.ps.Close()
	n.dir.Close()
	_ = n.dht.Close()
	_ = n.tr.Close()
}

// startNode starts a node on a UDP socket on 127.0.0.1.
func startNode(realm string) (*node, error) {
	id, err := security.GenerateIdentity()
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	addr := conn.LocalAddr().String()
	tr, err := transport.New(transport.Config{Identity: id, Realm: realm, Conn: conn})
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	if err := tr.Start(); err != nil {
		_ = tr.Close()
		return nil, err
	}
	d, err := routing.New(routing.Config{
		Self:     routing.Contact{ID: id.ID(), Addrs: []string{addr}},
		Realm:    realm,
		Identity: id,
		Querier:  routing.NewQUICQuerier(tr),
	})
	if err != nil {
		_ = tr.Close()
		return nil, err
	}
	routing.Serve(tr, d, nil)
	dir, err := directory.New(directory.Config{Source: d})
	if err != nil {
		_ = d.Close()
		_ = tr.Close()
		return nil, err
	}
	ps, err := pubsub.New(pubsub.Config{
		Self:      id.ID(),
		Realm:     realm,
		Addrs:     []string{addr},
		Network:   tr,
		Records:   d,
		Directory: dir,
	})
	if err != nil {
		dir.Close()
		_ = d.Close()
		_ = tr.Close()
		return nil, err
	}
	return &node{tr: tr, dht: d, dir: dir, ps: ps}, nil
}

// Two nodes over real QUIC on 127.0.0.1: one subscribes with a wildcard
// pattern, the other publishes at least once, so Publish returns after
// the subscriber's handler has run.
func ExampleService_Publish() {
	const realm = "org.example.mesh"
	sub, err := startNode(realm)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sub.close()
	pub, err := startNode(realm)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pub.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub.dht.AddPeer(sub.dht.Self())
	if err := pub.dht.Bootstrap(ctx); err != nil {
		fmt.Println(err)
		return
	}

	got := make(chan string, 1)
	s, err := sub.ps.Subscribe(ctx, "sensors.*.temp", func(_ context.Context, ev *pubsub.Event) {
		var celsius float64
		if err := ev.Decode(&celsius); err != nil {
			got <- err.Error()
			return
		}
		got <- fmt.Sprintf("%s: %.1f °C from the publisher: %t", ev.Topic, celsius, ev.Publisher == pub.tr.ID())
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Unsubscribe()

	err = pub.ps.Publish(ctx, "sensors.kitchen.temp", 21.5, pubsub.WithQoS(pubsub.AtLeastOnce))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(<-got)
	// Output:
	// sensors.kitchen.temp: 21.5 °C from the publisher: true
}
