package lifecycle

import (
	"context"
	"sync"
	"sync/atomic"
)

// stopBit marks, in Group.state, that stopping has begun; the bits below
// count the work in flight. One word for both makes "refuse once stopping"
// and "count this one" a single compare-and-swap, so a start can never
// slip in between a Stop and the Wait after it (the race a sync.WaitGroup
// with a separate closing flag needs a lock to avoid), and the check costs
// no lock on hot paths such as serving one RPC call.
const stopBit = 1 << 62

// Group owns a set of goroutines and other counted work. Its zero value
// is ready to use, and it must not be copied after first use. Every
// method is safe for concurrent use.
type Group struct {
	state atomic.Int64

	mu     sync.Mutex
	ctx    context.Context // made on first use
	cancel context.CancelFunc
	done   chan struct{} // closed once stopped and idle; made on first use
}

// Go runs f on a new goroutine owned by g and reports true, or, once
// stopping has begun, does not run f and reports false. A caller that
// prepared something for f (a stream, a reservation) releases it itself
// when Go reports false.
func (g *Group) Go(f func()) bool {
	if !g.Add() {
		return false
	}
	go func() {
		defer g.Done()
		f()
	}()
	return true
}

// Add counts one piece of work that runs on the caller's goroutine, so
// that Wait waits for it, and reports true; once stopping has begun it
// counts nothing and reports false. Call Done when the work ends.
func (g *Group) Add() bool {
	for {
		s := g.state.Load()
		if s&stopBit != 0 {
			return false
		}
		if g.state.CompareAndSwap(s, s+1) {
			return true
		}
	}
}

// Done ends one piece of work counted by Add (Go calls it for its
// goroutines). Calling it more often than Add succeeded is a bug in the
// owner, reported by a panic as sync.WaitGroup does.
func (g *Group) Done() {
	s := g.state.Add(-1)
	// One Done too many takes the count below zero: negative without the
	// stop bit, or, with it, borrowing it away into a count no program
	// reaches (half of the bits below it).
	if s < 0 || s&^stopBit >= stopBit/2 {
		panic("lifecycle: Done without a matching Add")
	}
	if s == stopBit {
		g.closeDone()
	}
}

// Stop begins stopping: from now on Go and Add refuse, and the Context
// ends. Work already started goes on; Wait waits for it. Stop does not
// block, may be called any number of times, and reports whether this call
// was the one that began stopping.
func (g *Group) Stop() bool {
	s := g.state.Load()
	for s&stopBit == 0 {
		if g.state.CompareAndSwap(s, s|stopBit) {
			g.mu.Lock()
			cancel := g.cancel
			g.mu.Unlock()
			if cancel != nil {
				cancel()
			}
			if s == 0 {
				g.closeDone()
			}
			return true
		}
		s = g.state.Load()
	}
	return false
}

// Stopping reports whether Stop has been called.
func (g *Group) Stopping() bool { return g.state.Load()&stopBit != 0 }

// Context returns a context that ends when Stop is called (at once if it
// has been), for the owned work to watch.
func (g *Group) Context() context.Context {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ctx == nil {
		g.ctx, g.cancel = context.WithCancel(context.Background())
		// A Stop that ran before the context existed found no cancel to
		// call.
		if g.Stopping() {
			g.cancel()
		}
	}
	return g.ctx
}

// Wait blocks until stopping has begun and every goroutine and piece of
// work of g has ended. Owned work must not call Wait: it would wait for
// itself.
func (g *Group) Wait() {
	<-g.doneChan()
}

// StopAndWait is Stop followed by Wait.
func (g *Group) StopAndWait() {
	g.Stop()
	g.Wait()
}

func (g *Group) doneChan() chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done == nil {
		g.done = make(chan struct{})
	}
	return g.done
}

// closeDone runs exactly once: when the state reaches "stopping, nothing
// in flight", which no Add can leave.
func (g *Group) closeDone() {
	close(g.doneChan())
}
