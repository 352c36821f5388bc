package macula_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/org/macula"
)

// Two nodes in one process: the second joins the first over QUIC with
// mutual TLS, and pings it.
func ExampleNode_Join() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	a, err := macula.New(macula.WithListenAddr("127.0.0.1:0"))
	if err != nil {
		panic(err)
	}
	defer a.Close()
	b, err := macula.New(macula.WithListenAddr("127.0.0.1:0"))
	if err != nil {
		panic(err)
	}
	defer b.Close()

	if err := b.Join(ctx, a.URI()); err != nil {
		panic(err)
	}
	rtt, err := b.Ping(ctx, a.ID())
	fmt.Println("peers:", len(b.Peers()), "ping ok:", err == nil && rtt > 0)
	// Output: peers: 1 ping ok: true
}

// A node refuses to join a node of another realm.
func ExampleErrRealmMismatch() {
	ctx := context.Background()
	a, _ := macula.New(macula.WithListenAddr("127.0.0.1:0"), macula.WithRealm("org.example.blue"))
	defer a.Close()
	b, _ := macula.New(macula.WithListenAddr("127.0.0.1:0"), macula.WithRealm("org.example.green"))
	defer b.Close()

	err := b.Join(ctx, a.Addr().String())
	fmt.Println(errors.Is(err, macula.ErrRealmMismatch))
	// Output: true
}
