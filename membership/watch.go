package membership

import (
	"context"
	"sync"
)

// watcher queues events for one Watch call without ever blocking
// memberlist: the queue is unbounded, and its goroutine feeds the channel.
type watcher struct {
	mu     sync.Mutex
	queue  []Event
	signal chan struct{}
}

func (w *watcher) push(ev Event) {
	w.mu.Lock()
	w.queue = append(w.queue, ev)
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

func (w *watcher) pop() (Event, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == 0 {
		return Event{}, false
	}
	ev := w.queue[0]
	w.queue = w.queue[1:]
	return ev, true
}

// Watch returns a channel that receives every membership change from now
// on, in order, until ctx ends or the Membership closes; then the channel
// is closed. A slow reader delays only its own events.
func (m *Membership) Watch(ctx context.Context) <-chan Event {
	out := make(chan Event)
	w := &watcher{signal: make(chan struct{}, 1)}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		close(out)
		return out
	}
	m.watchers[w] = struct{}{}
	m.mu.Unlock()
	if !m.life.Go(func() {
		defer close(out)
		defer func() {
			m.mu.Lock()
			delete(m.watchers, w)
			m.mu.Unlock()
		}()
		for {
			ev, ok := w.pop()
			if !ok {
				select {
				case <-w.signal:
					continue
				case <-ctx.Done():
					return
				case <-m.ctx.Done():
					return
				}
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			case <-m.ctx.Done():
				return
			}
		}
	}) {
		// Close has begun since the check above: the watch ends at once.
		m.mu.Lock()
		delete(m.watchers, w)
		m.mu.Unlock()
		close(out)
	}
	return out
}
