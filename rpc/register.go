package rpc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	"github.com/org/macula/protocol"
	"github.com/org/macula/routing"
	"github.com/org/macula/topic"
)

// Handler serves calls of a procedure. It runs on its own goroutine, one
// per call, so handlers run concurrently (see [WithMaxConcurrent]). ctx
// carries the caller's deadline and ends when the caller gives up, when
// the caller's connection is lost, or when the Service closes (for a
// cast: only when the Service closes). The returned value is the result,
// encoded by the payload rule ([]byte as is, a proto.Message as protobuf,
// anything else as JSON); a non-nil error reaches the caller as a
// [*RemoteError] (see [Errorf]). A panic is recovered and reported as
// protocol.CodeInternal; the node keeps serving.
type Handler func(ctx context.Context, inv *Invocation) (any, error)

// Registration is one handler registered for a procedure; end it with
// Unregister.
type Registration struct {
	svc     *Service
	name    string
	entry   *procEntry // nil for built-in procedures
	handler Handler
	limit   int // 0: no limit
	running atomic.Int64
}

// procEntry is one procedure this node provides, with its local
// registrations and the state of its provider record.
type procEntry struct {
	name string
	next atomic.Uint64 // round-robin among regs

	// Under Service.mu:
	regs    []*Registration
	pending int // Register and Unregister calls still working on the entry

	// opMu serialises the record's Put and Remove; published is under it.
	opMu      sync.Mutex
	published bool
}

// Procedure returns the registered procedure's name.
func (r *Registration) Procedure() string { return r.name }

// Register serves procedure on this node with h until the registration's
// Unregister or the Service's Close. The first local handler of a
// procedure publishes this node's provider record in the DHT (ctx bounds
// that, and only that); more handlers of the same procedure share the
// record, and calls that land on this node go to them in turn.
//
// The name must be valid ([ErrInvalidProcedure], which matches
// topic.ErrInvalidTopic too) and must not start with '_' ([ErrReservedProcedure]);
// h must not be nil ([ErrInvalidHandler]). Other errors are the DHT's
// (e.g. routing.ErrNoPeers) or ctx's; nothing stays registered then.
func (s *Service) Register(ctx context.Context, procedure string, h Handler, opts ...RegisterOption) (*Registration, error) {
	if err := checkProcedure(procedure); err != nil {
		return nil, err
	}
	if topic.IsReserved(procedure) {
		return nil, fmt.Errorf("%w: %q", ErrReservedProcedure, procedure)
	}
	if h == nil {
		return nil, fmt.Errorf("%w: procedure %q", ErrInvalidHandler, procedure)
	}
	var o registerOptions
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if s.isClosed() {
		return nil, ErrClosed
	}
	r := &Registration{svc: s, name: procedure, handler: h, limit: o.maxConcurrent}
	s.mu.Lock()
	e := s.procs[procedure]
	if e == nil {
		e = &procEntry{name: procedure}
		s.procs[procedure] = e
	}
	r.entry = e
	e.regs = append(e.regs, r)
	e.pending++
	s.mu.Unlock()
	defer s.release(e)

	err := s.reconcile(ctx, e)
	if err == nil {
		return r, nil
	}
	s.mu.Lock()
	e.regs = slices.DeleteFunc(e.regs, func(x *Registration) bool { return x == r })
	s.mu.Unlock()
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.UnregisterTimeout)
	defer cancel()
	if err2 := s.reconcile(cctx, e); err2 != nil {
		s.log.Debug("withdrawing provider record after failed register", zapProc(procedure), zapErr(err2))
	}
	return nil, fmt.Errorf("macula: register %s: %w", procedure, err)
}

// Unregister stops the handler from receiving new calls; calls already
// running finish. When it was the procedure's last handler on this node,
// the provider record is withdrawn from the DHT (bounded by
// [Config].UnregisterTimeout), and other nodes stop calling this one as
// soon as their watches learn of it. Unregister is idempotent; after the
// Service's Close it does nothing and returns nil. An error means the
// record's withdrawal did not reach the DHT: the handler is gone anyway,
// and callers that still try this node fail over.
func (r *Registration) Unregister() error {
	s := r.svc
	if r.entry == nil {
		return nil
	}
	e := r.entry
	s.mu.Lock()
	i := slices.Index(e.regs, r)
	if i < 0 {
		s.mu.Unlock()
		return nil
	}
	e.regs = slices.Delete(e.regs, i, i+1)
	e.pending++
	s.mu.Unlock()
	defer s.release(e)
	if s.isClosed() {
		return nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.UnregisterTimeout)
	defer cancel()
	if err := s.reconcile(ctx, e); err != nil {
		if s.isClosed() {
			return nil
		}
		return fmt.Errorf("macula: unregister %s: %w", r.name, err)
	}
	return nil
}

// release ends a Register or Unregister's work on e, and forgets e when
// nothing is left of it.
func (s *Service) release(e *procEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.pending--
	if e.pending == 0 && len(e.regs) == 0 && s.procs[e.name] == e {
		delete(s.procs, e.name)
	}
}

// reconcile makes e's provider record match its registrations: Put when
// there are handlers and no record, Remove when there is a record and no
// handlers. Register and Unregister change the registrations first and
// then reconcile, one at a time per entry, so the last one to run sees
// the final state.
func (s *Service) reconcile(ctx context.Context, e *procEntry) error {
	e.opMu.Lock()
	defer e.opMu.Unlock()
	s.mu.RLock()
	want := len(e.regs) > 0
	s.mu.RUnlock()
	switch {
	case want && !e.published:
		value, err := proto.Marshal(&protocol.Provider{Procedure: e.name, Addrs: s.cfg.Addrs})
		if err != nil {
			return err
		}
		rec, err := s.cfg.Records.NewRecord(routing.KindRPC, e.name, value)
		if err != nil {
			return err
		}
		// The DHT remembers a record even when its first Put fails, to
		// republish it later; Remove must then withdraw it.
		e.published = true
		return s.cfg.Records.Put(ctx, rec)
	case !want && e.published:
		e.published = false
		err := s.cfg.Records.Remove(ctx, routing.KindRPC, e.name)
		if errors.Is(err, routing.ErrNotFound) {
			return nil
		}
		return err
	}
	return nil
}

// hasLocal reports whether this node serves procedure.
func (s *Service) hasLocal(procedure string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, ok := s.builtin[procedure]; ok {
		return true
	}
	e := s.procs[procedure]
	return e != nil && len(e.regs) > 0
}

// acquire picks a local registration of procedure with room for one more
// invocation, in turn, and takes that room; the caller must call release
// on it. It fails with a *RemoteError: CodeNoProvider when this node does
// not serve procedure, CodeRateLimited when every handler is at its limit.
func (s *Service) acquire(procedure string) (*Registration, *RemoteError) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if r, ok := s.builtin[procedure]; ok {
		r.running.Add(1)
		return r, nil
	}
	e := s.procs[procedure]
	if e == nil || len(e.regs) == 0 {
		return nil, &RemoteError{Code: protocol.CodeNoProvider, Message: "procedure " + procedure + " is not served here", Provider: s.cfg.Self}
	}
	start := e.next.Add(1)
	for i := range e.regs {
		r := e.regs[(int(start%uint64(len(e.regs)))+i)%len(e.regs)]
		if n := r.running.Add(1); r.limit > 0 && n > int64(r.limit) {
			r.running.Add(-1)
			continue
		}
		return r, nil
	}
	return nil, &RemoteError{Code: protocol.CodeRateLimited, Message: "procedure " + procedure + " is at its concurrency limit", Provider: s.cfg.Self}
}

// release gives back the room acquire took.
func (r *Registration) release() { r.running.Add(-1) }

// checkProcedure validates a procedure name: a topic without wildcards.
func checkProcedure(name string) error {
	if err := topic.Validate(name); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidProcedure, err)
	}
	return nil
}
