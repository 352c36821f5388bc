package membership_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/org/macula/membership"
	"github.com/org/macula/security"
	"github.com/org/macula/transport"
)

// member is a Membership on its own Transport.
type member struct {
	tr *transport.Transport
	m  *membership.Membership
}

func (n *member) close() {
	_ = n.m.Close()
	_ = n.tr.Close()
}

// startMember starts a transport on a UDP socket on 127.0.0.1 and SWIM
// membership on it; gossip packets share the socket with QUIC.
func startMember(realm string) (*member, error) {
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
	meta := membership.Meta{Addrs: []string{conn.LocalAddr().String()}, Version: "example"}
	m, err := membership.New(tr, meta, membership.DefaultConfig(), nil)
	if err != nil {
		_ = tr.Close()
		return nil, err
	}
	return &member{tr: tr, m: m}, nil
}

// Two members over real UDP and QUIC on 127.0.0.1: one joins the other,
// which sees it join, then leave gracefully.
func ExampleMembership_Join() {
	const realm = "org.example.mesh"
	seed, err := startMember(realm)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer seed.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	events := seed.m.Watch(ctx)

	joiner, err := startMember(realm)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer joiner.close()
	if err := joiner.m.Join(seed.tr.ID(), seed.tr.Addr().String()); err != nil {
		fmt.Println(err)
		return
	}
	next := func() {
		for ev := range events {
			if ev.Member.ID == joiner.tr.ID() && (ev.Type == membership.EventJoin || ev.Type == membership.EventLeave) {
				fmt.Println(ev.Type, ev.Member.State, ev.Member.Meta.Version)
				return
			}
		}
		fmt.Println("watch ended:", ctx.Err())
	}
	next()
	fmt.Println("alive at the seed:", seed.m.NumAlive())

	if err := joiner.m.Leave(); err != nil {
		fmt.Println(err)
		return
	}
	next()
	fmt.Println("alive at the seed:", seed.m.NumAlive())
	// Output:
	// join alive example
	// alive at the seed: 2
	// leave left example
	// alive at the seed: 1
}
