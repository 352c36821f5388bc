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

// A subscriber on one node receives, through a wildcard, what another node
// publishes; at least once, Publish returns after the handler ran.
func ExampleNode_Subscribe() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := macula.New(macula.WithListenAddr("127.0.0.1:0"))
	if err != nil {
		panic(err)
	}
	defer a.Close()
	b, err := macula.New(macula.WithListenAddr("127.0.0.1:0"), macula.WithBootstrap(a.Addr().String()))
	if err != nil {
		panic(err)
	}
	defer b.Close()
	if err := b.Join(ctx, a.URI()); err != nil {
		panic(err)
	}

	got := make(chan string, 1)
	sub, err := b.Subscribe(ctx, "sensors.*", func(_ context.Context, ev *macula.Event) {
		var celsius float64
		_ = ev.Decode(&celsius)
		got <- fmt.Sprintf("%s = %.1f", ev.Topic, celsius)
	})
	if err != nil {
		panic(err)
	}
	defer sub.Unsubscribe()

	if err := a.Publish(ctx, "sensors.kitchen", 21.5, macula.WithQoS(macula.AtLeastOnce)); err != nil {
		panic(err)
	}
	fmt.Println(<-got)
	// Output: sensors.kitchen = 21.5
}

// Bad input is refused before anything is sent, with typed errors.
func ExampleNode_Publish() {
	n, err := macula.New(macula.WithListenAddr("127.0.0.1:0"))
	if err != nil {
		panic(err)
	}
	defer n.Close()
	ctx := context.Background()
	err = n.Publish(ctx, "sensors.*", "x")
	fmt.Println(errors.Is(err, macula.ErrInvalidTopic))
	err = n.Publish(ctx, "sensors.kitchen", make([]byte, 8<<20))
	fmt.Println(errors.Is(err, macula.ErrMessageTooLarge))
	// Output:
	// true
	// true
}

// With WithMessageSigning, events carry their publisher's signature and
// the receiver names the node it verified in Event.Signer.
func ExampleWithMessageSigning() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := macula.New(macula.WithListenAddr("127.0.0.1:0"), macula.WithMessageSigning(true))
	if err != nil {
		panic(err)
	}
	defer a.Close()
	b, err := macula.New(macula.WithListenAddr("127.0.0.1:0"), macula.WithMessageSigning(true))
	if err != nil {
		panic(err)
	}
	defer b.Close()
	if err := b.Join(ctx, a.URI()); err != nil {
		panic(err)
	}
	got := make(chan *macula.Event, 1)
	if _, err := b.Subscribe(ctx, "alerts.#", func(_ context.Context, ev *macula.Event) { got <- ev }); err != nil {
		panic(err)
	}
	if err := a.Publish(ctx, "alerts.fire", "kitchen", macula.WithQoS(macula.AtLeastOnce)); err != nil {
		panic(err)
	}
	ev := <-got
	fmt.Println(ev.Topic, "signed by the publisher:", ev.Signer == a.ID())
	// Output: alerts.fire signed by the publisher: true
}
