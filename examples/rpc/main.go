// Command rpc shows remote procedure calls on four Macula nodes in one
// process on 127.0.0.1: three providers of "greeter.hello", calls spread
// by the load-balancing policies, a handler's typed error, a deadline, and
// the error for a procedure nobody provides. Run it with:
//
//	go run ./examples/rpc
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/org/macula"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "rpc:", err)
		os.Exit(1)
	}
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
		opts := []macula.Option{macula.WithListenAddr("127.0.0.1:0")}
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

	// Nodes 1..3 provide greeter.hello; it answers with the provider's
	// name, and refuses an empty name with a typed error.
	for i, n := range nodes[1:] {
		name := fmt.Sprintf("provider-%d", i+1)
		_, err := n.Register(ctx, "greeter.hello", func(_ context.Context, inv *macula.Invocation) (any, error) {
			var who string
			if err := inv.Decode(&who); err != nil || who == "" {
				return nil, macula.Errorf(macula.CodeInvalidArgument, "say who to greet")
			}
			return fmt.Sprintf("hello %s from %s", who, name), nil
		})
		if err != nil {
			return fmt.Errorf("register on node %d: %w", i+1, err)
		}
	}
	if _, err := nodes[3].Register(ctx, "clock.slow", func(ctx context.Context, _ *macula.Invocation) (any, error) {
		select {
		case <-time.After(time.Minute):
			return "late", nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}); err != nil {
		return fmt.Errorf("register clock.slow: %w", err)
	}

	for _, p := range []macula.Policy{macula.RoundRobin, macula.Random, macula.LeastLatency} {
		counts := map[string]int{}
		for range 9 {
			reply, err := nodes[0].Call(ctx, "greeter.hello", "ada", macula.WithPolicy(p))
			if err != nil {
				return fmt.Errorf("call (%s): %w", p, err)
			}
			var text string
			if err := reply.Decode(&text); err != nil {
				return err
			}
			counts[text[strings.LastIndex(text, " ")+1:]]++
		}
		fmt.Fprintf(out, "%-13s 9 calls: %s\n", p, format(counts))
		if p == macula.RoundRobin && len(counts) != 3 {
			return fmt.Errorf("round robin reached %d providers, want 3", len(counts))
		}
	}

	_, err := nodes[0].Call(ctx, "greeter.hello", "", macula.WithPolicy(macula.RoundRobin))
	var re *macula.RemoteError
	if !errors.As(err, &re) {
		return fmt.Errorf("want a remote error, got %v", err)
	}
	fmt.Fprintf(out, "handler error %s: %s\n", re.Code, re.Message)

	// LocalFirst (the default) prefers this node's own handler.
	if _, err := nodes[0].Register(ctx, "greeter.hello", func(context.Context, *macula.Invocation) (any, error) {
		return "hello from node 0 itself", nil
	}); err != nil {
		return err
	}
	reply, err := nodes[0].Call(ctx, "greeter.hello", "ada")
	if err != nil {
		return err
	}
	var text string
	_ = reply.Decode(&text)
	fmt.Fprintf(out, "local-first   %s\n", text)

	short, stop := context.WithTimeout(ctx, 200*time.Millisecond)
	defer stop()
	_, err = nodes[0].Call(short, "clock.slow", nil)
	fmt.Fprintf(out, "deadline      timeout=%v (%v)\n", errors.Is(err, macula.ErrTimeout), err)
	if !errors.Is(err, macula.ErrTimeout) {
		return fmt.Errorf("want a timeout, got %v", err)
	}

	_, err = nodes[0].Call(ctx, "greeter.goodbye", "ada")
	fmt.Fprintf(out, "no provider   %v\n", errors.Is(err, macula.ErrNoProvider))
	if !errors.Is(err, macula.ErrNoProvider) {
		return fmt.Errorf("want ErrNoProvider, got %v", err)
	}
	return nil
}

// format prints counts sorted by name.
func format(counts map[string]int) string {
	names := make([]string, 0, len(counts))
	for n := range counts {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s=%d", n, counts[n])
	}
	return strings.Join(parts, " ")
}
