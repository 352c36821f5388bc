package scale

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/org/macula"
)

const (
	// scaleTopic and scaleProcedure are what Messaging subscribes to and
	// registers.
	scaleTopic     = "scale.events"
	scaleProcedure = "scale.echo"
	// DefaultOpTimeout is Config.OpTimeout's default.
	DefaultOpTimeout = 10 * time.Second
	// probeTimeout bounds one probe Publish: a probe only finds out which
	// subscribers the publisher knows, so a slow one is retried rather
	// than waited for.
	probeTimeout = 2 * time.Second
	// probeBound bounds how long the publisher may take to learn every
	// subscription.
	probeBound = 30 * time.Second
	// probeRetry is the pause before the next probe when the last one did
	// not reach every subscriber: time for the publisher's directory
	// watch to bring in the missing subscription records.
	probeRetry = 100 * time.Millisecond
	// maxLogged bounds how many failures of one kind are logged.
	maxLogged = 3
)

// Messaging exercises pub/sub and RPC across the mesh through the nodes'
// public API only, and fills the PubSub and RPC figures of res.
//
// Pub/sub: Config.Subscribers distinct random nodes subscribe to a topic.
// Another random node then publishes at-least-once probe events until
// every subscriber has seen one (at most 30 s), since a subscription
// reaches a publisher through the DHT and an at-least-once Publish only
// waits for the subscribers the publisher knows of. Then it publishes
// Config.Events numbered at-least-once events, one after another, and
// Messaging waits (up to 10 s more) for every subscriber to have seen
// every event.
//
// RPC: one random node registers a procedure that echoes its arguments,
// and Config.Calls sequential calls from random other nodes must come back
// from it with their arguments.
//
// Missing deliveries and failed calls are counted in res, not returned;
// the error says that a part could not run (a Subscribe or Register
// failed, the publisher never learned every subscription, ctx ended).
// Both parts run even when the first fails. At the end it reads
// res.AfterMessaging.
func (m *Mesh) Messaging(ctx context.Context, res *Result) error {
	if len(m.Nodes) < 2 {
		return errors.New("scale: messaging needs at least 2 nodes")
	}
	err := errors.Join(m.pubSub(ctx, res), m.rpc(ctx, res))
	res.AfterMessaging = m.footprint()
	return err
}

// deliveries records what each subscriber's handler was given.
type deliveries struct {
	mu       sync.Mutex
	probed   []bool  // by subscriber: saw a probe
	nprobed  int     // subscribers that saw a probe
	seen     [][]int // by subscriber and event: handler calls
	distinct int     // (subscriber, event) pairs seen at least once
	calls    int     // handler calls for numbered events
	last     time.Time
	// allProbed closes when every subscriber saw a probe, all when every
	// subscriber saw every event.
	allProbed, all chan struct{}
}

func newDeliveries(subscribers, events int) *deliveries {
	d := &deliveries{
		probed:    make([]bool, subscribers),
		seen:      make([][]int, subscribers),
		allProbed: make(chan struct{}),
		all:       make(chan struct{}),
	}
	for i := range d.seen {
		d.seen[i] = make([]int, events)
	}
	return d
}

// handler returns subscriber sub's event handler. Payloads are "p<n>"
// for the n-th probe and "e<i>" for event i.
func (d *deliveries) handler(sub int) func(context.Context, *macula.Event) {
	return func(_ context.Context, ev *macula.Event) {
		if len(ev.Data) < 2 {
			return
		}
		i, err := strconv.Atoi(string(ev.Data[1:]))
		if err != nil {
			return
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		switch ev.Data[0] {
		case 'p':
			if !d.probed[sub] {
				d.probed[sub] = true
				d.nprobed++
				if d.nprobed == len(d.probed) {
					close(d.allProbed)
				}
			}
		case 'e':
			if i < 0 || i >= len(d.seen[sub]) {
				return
			}
			d.calls++
			d.seen[sub][i]++
			if d.seen[sub][i] == 1 {
				d.distinct++
				d.last = time.Now()
				if d.distinct == len(d.seen)*len(d.seen[sub]) {
					close(d.all)
				}
			}
		}
	}
}

// pubSub runs the pub/sub part of Messaging.
func (m *Mesh) pubSub(ctx context.Context, res *Result) error {
	nsubs, nevents := m.cfg.Subscribers, m.cfg.Events
	perm := m.rng.Perm(len(m.Nodes))
	subs, pub := perm[:nsubs], m.Nodes[perm[nsubs]]
	res.PubSubSubscribers, res.PubSubEvents, res.PubSubExpected = nsubs, nevents, nsubs*nevents
	d := newDeliveries(nsubs, nevents)

	var subscriptions []*macula.Subscription
	// Unsubscribing withdraws each record from the DHT, with an internal
	// bound; done concurrently so that it costs one such bound at most.
	defer func() {
		var wg sync.WaitGroup
		for _, s := range subscriptions {
			wg.Go(func() {
				if err := s.Unsubscribe(); err != nil {
					m.logf("unsubscribe: %v", err)
				}
			})
		}
		wg.Wait()
	}()
	for i, ni := range subs {
		sctx, cancel := context.WithTimeout(ctx, m.cfg.OpTimeout)
		s, err := m.Nodes[ni].Subscribe(sctx, scaleTopic, d.handler(i))
		cancel()
		if err != nil {
			return fmt.Errorf("scale: subscribing on node %s: %w", m.Nodes[ni].ID().Short(), err)
		}
		subscriptions = append(subscriptions, s)
	}

	atLeastOnce := macula.WithQoS(macula.AtLeastOnce)
	probeStart := time.Now()
	for probed := false; !probed; {
		res.PubSubProbes++
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		err := pub.Publish(pctx, scaleTopic, []byte("p"+strconv.Itoa(res.PubSubProbes)), atLeastOnce)
		cancel()
		if err != nil && res.PubSubProbes <= maxLogged {
			m.logf("probe %d: %v", res.PubSubProbes, err)
		}
		// An at-least-once Publish returns once every subscriber node the
		// publisher knows of has run its handlers: if a subscriber has
		// still not seen a probe, the publisher does not know it yet.
		select {
		case <-d.allProbed:
			probed = true
			continue
		default:
		}
		if time.Since(probeStart) > probeBound {
			d.mu.Lock()
			n := d.nprobed
			d.mu.Unlock()
			return fmt.Errorf("scale: after %d probes in %v the publisher reached %d of %d subscribers",
				res.PubSubProbes, probeBound, n, nsubs)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-d.allProbed:
			probed = true
		case <-time.After(probeRetry):
		}
	}
	if res.PubSubProbes > 1 {
		m.logf("the publisher reached every subscriber after %d probes (%v)", res.PubSubProbes, time.Since(probeStart).Round(time.Millisecond))
	}

	start := time.Now()
	for i := range nevents {
		pctx, cancel := context.WithTimeout(ctx, m.cfg.OpTimeout)
		err := pub.Publish(pctx, scaleTopic, []byte("e"+strconv.Itoa(i)), atLeastOnce)
		cancel()
		if err != nil {
			res.PubSubPublishErrors++
			if res.PubSubPublishErrors <= maxLogged {
				m.logf("publish %d: %v", i, err)
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	// Every Publish that succeeded already waited for its deliveries; this
	// waits for those of failed ones that may still come.
	complete := true
	select {
	case <-d.all:
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(m.cfg.OpTimeout):
		complete = false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	res.PubSubDelivered, res.PubSubDuplicates = d.distinct, d.calls-d.distinct
	if complete {
		res.PubSubTook = d.last.Sub(start)
	} else {
		res.PubSubTook = time.Since(start)
	}
	return nil
}

// rpc runs the RPC part of Messaging.
func (m *Mesh) rpc(ctx context.Context, res *Result) error {
	pi := m.rng.IntN(len(m.Nodes))
	provider := m.Nodes[pi]
	rctx, cancel := context.WithTimeout(ctx, m.cfg.OpTimeout)
	reg, err := provider.Register(rctx, scaleProcedure, func(_ context.Context, inv *macula.Invocation) (any, error) {
		// A copy: the handler must not keep Args after it returns.
		return bytes.Clone(inv.Args), nil
	})
	cancel()
	if err != nil {
		return fmt.Errorf("scale: registering on node %s: %w", provider.ID().Short(), err)
	}
	defer func() {
		if err := reg.Unregister(); err != nil {
			m.logf("unregister: %v", err)
		}
	}()

	res.RPCCalls = m.cfg.Calls
	var latencies []time.Duration
	failed := 0
	for i := range m.cfg.Calls {
		ci := m.rng.IntN(len(m.Nodes) - 1)
		if ci >= pi {
			ci++ // any node but the provider
		}
		args := []byte("call " + strconv.Itoa(i))
		cctx, cancel := context.WithTimeout(ctx, m.cfg.OpTimeout)
		start := time.Now()
		reply, err := m.Nodes[ci].Call(cctx, scaleProcedure, args)
		took := time.Since(start)
		cancel()
		switch {
		case err != nil:
			err = fmt.Errorf("call %d from node %s: %w", i, m.Nodes[ci].ID().Short(), err)
		case reply.Provider != provider.ID():
			err = fmt.Errorf("call %d answered by node %s, not the provider %s", i, reply.Provider.Short(), provider.ID().Short())
		case !bytes.Equal(reply.Data, args):
			err = fmt.Errorf("call %d: reply %q, want %q", i, reply.Data, args)
		}
		if err != nil {
			if failed++; failed <= maxLogged {
				m.logf("%v", err)
			}
		} else {
			latencies = append(latencies, took)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	res.RPCOK = len(latencies)
	if len(latencies) > 0 {
		slices.Sort(latencies)
		res.RPCMedian, res.RPCMax = latencies[len(latencies)/2], latencies[len(latencies)-1]
	}
	return nil
}
