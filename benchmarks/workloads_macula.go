package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/org/macula"
)

// maculaProcedure is the procedure of the request/reply workloads.
const maculaProcedure = "bench.echo"

// maculaMesh is n Macula nodes in this process on real UDP sockets of
// 127.0.0.1, all bootstrapped from node 0. A comparison starts each mesh
// once and runs every repetition on it, as a service would; closing a
// node takes a second or two (it waits out memberlist's last probe).
type maculaMesh struct {
	nodes []*macula.Node

	echoOnce sync.Once
	echoErr  error
}

// nodeOptions are the options of every benchmark node: a free port of
// 127.0.0.1, and a short graceful leave, since all nodes of a mesh close
// at once and nobody is left to hear it (the default waits 2 s).
func nodeOptions(extra ...macula.Option) []macula.Option {
	return append([]macula.Option{
		macula.WithListenAddr("127.0.0.1:0"),
		macula.WithMembershipConfig(macula.MembershipConfig{LeaveTimeout: 100 * time.Millisecond}),
	}, extra...)
}

// startMaculaMesh starts n nodes and waits until each counts all n as
// members.
func startMaculaMesh(ctx context.Context, n int) (*maculaMesh, error) {
	m := &maculaMesh{}
	first, err := macula.New(nodeOptions()...)
	if err != nil {
		return nil, fmt.Errorf("start macula node 0: %w", err)
	}
	m.nodes = append(m.nodes, first)
	for i := 1; i < n; i++ {
		nd, err := macula.New(nodeOptions(macula.WithBootstrap(first.Addr().String()))...)
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("start macula node %d: %w", i, err)
		}
		m.nodes = append(m.nodes, nd)
	}
	for {
		joined := true
		for _, nd := range m.nodes {
			if len(nd.Members()) != n {
				joined = false
				break
			}
		}
		if joined {
			return m, nil
		}
		select {
		case <-ctx.Done():
			m.Close()
			return nil, fmt.Errorf("macula mesh of %d did not form: %w", n, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Close closes every node, all at once, and waits for them.
func (m *maculaMesh) Close() {
	var wg sync.WaitGroup
	for _, nd := range m.nodes {
		wg.Go(func() { _ = nd.Close() })
	}
	wg.Wait()
}

// maculaPubSub publishes msgs events of size bytes on topic from node 0
// of mesh to all its other nodes, at most once (the default QoS), and
// counts the deliveries. Each subscription's queue holds the whole run
// (WithBuffer), so that a burst is queued rather than dropped; drops are
// counted all the same. The subscriptions end with the run. With prof
// set, the CPU profiler runs during the publishing and delivery and
// writes to prof.
func maculaPubSub(ctx context.Context, mesh *maculaMesh, topic string, size, msgs int, prof io.Writer) (Result, error) {
	subs := len(mesh.nodes) - 1
	pub := mesh.nodes[0]
	counters := make([]*counter, subs)
	warm := make([]atomic.Bool, subs)
	subscriptions := make([]*macula.Subscription, subs)
	for i, nd := range mesh.nodes[1:] {
		c := newCounter(size, int64(msgs))
		counters[i] = c
		w := &warm[i]
		s, err := nd.Subscribe(ctx, topic, func(_ context.Context, ev *macula.Event) {
			if len(ev.Data) != size {
				w.Store(true)
				return
			}
			c.add(len(ev.Data))
		}, macula.WithBuffer(msgs+1024))
		if err != nil {
			return Result{}, fmt.Errorf("macula subscribe: %w", err)
		}
		subscriptions[i] = s
	}
	defer func() {
		for _, s := range subscriptions {
			if s != nil {
				_ = s.Unsubscribe()
			}
		}
	}()
	// Publish until every subscriber has one warm-up event, so that the
	// publisher has found them all and connected to them.
	for {
		if err := pub.Publish(ctx, topic, []byte("warm")); err != nil {
			return Result{}, fmt.Errorf("macula warm-up publish: %w", err)
		}
		ready := true
		for i := range warm {
			if !warm[i].Load() {
				ready = false
			}
		}
		if ready {
			break
		}
		select {
		case <-ctx.Done():
			return Result{}, fmt.Errorf("macula subscribers never received: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	time.Sleep(50 * time.Millisecond) // let the warm-up events drain
	var droppedBefore int64
	for _, s := range subscriptions {
		droppedBefore += int64(s.Dropped())
	}
	dropped := func() int64 {
		var d int64
		for _, s := range subscriptions {
			d += int64(s.Dropped())
		}
		return d - droppedBefore
	}

	payload := make([]byte, size)
	stopProfile, err := startProfile(prof)
	if err != nil {
		return Result{}, err
	}
	defer stopProfile()
	allocs := startAllocs()
	start := time.Now()
	for range msgs {
		if err := pub.Publish(ctx, topic, payload); err != nil {
			return Result{}, fmt.Errorf("macula publish: %w", err)
		}
	}
	delivered, drops, end, err := waitDeliveries(ctx, counters, dropped)
	mallocs := allocs.stop()
	stopProfile()
	if err != nil {
		return Result{}, err
	}
	return Result{
		Expected:  int64(subs) * int64(msgs),
		Delivered: delivered,
		Dropped:   drops,
		Elapsed:   end.Sub(start),
		Mallocs:   mallocs,
	}, nil
}

// echoCaller has node 1 of mesh register maculaProcedure, which returns
// its arguments, the first time it is called, and returns node 0 once a
// call from it to the procedure succeeds.
func (m *maculaMesh) echoCaller(ctx context.Context, size int) (*macula.Node, error) {
	m.echoOnce.Do(func() {
		_, err := m.nodes[1].Register(ctx, maculaProcedure, func(_ context.Context, inv *macula.Invocation) (any, error) {
			return inv.Args, nil
		})
		if err != nil {
			m.echoErr = fmt.Errorf("macula register: %w", err)
		}
	})
	if m.echoErr != nil {
		return nil, m.echoErr
	}
	caller := m.nodes[0]
	args := make([]byte, size)
	for {
		_, err := caller.Call(ctx, maculaProcedure, args)
		if err == nil {
			return caller, nil
		}
		if !errors.Is(err, macula.ErrNoProvider) || ctx.Err() != nil {
			return nil, fmt.Errorf("macula warm-up call: %w", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// maculaCall makes one call and checks the echoed size.
func maculaCall(ctx context.Context, caller *macula.Node, args []byte) error {
	rep, err := caller.Call(ctx, maculaProcedure, args)
	if err != nil {
		return fmt.Errorf("macula call: %w", err)
	}
	if len(rep.Data) != len(args) {
		return fmt.Errorf("macula call: reply of %d bytes, want %d", len(rep.Data), len(args))
	}
	return nil
}

// maculaRequestLatency makes calls sequential calls of size bytes from
// node 0 of mesh to node 1 and records each call's latency.
func maculaRequestLatency(ctx context.Context, mesh *maculaMesh, size, calls int) (Result, error) {
	caller, err := mesh.echoCaller(ctx, size)
	if err != nil {
		return Result{}, err
	}
	args := make([]byte, size)
	return measureSequential(calls, func() error { return maculaCall(ctx, caller, args) })
}

// maculaRequestConcurrent makes calls calls of size bytes from callers
// goroutines on node 0 of mesh to node 1 and measures the rate.
func maculaRequestConcurrent(ctx context.Context, mesh *maculaMesh, size, callers, calls int) (Result, error) {
	caller, err := mesh.echoCaller(ctx, size)
	if err != nil {
		return Result{}, err
	}
	return measureConcurrent(ctx, callers, calls, size, func(ctx context.Context, args []byte) error {
		return maculaCall(ctx, caller, args)
	})
}
