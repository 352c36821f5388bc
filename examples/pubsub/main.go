// Command pubsub shows wildcard subscriptions and queue groups on four
// Macula nodes in one process on 127.0.0.1:
//
//   - node 1 audits everything under "orders.#";
//   - nodes 2 and 3 are workers sharing "orders.*.created" in the queue
//     group "workers", so each new order goes to one of them;
//   - node 0 publishes orders at least once, so each Publish returns
//     once every subscriber node has handled the event.
//
// Run it with:
//
//	go run ./examples/pubsub
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/org/macula"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "pubsub:", err)
		os.Exit(1)
	}
}

// order is the demo's event payload, sent as JSON.
type order struct {
	ID     int    `json:"id"`
	Region string `json:"region"`
}

// tally counts what each subscriber handled and prints it; handlers run
// on their own goroutines, so it serializes them.
type tally struct {
	mu     sync.Mutex
	out    io.Writer
	counts map[string]int
}

func (t *tally) add(who, format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.counts[who]++
	fmt.Fprintf(t.out, format, args...)
}

func run(out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var nodes []*macula.Node
	defer func() {
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Go(func() { _ = n.Close() })
		}
		wg.Wait()
	}()
	for i := range 4 {
		var opts []macula.Option
		opts = append(opts, macula.WithListenAddr("127.0.0.1:0"))
		if i > 0 {
			opts = append(opts, macula.WithBootstrap(nodes[0].Addr().String()))
		}
		n, err := macula.New(opts...)
		if err != nil {
			return fmt.Errorf("start node %d: %w", i, err)
		}
		nodes = append(nodes, n)
	}
	for _, n := range nodes[1:] {
		if err := n.Join(ctx, nodes[0].URI()); err != nil {
			return fmt.Errorf("join: %w", err)
		}
	}

	t := &tally{out: out, counts: map[string]int{}}
	if _, err := nodes[1].Subscribe(ctx, "orders.#", func(_ context.Context, ev *macula.Event) {
		t.add("auditor", "auditor  (node 1) %s\n", ev.Topic)
	}); err != nil {
		return fmt.Errorf("subscribe auditor: %w", err)
	}
	for i, n := range nodes[2:] {
		name := fmt.Sprintf("worker-%d", i+1)
		if _, err := n.Subscribe(ctx, "orders.*.created", func(_ context.Context, ev *macula.Event) {
			var o order
			if err := ev.Decode(&o); err != nil {
				t.add("bad", "%s: bad payload: %v\n", name, err)
				return
			}
			t.add(name, "%s (node %d) handles order %d from %s\n", name, i+2, o.ID, o.Region)
		}, macula.WithQueueGroup("workers")); err != nil {
			return fmt.Errorf("subscribe %s: %w", name, err)
		}
	}

	const orders = 6
	for id := 1; id <= orders; id++ {
		region := []string{"eu", "us"}[id%2]
		if err := nodes[0].Publish(ctx, "orders."+region+".created", order{ID: id, Region: region}, macula.WithQoS(macula.AtLeastOnce)); err != nil {
			return fmt.Errorf("publish order %d: %w", id, err)
		}
	}
	if err := nodes[0].Publish(ctx, "orders.eu.shipped", order{ID: 1, Region: "eu"}, macula.WithQoS(macula.AtLeastOnce)); err != nil {
		return fmt.Errorf("publish shipment: %w", err)
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(out, "\nauditor saw %d events; workers handled %d + %d = %d orders, each once\n",
		t.counts["auditor"], t.counts["worker-1"], t.counts["worker-2"], t.counts["worker-1"]+t.counts["worker-2"])
	if t.counts["auditor"] != orders+1 || t.counts["worker-1"]+t.counts["worker-2"] != orders {
		return fmt.Errorf("unexpected counts %v", t.counts)
	}
	return nil
}
