package benchmarks

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// Subjects the NATS workloads use.
const (
	natsSubject = "bench.data"
	natsService = "bench.echo"
)

// natsPubSub publishes msgs messages of size bytes on one connection to
// subs subscriber connections of s and counts the deliveries. The
// subscriptions' client-side pending limits are lifted, as Macula's
// queues are sized to the run; drops are counted all the same.
func natsPubSub(ctx context.Context, s *natsServer, subs, size, msgs int) (Result, error) {
	conns, err := s.connectN(subs + 1)
	if err != nil {
		return Result{}, err
	}
	defer closeAll(conns)
	pub := conns[0]
	counters := make([]*counter, subs)
	warm := make([]atomic.Bool, subs)
	subscriptions := make([]*nats.Subscription, subs)
	for i, nc := range conns[1:] {
		c := newCounter(size, int64(msgs))
		counters[i] = c
		w := &warm[i]
		sub, err := nc.Subscribe(natsSubject, func(m *nats.Msg) {
			if len(m.Data) != size {
				w.Store(true)
				return
			}
			c.add(len(m.Data))
		})
		if err != nil {
			return Result{}, fmt.Errorf("nats subscribe: %w", err)
		}
		if err := sub.SetPendingLimits(-1, -1); err != nil {
			return Result{}, fmt.Errorf("nats pending limits: %w", err)
		}
		if err := nc.Flush(); err != nil {
			return Result{}, fmt.Errorf("nats flush: %w", err)
		}
		subscriptions[i] = sub
	}
	for {
		if err := pub.Publish(natsSubject, []byte("warm")); err != nil {
			return Result{}, fmt.Errorf("nats warm-up publish: %w", err)
		}
		if err := pub.Flush(); err != nil {
			return Result{}, fmt.Errorf("nats flush: %w", err)
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
			return Result{}, fmt.Errorf("nats subscribers never received: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	time.Sleep(50 * time.Millisecond)
	dropped := func() int64 {
		var d int64
		for _, sub := range subscriptions {
			n, _ := sub.Dropped()
			d += int64(n)
		}
		return d
	}
	droppedBefore := dropped()

	payload := make([]byte, size)
	allocs := startAllocs()
	start := time.Now()
	for i := range msgs {
		if err := pub.Publish(natsSubject, payload); err != nil {
			return Result{}, fmt.Errorf("nats publish: %w", err)
		}
		if i%4096 == 0 && ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
	}
	if err := pub.Flush(); err != nil {
		return Result{}, fmt.Errorf("nats flush: %w", err)
	}
	delivered, drops, end, err := waitDeliveries(ctx, counters, func() int64 { return dropped() - droppedBefore })
	mallocs := allocs.stop()
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

// natsRPCPair opens a caller and a responder connection; the responder
// answers natsService with the request's data.
func natsRPCPair(s *natsServer) (caller *nats.Conn, closeFn func(), err error) {
	conns, err := s.connectN(2)
	if err != nil {
		return nil, nil, err
	}
	responder := conns[1]
	if _, err := responder.Subscribe(natsService, func(m *nats.Msg) { _ = m.Respond(m.Data) }); err != nil {
		closeAll(conns)
		return nil, nil, fmt.Errorf("nats responder: %w", err)
	}
	if err := responder.Flush(); err != nil {
		closeAll(conns)
		return nil, nil, fmt.Errorf("nats flush: %w", err)
	}
	return conns[0], func() { closeAll(conns) }, nil
}

// natsRequest makes one request and checks the echoed size.
func natsRequest(ctx context.Context, nc *nats.Conn, data []byte) error {
	m, err := nc.RequestWithContext(ctx, natsService, data)
	if err != nil {
		return fmt.Errorf("nats request: %w", err)
	}
	if len(m.Data) != len(data) {
		return fmt.Errorf("nats request: reply of %d bytes, want %d", len(m.Data), len(data))
	}
	return nil
}

// natsRequestLatency makes calls sequential requests of size bytes and
// records each one's latency.
func natsRequestLatency(ctx context.Context, s *natsServer, size, calls int) (Result, error) {
	caller, closeFn, err := natsRPCPair(s)
	if err != nil {
		return Result{}, err
	}
	defer closeFn()
	data := make([]byte, size)
	if err := natsRequest(ctx, caller, data); err != nil { // warm-up
		return Result{}, err
	}
	return measureSequential(calls, func() error { return natsRequest(ctx, caller, data) })
}

// natsRequestConcurrent makes calls requests of size bytes from callers
// goroutines sharing one connection and measures the rate.
func natsRequestConcurrent(ctx context.Context, s *natsServer, size, callers, calls int) (Result, error) {
	caller, closeFn, err := natsRPCPair(s)
	if err != nil {
		return Result{}, err
	}
	defer closeFn()
	if err := natsRequest(ctx, caller, make([]byte, size)); err != nil {
		return Result{}, err
	}
	return measureConcurrent(ctx, callers, calls, size, func(ctx context.Context, data []byte) error {
		return natsRequest(ctx, caller, data)
	})
}
