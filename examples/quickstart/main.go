// Command quickstart starts three Macula nodes in one process on 127.0.0.1,
// joins them into one mesh, prints each node's peers with their round-trip
// times, then has node 2 subscribe to "sensors.*" and receive the
// readings node 0 publishes, and node 0 call a procedure that node 1
// provides. It needs no configuration and no server:
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/org/macula"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Three nodes, each on its own free UDP port of 127.0.0.1. They leave
	// the mesh gracefully at the end, all at once.
	var nodes []*macula.Node
	defer func() {
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Go(func() { _ = n.Close() })
		}
		wg.Wait()
	}()
	for i := range 3 {
		n, err := macula.New(macula.WithListenAddr("127.0.0.1:0"))
		if err != nil {
			return fmt.Errorf("start node %d: %w", i, err)
		}
		nodes = append(nodes, n)
		fmt.Printf("node %d  %s  listening on %s\n", i, n.ID().Short(), n.Addr())
	}

	// Node 1 joins node 0; node 2 joins both, naming node 0 by its URI.
	if err := nodes[1].Join(ctx, nodes[0].Addr().String()); err != nil {
		return fmt.Errorf("node 1 join: %w", err)
	}
	if err := nodes[2].Join(ctx, nodes[0].URI()); err != nil {
		return fmt.Errorf("node 2 join: %w", err)
	}
	if err := nodes[2].Join(ctx, nodes[1].Addr().String()); err != nil {
		return fmt.Errorf("node 2 join: %w", err)
	}
	if err := waitConnected(ctx, nodes); err != nil {
		return err
	}

	fmt.Println()
	for i, n := range nodes {
		peers := n.Peers()
		sort.Slice(peers, func(a, b int) bool { return peers[a].ID.Compare(peers[b].ID) < 0 })
		fmt.Printf("node %d (%s) has %d peers:\n", i, n.ID().Short(), len(peers))
		for _, p := range peers {
			rtt, err := n.Ping(ctx, p.ID)
			if err != nil {
				return fmt.Errorf("node %d ping %s: %w", i, p.ID.Short(), err)
			}
			dir := "inbound "
			if p.Outbound {
				dir = "outbound"
			}
			fmt.Printf("  %s  %s  %-15s  ping rtt %v\n", p.ID.Short(), dir, p.RemoteAddr, rtt.Round(time.Microsecond))
		}
	}
	fmt.Println()
	for _, m := range nodes[0].Members() {
		fmt.Printf("member %s  %-5s  %s\n", m.ID.Short(), m.State, m.Addr)
	}
	fmt.Println("\nmesh of 3 nodes connected")
	if err := pubsubDemo(ctx, nodes); err != nil {
		return err
	}
	return rpcDemo(ctx, nodes)
}

// rpcDemo registers "math.add" on node 1 and calls it from node 0, then
// asks node 2 for its health with the built-in procedure.
func rpcDemo(ctx context.Context, nodes []*macula.Node) error {
	reg, err := nodes[1].Register(ctx, "math.add", func(_ context.Context, inv *macula.Invocation) (any, error) {
		var xs []int
		if err := inv.Decode(&xs); err != nil {
			return nil, macula.Errorf(macula.CodeInvalidArgument, "want a list of numbers: %v", err)
		}
		sum := 0
		for _, x := range xs {
			sum += x
		}
		return sum, nil
	})
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	defer func() { _ = reg.Unregister() }()
	fmt.Println("\nnode 1 registered \"math.add\"")
	reply, err := nodes[0].Call(ctx, "math.add", []int{19, 23})
	if err != nil {
		return fmt.Errorf("call math.add: %w", err)
	}
	var sum int
	if err := reply.Decode(&sum); err != nil {
		return fmt.Errorf("decode reply: %w", err)
	}
	fmt.Printf("node 0 called math.add([19 23]) = %d, answered by %s\n", sum, reply.Provider.Short())

	reply, err = nodes[0].CallTo(ctx, nodes[2].ID(), macula.HealthProcedure, nil)
	if err != nil {
		return fmt.Errorf("call %s: %w", macula.HealthProcedure, err)
	}
	var h macula.Health
	if err := reply.Decode(&h); err != nil {
		return fmt.Errorf("decode health: %w", err)
	}
	fmt.Printf("node 2 health: %s, realm %s, version %s, up %.1f s\n", h.NodeID.Short(), h.Realm, h.Version, h.Uptime)
	return nil
}

// reading is the payload of the demo's sensor events, sent as JSON.
type reading struct {
	Sensor string  `json:"sensor"`
	Value  float64 `json:"value"`
}

// pubsubDemo subscribes node 2 to "sensors.*" and publishes three
// readings from node 0, at least once, so that each Publish returns only
// after node 2's handler ran.
func pubsubDemo(ctx context.Context, nodes []*macula.Node) error {
	got := make(chan string, 3)
	sub, err := nodes[2].Subscribe(ctx, "sensors.*", func(_ context.Context, ev *macula.Event) {
		var r reading
		if err := ev.Decode(&r); err != nil {
			got <- "bad payload: " + err.Error()
			return
		}
		got <- fmt.Sprintf("node 2 got %s = %.1f from %s", ev.Topic, r.Value, ev.Publisher.Short())
	})
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	fmt.Printf("\nnode 2 subscribed to %q\n", sub.Pattern())
	for _, r := range []reading{{"temp", 21.5}, {"humidity", 40}, {"co2", 412}} {
		if err := nodes[0].Publish(ctx, "sensors."+r.Sensor, r, macula.WithQoS(macula.AtLeastOnce)); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		fmt.Printf("node 0 published sensors.%s\n", r.Sensor)
	}
	for range 3 {
		select {
		case line := <-got:
			fmt.Println(line)
		case <-ctx.Done():
			return fmt.Errorf("readings did not arrive: %w", ctx.Err())
		}
	}
	return nil
}

// waitConnected waits until every node is connected to the two others and
// counts all three as members.
func waitConnected(ctx context.Context, nodes []*macula.Node) error {
	for {
		done := true
		for _, n := range nodes {
			if len(n.Peers()) != len(nodes)-1 || len(n.Members()) != len(nodes) {
				done = false
			}
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("mesh did not connect: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}
