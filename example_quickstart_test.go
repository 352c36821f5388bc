package macula_test

import (
	"context"
	"fmt"
	"time"

	"github.com/org/macula"
)

// The package's quick start: two nodes, a wildcard subscription and a
// procedure on one, a publish and a call from the other.
func Example() {
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
	_, err = b.Register(ctx, "svc.add", func(_ context.Context, inv *macula.Invocation) (any, error) {
		var xs []int
		if err := inv.Decode(&xs); err != nil {
			return nil, err
		}
		return xs[0] + xs[1], nil
	})
	if err != nil {
		panic(err)
	}

	if err := a.Publish(ctx, "sensors.kitchen", 21.5, macula.WithQoS(macula.AtLeastOnce)); err != nil {
		panic(err)
	}
	fmt.Println(<-got)

	reply, err := a.Call(ctx, "svc.add", []int{2, 3})
	if err != nil {
		panic(err)
	}
	var sum int
	_ = reply.Decode(&sum)
	fmt.Println("2 + 3 =", sum, "from b:", reply.Provider == b.ID())
	// Output:
	// sensors.kitchen = 21.5
	// 2 + 3 = 5 from b: true
}
