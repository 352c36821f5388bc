package directory_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/org/macula/directory"
	"github.com/org/macula/routing"
	"github.com/org/macula/security"
	"github.com/org/macula/transport"
)

// dhtNode is a transport and a DHT served over it.
type dhtNode struct {
	id  *security.Identity
	tr  *transport.Transport
	dht *routing.DHT
}

func (n *dhtNode) close() {
	_ = n.dht.Close()
	_ = n.tr.Close()
}

// startDHTNode starts a DHT over QUIC on a UDP socket on 127.0.0.1.
func startDHTNode(realm string) (*dhtNode, error) {
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
		Querier:  routing.NewQUICQuerier(tr),
	})
	if err != nil {
		_ = tr.Close()
		return nil, err
	}
	routing.Serve(tr, d, nil)
	return &dhtNode{id: id, tr: tr, dht: d}, nil
}

// One node publishes a provider record in the DHT; another reads it
// through its directory cache, then hides it when the owner is marked down.
func ExampleCache_Lookup() {
	const realm = "org.example.mesh"
	provider, err := startDHTNode(realm)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer provider.close()
	reader, err := startDHTNode(realm)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reader.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reader.dht.AddPeer(provider.dht.Self())
	if err := reader.dht.Bootstrap(ctx); err != nil {
		fmt.Println(err)
		return
	}

	rec, err := provider.dht.NewRecord(routing.KindRPC, "math.add", []byte("v1"))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := provider.dht.Put(ctx, rec); err != nil {
		fmt.Println(err)
		return
	}

	dir, err := directory.New(directory.Config{Source: reader.dht})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer dir.Close()
	key := routing.KeyFor(realm, routing.KindRPC, "math.add")
	recs, err := dir.Lookup(ctx, key)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range recs {
		fmt.Printf("%s from the provider: %t\n", r.Value, r.Owner == provider.id.ID())
	}

	// Membership says the provider left: its records are hidden.
	dir.SetDown(provider.id.ID(), true)
	recs, _ = dir.Lookup(ctx, key)
	fmt.Println("records while down:", len(recs))
	// Output:
	// v1 from the provider: true
	// records while down: 0
}
