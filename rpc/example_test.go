package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/org/macula/directory"
	"github.com/org/macula/protocol"
	"github.com/org/macula/routing"
	"github.com/org/macula/rpc"
	"github.com/org/macula/security"
	"github.com/org/macula/transport"
)

// node is the stack one Service needs: transport, DHT and directory.
type node struct {
	tr  *transport.Transport
	dht *routing.DHT
	dir *directory.Cache
	svc *rpc.Service
}

func (n *node) close() {
	_ = n.svc.Close()
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
	svc, err := rpc.New(rpc.Config{
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
	return &node{tr: tr, dht: d, dir: dir, svc: svc}, nil
}

// Two nodes over real QUIC on 127.0.0.1: one provides "math.add", the
// other calls it.
func ExampleService_Call() {
	const realm = "org.example.mesh"
	provider, err := startNode(realm)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer provider.close()
	caller, err := startNode(realm)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer caller.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	caller.dht.AddPeer(provider.dht.Self())
	if err := caller.dht.Bootstrap(ctx); err != nil {
		fmt.Println(err)
		return
	}

	reg, err := provider.svc.Register(ctx, "math.add", func(ctx context.Context, inv *rpc.Invocation) (any, error) {
		var in [2]int
		if err := inv.Decode(&in); err != nil {
			return nil, rpc.Errorf(protocol.CodeInvalidArgument, "want two numbers: %v", err)
		}
		return in[0] + in[1], nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Unregister()

	reply, err := caller.svc.Call(ctx, "math.add", [2]int{3, 4})
	if err != nil {
		fmt.Println(err)
		return
	}
	var sum int
	if err := reply.Decode(&sum); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("3 + 4 =", sum, "from the provider:", reply.Provider == provider.tr.ID())

	// The handler's error reaches the caller with its code.
	_, err = caller.svc.Call(ctx, "math.add", "three and four")
	var re *rpc.RemoteError
	if errors.As(err, &re) {
		fmt.Println(re.Code == protocol.CodeInvalidArgument, re.Provider == provider.tr.ID())
	}

	// Nobody provides "math.sub".
	_, err = caller.svc.Call(ctx, "math.sub", [2]int{3, 4})
	fmt.Println(errors.Is(err, rpc.ErrNoProvider))
	// Output:
	// 3 + 4 = 7 from the provider: true
	// true true
	// true
}
