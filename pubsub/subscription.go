package pubsub

import (
	"context"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
)

// delivery is one event waiting in a subscription's queue; done, when
// set, is called once the handler has returned (or the subscription
// ended by Unsubscribe).
type delivery struct {
	ev   *Event
	done *completion
}

// completion calls fn once its count of pending handlers reaches zero.
type completion struct {
	left atomic.Int32
	fn   func()
}

func (c *completion) finish() {
	if c != nil && c.left.Add(-1) == 0 {
		c.fn()
	}
}

// Subscription is one subscriber's interest in a pattern, made by
// [Service.Subscribe]. Its handler runs on its own goroutine.
type Subscription struct {
	svc     *Service
	id      uint64
	pattern string
	group   string
	fn      Handler

	queue   chan delivery
	dropped atomic.Uint64
	handled atomic.Uint64

	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
	// settle is set when the subscription ends by Unsubscribe: queued
	// at-least-once events then count as handled.
	settle atomic.Bool
}

// Pattern is the subscribed pattern.
func (s *Subscription) Pattern() string { return s.pattern }

// QueueGroup is the subscription's queue group, empty for none.
func (s *Subscription) QueueGroup() string { return s.group }

// Dropped is the number of at-most-once events dropped because the
// subscription's queue was full.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Delivered is the number of events its handler has been given.
func (s *Subscription) Delivered() uint64 { return s.handled.Load() }

// Unsubscribe ends the subscription: no event reaches its handler after
// Unsubscribe returns except the one it may be running; events still
// queued are discarded (at-least-once ones count as handled, since the
// subscriber chose to leave). It updates this node's subscription record
// so that publishers stop sending, bounded by an internal timeout, and
// returns that update's error. Calling it again returns nil.
func (s *Subscription) Unsubscribe() error {
	first := false
	s.once.Do(func() { first = true })
	if !first {
		return nil
	}
	return s.svc.unsubscribe(s)
}

// run is the subscription's goroutine: it hands queued events to the
// handler until the subscription ends, then settles what is left.
func (s *Subscription) run() {
	defer s.drain()
	for {
		select {
		case d := <-s.queue:
			if s.ctx.Err() != nil {
				s.settleOne(d)
				return
			}
			s.handle(d)
		case <-s.ctx.Done():
			return
		}
	}
}

// handle runs the handler on one delivery, recovering a panic so that one
// bad event does not end the subscription.
func (s *Subscription) handle(d delivery) {
	defer d.done.finish()
	defer func() {
		if r := recover(); r != nil {
			s.svc.log.Error("pubsub handler panicked", zap.String("pattern", s.pattern), zap.Any("panic", r))
		}
	}()
	s.handled.Add(1)
	s.fn(s.ctx, d.ev)
}

// stop ends the subscription; with settle, queued at-least-once events
// count as handled. It does not wait for a running handler, so a handler
// may unsubscribe itself.
func (s *Subscription) stop(settle bool) {
	s.settle.Store(settle)
	s.cancel()
}

// drain empties the queue after the subscription ended.
func (s *Subscription) drain() {
	for {
		select {
		case d := <-s.queue:
			s.settleOne(d)
		default:
			return
		}
	}
}

func (s *Subscription) settleOne(d delivery) {
	if s.settle.Load() {
		d.done.finish()
	}
}
