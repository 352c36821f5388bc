package routing_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/org/macula/routing"
	"github.com/org/macula/security"
	"github.com/org/macula/transport"
)

// node is a DHT served over a Transport.
type node struct {
	tr  *transport.Transport
	dht *routing.DHT
}

func (n *node) close() {
	_ = n.dht.Close()
	_ = n.tr.Close()
}

// startNode starts a DHT over QUIC on a UDP socket on 127.0.0.1.
func startNode(realm string) (*node, error) {
	id, err := security.GenerateIdentity()
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
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
		Self:     routing.Contact{ID: id.ID(), Addrs: []string{conn.LocalAddr().String()}},
		Realm:    realm,
		Identity: id,
		Querier:  routing.NewQUICQuerier(tr), // queries go out over tr
	})
	if err != nil {
		_ = tr.Close()
		return nil, err
	}
	routing.Serve(tr, d, nil) // and are answered from tr's DHT streams
	return &node{tr: tr, dht: d}, nil
}

// Two DHT nodes over real QUIC on 127.0.0.1: one stores a signed record,
// the other finds it, then the owner withdraws it.
func ExampleDHT_Put() {
	const realm = "org.example.mesh"
	owner, err := startNode(realm)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer owner.close()
	reader, err := startNode(realm)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reader.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reader.dht.AddPeer(owner.dht.Self())
	if err := reader.dht.Bootstrap(ctx); err != nil {
		fmt.Println(err)
		return
	}

	rec, err := owner.dht.NewRecord(routing.KindRPC, "billing.charge", []byte("provider info"))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := owner.dht.Put(ctx, rec); err != nil {
		fmt.Println(err)
		return
	}

	key := routing.KeyFor(realm, routing.KindRPC, "billing.charge")
	recs, err := reader.dht.Get(ctx, key)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range recs {
		fmt.Printf("%q owned by the owner: %t, verifies: %v\n", r.Value, r.Owner == owner.tr.ID(), r.Verify(realm, time.Now()))
	}

	if err := owner.dht.Remove(ctx, routing.KindRPC, "billing.charge"); err != nil {
		fmt.Println(err)
		return
	}
	recs, _ = reader.dht.Get(ctx, key)
	fmt.Println("records after Remove:", len(recs))
	// Output:
	// "provider info" owned by the owner: true, verifies: <nil>
	// records after Remove: 0
}
