package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
	"github.com/org/macula/transport"
)

var (
	// errProtocol reports a provider that answered out of turn.
	errProtocol = errors.New("macula: rpc protocol violation")
	// errProviderShutdown reports a provider that closed while running
	// an accepted call.
	errProviderShutdown = errors.New("macula: provider shut down during the call")
)

// localResult is what a local handler returned.
type localResult struct {
	data        []byte
	contentType string
	err         *RemoteError
}

// callLocal runs req on this node's handler, in process, on a goroutine
// Close waits for, so that the caller returns when ctx ends even if the
// handler does not.
func (s *Service) callLocal(ctx context.Context, req *request) (*Reply, bool, error) {
	r, rerr := s.acquire(req.procedure)
	if rerr != nil {
		return nil, false, rerr
	}
	inv := &Invocation{Procedure: req.procedure, Args: req.data, ContentType: req.contentType, Caller: s.cfg.Self, Cast: req.cast}
	if req.cast {
		if !s.life.Go(func() {
			defer r.release()
			s.runCast(r, inv)
		}) {
			r.release()
			return nil, false, ErrClosed
		}
		return nil, true, nil
	}
	hctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	done := make(chan localResult, 1) // the handler's goroutine never blocks on it
	if !s.life.Go(func() {
		defer r.release()
		defer cancel()
		defer stop()
		data, ct, rerr := s.runHandler(hctx, r, inv)
		done <- localResult{data: data, contentType: ct, err: rerr}
	}) {
		stop()
		cancel()
		r.release()
		return nil, false, ErrClosed
	}
	select {
	case res := <-done:
		if res.err != nil {
			return nil, true, res.err
		}
		rep := &Reply{Data: res.data, ContentType: res.contentType, Provider: s.cfg.Self}
		if s.cfg.Signer != nil {
			rep.Signer = s.cfg.Self
		}
		return rep, true, nil
	case <-ctx.Done():
		return nil, true, ctx.Err()
	case <-s.ctx.Done():
		return nil, true, ErrClosed
	}
}

// runCast runs a cast's handler with the Service's context, dropping its
// result.
func (s *Service) runCast(r *Registration, inv *Invocation) {
	if _, _, rerr := s.runHandler(s.ctx, r, inv); rerr != nil {
		s.log.Debug("cast handler failed", zapProc(inv.Procedure), zapErr(rerr))
	}
}

// callRemote runs req on the remote provider c over a StreamRPC stream:
// RpcCall out; RpcAccept (or an RpcError refusal) back; then, unless it is
// a cast, RpcResult or RpcError. Until acceptance the attempt is bounded
// by AcceptTimeout; after it, by ctx only. When ctx ends or the Service
// closes, the stream is aborted, which cancels the handler's context on
// the provider.
//
// The stream is an idle one from an earlier call to c when the pool has
// one, and goes back to the pool after a clean answer. A pooled stream
// that fails before the provider can have read the call (the provider
// closed it while it was idle, or its connection went) is replaced by a
// new stream once, transparently.
func (s *Service) callRemote(ctx context.Context, c candidate, req *request) (*Reply, bool, error) {
	now := time.Now()
	acceptBy := now.Add(s.cfg.AcceptTimeout)
	if cs := s.pool.get(c.id, now); cs != nil {
		rep, accepted, stale, err := s.exchange(ctx, cs, c, req, acceptBy)
		if !stale {
			return rep, accepted, err
		}
		s.pool.flush(c.id)
		s.stats.staleStreams.Add(1)
		s.log.Debug("idle rpc stream is gone, calling on a new one", zapProc(req.procedure), zapNode(c.id), zapErr(err))
	}
	cs, err := s.openStream(ctx, c, acceptBy)
	if err != nil {
		return nil, false, err
	}
	rep, accepted, stale, err := s.exchange(ctx, cs, c, req, acceptBy)
	if stale && closedIdle(err) {
		// The provider's connection manager closed the connection as
		// idle while this call's new stream was on its way: each side
		// trims idle connections on its own clock. The provider never
		// read the call, so it is sent once more, on a new connection.
		s.stats.staleStreams.Add(1)
		s.log.Debug("provider closed the connection as idle, calling again", zapProc(req.procedure), zapNode(c.id), zapErr(err))
		if cs, err = s.openStream(ctx, c, acceptBy); err != nil {
			return nil, false, err
		}
		rep, accepted, _, err = s.exchange(ctx, cs, c, req, acceptBy)
	}
	return rep, accepted, err
}

// closedIdle reports whether err is the provider's close of the whole
// connection by its connection manager (code OK): a close that can come
// before the provider read a call, never after it accepted one, since a
// connection with a stream in flight is not idle.
func closedIdle(err error) bool {
	code, ok := transport.ClosedByPeer(err)
	return ok && code == protocol.CodeOK
}

// openStream opens a new call stream to c, connecting first if needed.
func (s *Service) openStream(ctx context.Context, c candidate, acceptBy time.Time) (*callStream, error) {
	if _, ok := s.cfg.Network.Peer(c.id); !ok {
		addrs := c.addrs
		if len(addrs) == 0 {
			addrs = s.resolve(ctx, c.id)
		}
		cctx, cancel := context.WithDeadline(ctx, acceptBy)
		_, err := s.cfg.Network.Connect(cctx, c.id, addrs)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", c.id.Short(), err)
		}
	}
	octx, cancel := context.WithDeadline(ctx, acceptBy)
	st, err := s.cfg.Network.OpenStream(octx, c.id, protocol.StreamRPC)
	cancel()
	if err != nil {
		return nil, err
	}
	cs := newCallStream(st, c.id)
	if !s.pool.begin(cs) {
		st.Abort(protocol.CodeShutdown)
		return nil, ErrClosed
	}
	return cs, nil
}

// exchange runs one call on cs, which the pool has marked busy, and gives
// cs back to the pool: for the next call after a clean answer, closed or
// aborted otherwise. stale reports that cs had carried earlier calls and
// failed before the provider can have read this one: nothing was written,
// or the provider ended the stream without answering (it never does that
// to a call it read), so the call was not accepted.
func (s *Service) exchange(ctx context.Context, cs *callStream, c candidate, req *request, acceptBy time.Time) (rep *Reply, accepted, stale bool, err error) {
	var stop func() bool
	if ctx.Done() != nil {
		cs.abortCtx = ctx
		stop = context.AfterFunc(ctx, cs.abort)
	}
	rep, accepted, stale, reuse, err := s.roundTrip(ctx, cs, c, req, acceptBy)
	if stop != nil {
		if stop() {
			cs.abortCtx = nil
		} else {
			// ctx ended: the stream is being aborted.
			reuse = false
		}
	}
	s.pool.put(cs, reuse, time.Now())
	return rep, accepted, stale, err
}

// roundTrip writes the call on cs and reads the answer. reuse reports a
// stream left clean for another call; when it is false, roundTrip has
// closed or aborted the stream.
func (s *Service) roundTrip(ctx context.Context, cs *callStream, c candidate, req *request, acceptBy time.Time) (rep *Reply, accepted, stale, reuse bool, err error) {
	st := cs.st
	reused := cs.calls > 0
	cs.calls++
	if reused {
		s.stats.reused.Add(1)
	}
	// gone tells whether an error before any answer means the provider
	// cannot have read the call: on a reused stream, or on any stream
	// when the provider closed the connection as idle.
	gone := func(err error, wrote bool) bool {
		if ctx.Err() != nil || s.ctx.Err() != nil {
			return false
		}
		if closedIdle(err) {
			return true
		}
		if !reused {
			return false
		}
		if !wrote {
			return true
		}
		var se *quic.StreamError
		return errors.Is(err, io.EOF) || (errors.As(err, &se) && se.Remote)
	}

	id := s.nextID.Add(1)
	call := &cs.call
	call.Reset()
	call.CallId = id
	call.Procedure = req.procedure
	call.Args = req.data
	call.ContentType = req.contentType
	call.Idempotent = req.opts.idempotent
	call.Cast = req.cast
	if dl, ok := ctx.Deadline(); ok && !req.cast {
		call.DeadlineUnixNano = dl.UnixNano()
	}
	cs.body.RpcCall = call
	cs.out.Reset()
	cs.out.Body = &cs.body
	// Until acceptance the exchange is bounded by acceptBy: a timer of
	// the stream's, reused from call to call, aborts the stream then
	// (deadlines would cost a timer per read).
	cs.armAccept(time.Until(acceptBy))
	werr := st.WriteFrame(&cs.out)
	call.Args = nil // not kept while the stream idles
	env := &cs.in
	env.Reset()
	var rerr error
	if werr == nil {
		rerr = st.ReadFrame(env)
	}
	if !cs.acceptTimer.Stop() {
		// The timer fired, or is firing: the stream is aborted.
		if werr == nil && rerr == nil && env.GetRpcAccept() != nil {
			return nil, true, false, false, fmt.Errorf("provider %s accepted the call after the accept timeout of %v", st.Peer().Short(), s.cfg.AcceptTimeout)
		}
		// Not wrapped: the caller's deadline did not pass, the provider
		// was slow.
		return nil, false, false, false, fmt.Errorf("provider %s did not accept the call within %v", st.Peer().Short(), s.cfg.AcceptTimeout)
	}
	if werr != nil {
		st.Abort(protocol.CodeCancelled)
		return nil, false, gone(werr, false), false, s.streamError(st, werr)
	}
	if rerr != nil {
		st.Abort(protocol.CodeCancelled)
		return nil, false, gone(rerr, true), false, s.streamError(st, rerr)
	}
	switch {
	case env.GetRpcAccept() != nil && env.GetRpcAccept().GetCallId() == id:
	case env.GetRpcError() != nil && env.GetRpcError().GetCallId() == id:
		_ = st.Close()
		e := env.GetRpcError()
		return nil, false, false, false, &RemoteError{Code: e.GetCode(), Message: e.GetMessage(), Provider: c.id}
	default:
		st.Abort(protocol.CodeProtocol)
		return nil, false, false, false, fmt.Errorf("%w: %s answered a call with %T", errProtocol, c.id.Short(), env.Body)
	}
	if req.cast {
		_ = st.Close()
		return nil, true, false, false, nil
	}
	env.Reset()
	if err := st.ReadFrame(env); err != nil {
		st.Abort(protocol.CodeCancelled)
		return nil, true, false, false, s.streamError(st, err)
	}
	switch {
	case env.GetRpcResult() != nil && env.GetRpcResult().GetCallId() == id:
		r := env.GetRpcResult()
		env.Reset()
		err := s.checkResult(c.id, req.procedure, id, r)
		rep := &Reply{Data: r.GetData(), ContentType: r.GetContentType(), Provider: c.id}
		signed := len(r.GetSignature()) > 0
		if err != nil {
			_ = st.Close()
			return nil, true, false, false, err
		}
		if signed {
			rep.Signer = c.id
		}
		return rep, true, false, true, nil
	case env.GetRpcError() != nil && env.GetRpcError().GetCallId() == id:
		e := env.GetRpcError()
		env.Reset()
		code := e.GetCode()
		switch code {
		case protocol.CodeOK:
			code = protocol.CodeInternal
		case protocol.CodeShutdown:
			// Not the handler's answer: the provider closed under it.
			_ = st.Close()
			return nil, true, false, false, fmt.Errorf("%w: %s: %s", errProviderShutdown, c.id.Short(), e.GetMessage())
		}
		return nil, true, false, true, &RemoteError{Code: code, Message: e.GetMessage(), Provider: c.id}
	default:
		st.Abort(protocol.CodeProtocol)
		return nil, true, false, false, fmt.Errorf("%w: %s answered a call with %T", errProtocol, c.id.Short(), env.Body)
	}
}

// checkResult verifies the signature of provider's result r to call id,
// or refuses an unsigned one when signatures are required.
func (s *Service) checkResult(provider security.NodeID, procedure string, id uint64, r *protocol.RpcResult) error {
	var err error
	switch {
	case len(r.GetSignature()) > 0:
		msg := protocol.ResultSigningBytes(s.cfg.Self[:], procedure, id, r.GetData(), r.GetContentType())
		if verr := protocol.VerifySignature(provider[:], r.GetSignerKey(), msg, r.GetSignature()); verr != nil {
			err = fmt.Errorf("result of %s from %s: %w", procedure, provider.Short(), verr)
		}
	case s.cfg.RequireSignatures:
		err = fmt.Errorf("%w: result of %s from %s", ErrUnsigned, procedure, provider.Short())
	}
	if err != nil {
		s.stats.badResults.Add(1)
		s.log.Debug("rpc result refused", zapProc(procedure), zapNode(provider), zapErr(err))
		if s.cfg.OnRefused != nil {
			s.cfg.OnRefused(provider, procedure, err)
		}
	}
	return err
}

// streamError describes a failed read or write on a call's stream.
func (s *Service) streamError(st *transport.Stream, err error) error {
	if code, ok := transport.StreamCode(err); ok {
		return fmt.Errorf("stream to %s ended with %s: %w", st.Peer().Short(), protocol.CodeName(code), err)
	}
	return fmt.Errorf("stream to %s: %w", st.Peer().Short(), err)
}

// abortCode is the stream code telling a provider why its caller gave up.
func abortCode(ctx context.Context) protocol.ErrorCode {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return protocol.CodeTimeout
	}
	return protocol.CodeCancelled
}
