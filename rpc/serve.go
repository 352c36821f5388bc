package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/org/macula/protocol"
	"github.com/org/macula/transport"
)

// answerTimeout bounds the write of a provider's answer to a caller that
// does not read it.
const answerTimeout = 10 * time.Second

// serveStream serves the calls of one stream a peer opened, one after the
// other. For each, it reads the RpcCall, refuses it with an RpcError
// (unknown procedure, over a limit, closing, malformed) or sends RpcAccept
// and runs the handler, then sends RpcResult or RpcError. A refusal ends
// the stream. After an answer, the stream waits up to StreamIdleTimeout
// for the caller's next call, and is closed then. A cast's handler runs on
// a Service goroutine instead, and the stream ends after RpcAccept.
//
// One goroutine reads the stream's frames and hands them to serveStream.
// While a handler runs, its read watches the caller, who sends nothing
// during a call: a reset stream, a lost connection or a frame cancels the
// handler's context (a frame also resets the stream). Once the answer is
// written, the frame it reads is the next call.
//
// It runs on the transport's goroutine for the stream, which ends when the
// connection does; the reader's failing read then ends the stream.
func (s *Service) serveStream(_ context.Context, st *transport.Stream) {
	s.stats.streams.Add(1)
	ss := &serverStream{st: st, frames: make(chan error, 1), next: make(chan struct{}, 1), done: make(chan struct{})}
	ss.idle.Store(true)
	_ = st.SetReadDeadline(time.Now().Add(s.cfg.AcceptTimeout))
	go ss.read()
	// Close wakes the reader: a waiting stream ends, a running call is
	// cancelled (its context derives from the Service's too).
	stop := context.AfterFunc(s.ctx, func() { _ = st.SetReadDeadline(time.Now()) })
	defer func() {
		stop()
		ss.stopIdle()
		close(ss.next)
		_ = st.Close()
		<-ss.done
	}()
	for first := true; ; first = false {
		if err := <-ss.frames; err != nil {
			switch {
			case first:
				// Malformed frames have aborted the stream already.
				s.stats.received.Add(1)
				s.stats.refused.Add(1)
				s.log.Debug("bad rpc stream", zapNode(st.Peer()), zapErr(err))
			case isFrameError(err):
				s.stats.received.Add(1)
				s.stats.refused.Add(1)
				s.log.Debug("bad rpc call frame", zapNode(st.Peer()), zapErr(err))
			}
			return
		}
		if !ss.stopIdle() {
			// Idle for too long, and closing: the call is dropped
			// unanswered, so the caller knows that it was not accepted
			// and sends it again on another stream.
			return
		}
		s.stats.received.Add(1)
		if !s.serveCall(ss) {
			return
		}
	}
}

// isFrameError reports a frame read that failed for the peer's frame
// (malformed, too large, over the rate) rather than the stream's end.
func isFrameError(err error) bool {
	return errors.Is(err, protocol.ErrMalformedFrame) || errors.Is(err, protocol.ErrFrameTooLarge) ||
		errors.Is(err, protocol.ErrUnknownMessage) || errors.Is(err, transport.ErrRateLimited)
}

// serverStream is a provider's side of a call stream.
type serverStream struct {
	st *transport.Stream
	// env is the last frame read; the reader writes it, then hands it to
	// serveStream on frames (nil error) and waits on next before reading
	// again.
	env    protocol.Envelope
	frames chan error
	next   chan struct{}
	done   chan struct{} // closed when the reader returns
	// idle is false while a call is between its acceptance and its answer.
	idle atomic.Bool
	// idleTimer ends the stream after StreamIdleTimeout without a call.
	idleTimer *time.Timer

	mu     sync.Mutex
	cancel context.CancelFunc // the running handler's

	// Reused for the frames written.
	out        protocol.Envelope
	accept     protocol.RpcAccept
	acceptBody protocol.Envelope_RpcAccept
	result     protocol.RpcResult
	resultBody protocol.Envelope_RpcResult
}

// read is the stream's reader goroutine.
func (ss *serverStream) read() {
	defer close(ss.done)
	for {
		ss.env.Reset()
		err := ss.st.ReadFrame(&ss.env)
		if !ss.idle.Load() {
			// During a call: the caller gave up, is gone, or broke the
			// protocol. A clean end of its side is no reason to stop.
			if err == nil {
				ss.st.Abort(protocol.CodeProtocol)
				err = fmt.Errorf("%w: a frame during a call", errProtocol)
			}
			if !errors.Is(err, io.EOF) {
				ss.cancelCall()
			}
		}
		ss.frames <- err
		if err != nil {
			return
		}
		if _, ok := <-ss.next; !ok {
			return
		}
	}
}

// setCancel sets the running handler's cancel function; nil when none runs.
func (ss *serverStream) setCancel(cancel context.CancelFunc) {
	ss.mu.Lock()
	ss.cancel = cancel
	ss.mu.Unlock()
}

// cancelCall cancels the running handler's context, if any.
func (ss *serverStream) cancelCall() {
	ss.mu.Lock()
	cancel := ss.cancel
	ss.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// serveCall serves the call in ss.env, which the reader has handed over:
// it refuses it, or accepts it, runs the handler and sends the answer. It
// reports whether the stream may carry another call, in which case the
// reader is reading again, with the idle deadline.
func (s *Service) serveCall(ss *serverStream) bool {
	st := ss.st
	call := ss.env.GetRpcCall()
	if call == nil {
		s.refuse(st, 0, protocol.CodeProtocol, fmt.Sprintf("expected an RpcCall, got %T", ss.env.Body))
		return false
	}
	id, name := call.GetCallId(), call.GetProcedure()
	if err := checkProcedure(name); err != nil {
		s.refuse(st, id, protocol.CodeInvalidArgument, err.Error())
		return false
	}
	if s.cfg.Authorize != nil {
		if err := s.cfg.Authorize(st.Peer(), name); err != nil {
			s.refuse(st, id, protocol.CodeACLDenied, err.Error())
			return false
		}
	}
	if n := len(call.GetArgs()); n > s.MaxPayload() {
		s.refuse(st, id, protocol.CodeFrameTooLarge, fmt.Sprintf("arguments of %d bytes, maximum %d", n, s.MaxPayload()))
		return false
	}
	var deadline time.Time
	if d := call.GetDeadlineUnixNano(); d != 0 && !call.GetCast() {
		deadline = time.Unix(0, d)
		if !time.Now().Before(deadline) {
			s.refuse(st, id, protocol.CodeTimeout, "deadline passed before the call arrived")
			return false
		}
	}
	// The call runs on the transport's goroutine; counting it lets Close
	// wait for its handler.
	if !s.life.Add() {
		s.refuse(st, id, protocol.CodeShutdown, "node is shutting down")
		return false
	}
	defer s.life.Done()
	r, rerr := s.acquire(name)
	if rerr != nil {
		s.refuse(st, id, rerr.Code, rerr.Message)
		return false
	}
	inv := &Invocation{Procedure: name, Args: call.GetArgs(), ContentType: call.GetContentType(), Caller: st.Peer(), Cast: call.GetCast()}
	ss.accept.Reset()
	ss.accept.CallId = id
	ss.acceptBody.RpcAccept = &ss.accept
	ss.out.Reset()
	ss.out.Body = &ss.acceptBody
	_ = st.SetWriteDeadline(time.Now().Add(answerTimeout))
	if err := st.WriteFrame(&ss.out); err != nil {
		r.release()
		s.log.Debug("cannot accept rpc call", zapProc(name), zapNode(st.Peer()), zapErr(err))
		return false
	}
	if inv.Cast {
		if !s.life.Go(func() {
			defer r.release()
			s.runCast(r, inv)
		}) {
			r.release()
		}
		return false
	}
	defer r.release()

	var (
		hctx   context.Context
		cancel context.CancelFunc
	)
	if deadline.IsZero() {
		hctx, cancel = context.WithCancel(s.ctx)
	} else {
		hctx, cancel = context.WithDeadline(s.ctx, deadline)
	}
	// The reader watches the caller while the handler runs.
	ss.setCancel(cancel)
	ss.idle.Store(false)
	s.setReadDeadline(st, time.Time{})
	ss.next <- struct{}{}
	data, ct, rerr := s.runHandler(hctx, r, inv)
	ss.setCancel(nil)
	cancel()

	var out *protocol.Envelope
	if rerr != nil && s.ctx.Err() != nil {
		// Closing cut the handler short: to the caller this provider is
		// lost, so an idempotent call moves on to another one. A frame,
		// not a reset, so that it cannot overtake the RpcAccept.
		rerr = &RemoteError{Code: protocol.CodeShutdown, Message: "node is shutting down"}
	}
	if rerr != nil {
		out = &protocol.Envelope{Body: &protocol.Envelope_RpcError{RpcError: &protocol.RpcError{CallId: id, Code: rerr.Code, Message: rerr.Message}}}
	} else {
		res := &ss.result
		res.Reset()
		res.CallId, res.Data, res.ContentType = id, data, ct
		if sg := s.cfg.Signer; sg != nil {
			res.Signature = sg.Sign(protocol.ResultSigningBytes(inv.Caller[:], inv.Procedure, id, data, ct))
			res.SignerKey = s.signKey
		}
		ss.resultBody.RpcResult = res
		ss.out.Reset()
		ss.out.Body = &ss.resultBody
		out = &ss.out
	}
	// From here, a frame is the caller's next call.
	ss.idle.Store(true)
	_ = st.SetWriteDeadline(time.Now().Add(answerTimeout))
	err := st.WriteFrame(out)
	ss.result.Data, ss.result.Signature = nil, nil // not kept while the stream idles
	if err != nil {
		s.log.Debug("cannot answer rpc call", zapProc(inv.Procedure), zapNode(inv.Caller), zap.Error(err))
		return false
	}
	if rerr != nil && rerr.Code == protocol.CodeShutdown {
		return false
	}
	ss.armIdle(s.cfg.StreamIdleTimeout)
	return true
}

// armIdle starts the idle timer, which ends the reader's wait for the
// next call after d. A read deadline would cost a timer per read; this
// one is reused from call to call.
func (ss *serverStream) armIdle(d time.Duration) {
	if ss.idleTimer == nil {
		ss.idleTimer = time.AfterFunc(d, func() { _ = ss.st.SetReadDeadline(time.Now()) })
		return
	}
	ss.idleTimer.Reset(d)
}

// stopIdle stops the idle timer; false when it has fired, and the stream
// is ending: the next call must not be served then, its read could be cut
// short.
func (ss *serverStream) stopIdle() bool {
	return ss.idleTimer == nil || ss.idleTimer.Stop()
}

// setReadDeadline sets st's read deadline, unless the Service is closing:
// then the deadline is now, so that the stream's read ends.
func (s *Service) setReadDeadline(st *transport.Stream, t time.Time) {
	_ = st.SetReadDeadline(t)
	if s.ctx.Err() != nil {
		_ = st.SetReadDeadline(time.Now())
	}
}

// refuse answers a call with an RpcError before accepting it.
func (s *Service) refuse(st *transport.Stream, id uint64, code protocol.ErrorCode, msg string) {
	s.stats.refused.Add(1)
	s.log.Debug("refusing rpc call", zapNode(st.Peer()), zap.Stringer("code", code), zap.String("reason", msg))
	_ = st.SetWriteDeadline(time.Now().Add(answerTimeout))
	_ = st.WriteFrame(&protocol.Envelope{Body: &protocol.Envelope_RpcError{RpcError: &protocol.RpcError{CallId: id, Code: code, Message: msg}}})
	_ = st.CloseWrite()
}
