package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"

	"github.com/org/macula/protocol"
	"github.com/org/macula/transport"
)

// answerTimeout bounds the write of a provider's answer to a caller that
// does not read it.
const answerTimeout = 10 * time.Second

// serveStream serves one call stream a peer opened: it reads the RpcCall,
// refuses it with an RpcError (unknown procedure, over a limit, closing,
// malformed) or sends RpcAccept and runs the handler, then sends RpcResult
// or RpcError. While the handler runs, a read on the stream watches the
// caller: a reset stream or a lost connection cancels the handler's
// context. A cast's handler runs on a Service goroutine instead, and the
// stream ends after RpcAccept.
//
// It runs on the transport's goroutine for the stream; ctx ends when the
// connection does.
func (s *Service) serveStream(ctx context.Context, st *transport.Stream) {
	s.stats.received.Add(1)
	_ = st.SetReadDeadline(time.Now().Add(s.cfg.AcceptTimeout))
	var env protocol.Envelope
	if err := st.ReadFrame(&env); err != nil {
		// Malformed frames have aborted the stream already.
		s.stats.refused.Add(1)
		s.log.Debug("bad rpc stream", zapNode(st.Peer()), zapErr(err))
		return
	}
	call := env.GetRpcCall()
	if call == nil {
		s.refuse(st, 0, protocol.CodeProtocol, fmt.Sprintf("expected an RpcCall, got %T", env.Body))
		return
	}
	id, name := call.GetCallId(), call.GetProcedure()
	if err := checkProcedure(name); err != nil {
		s.refuse(st, id, protocol.CodeInvalidArgument, err.Error())
		return
	}
	if s.cfg.Authorize != nil {
		if err := s.cfg.Authorize(st.Peer(), name); err != nil {
			s.refuse(st, id, protocol.CodeACLDenied, err.Error())
			return
		}
	}
	if n := len(call.GetArgs()); n > s.MaxPayload() {
		s.refuse(st, id, protocol.CodeFrameTooLarge, fmt.Sprintf("arguments of %d bytes, maximum %d", n, s.MaxPayload()))
		return
	}
	var deadline time.Time
	if d := call.GetDeadlineUnixNano(); d != 0 && !call.GetCast() {
		deadline = time.Unix(0, d)
		if !time.Now().Before(deadline) {
			s.refuse(st, id, protocol.CodeTimeout, "deadline passed before the call arrived")
			return
		}
	}
	if !s.track() {
		s.refuse(st, id, protocol.CodeShutdown, "node is shutting down")
		return
	}
	defer s.wg.Done()
	r, rerr := s.acquire(name)
	if rerr != nil {
		s.refuse(st, id, rerr.Code, rerr.Message)
		return
	}
	inv := &Invocation{Procedure: name, Args: call.GetArgs(), ContentType: call.GetContentType(), Caller: st.Peer(), Cast: call.GetCast()}
	_ = st.SetWriteDeadline(time.Now().Add(answerTimeout))
	if err := st.WriteFrame(&protocol.Envelope{Body: &protocol.Envelope_RpcAccept{RpcAccept: &protocol.RpcAccept{CallId: id}}}); err != nil {
		r.release()
		s.log.Debug("cannot accept rpc call", zapProc(name), zapNode(st.Peer()), zapErr(err))
		return
	}
	if inv.Cast {
		if !s.goFunc(func() {
			defer r.release()
			s.runCast(r, inv)
		}) {
			r.release()
		}
		return
	}
	defer r.release()
	s.serveCall(ctx, st, r, inv, id, deadline)
}

// serveCall runs an accepted call's handler and sends its answer.
func (s *Service) serveCall(ctx context.Context, st *transport.Stream, r *Registration, inv *Invocation, id uint64, deadline time.Time) {
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	if !deadline.IsZero() {
		var cancelDL context.CancelFunc
		hctx, cancelDL = context.WithDeadline(hctx, deadline)
		defer cancelDL()
	}
	// The caller sends nothing after its call: a read that returns with
	// anything but a clean end means it gave up (reset) or is gone. The
	// read ends at the latest when the stream is closed below.
	_ = st.SetReadDeadline(time.Time{})
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		var env protocol.Envelope
		err := st.ReadFrame(&env)
		switch {
		case err == nil:
			st.Abort(protocol.CodeProtocol)
			cancel()
		case !errors.Is(err, io.EOF):
			cancel()
		}
	}()
	defer func() {
		_ = st.Close()
		<-watchDone
	}()

	data, ct, rerr := s.runHandler(hctx, r, inv)
	var out *protocol.Envelope
	if rerr != nil {
		out = &protocol.Envelope{Body: &protocol.Envelope_RpcError{RpcError: &protocol.RpcError{CallId: id, Code: rerr.Code, Message: rerr.Message}}}
	} else {
		res := &protocol.RpcResult{CallId: id, Data: data, ContentType: ct}
		if sg := s.cfg.Signer; sg != nil {
			res.Signature = sg.Sign(protocol.ResultSigningBytes(inv.Caller[:], inv.Procedure, id, data, ct))
			res.SignerKey = s.signKey
		}
		out = &protocol.Envelope{Body: &protocol.Envelope_RpcResult{RpcResult: res}}
	}
	if rerr != nil && s.ctx.Err() != nil {
		// Closing cut the handler short: to the caller this provider is
		// lost, so an idempotent call moves on to another one. A frame,
		// not a reset, so that it cannot overtake the RpcAccept.
		rerr = &RemoteError{Code: protocol.CodeShutdown, Message: "node is shutting down"}
		out = &protocol.Envelope{Body: &protocol.Envelope_RpcError{RpcError: &protocol.RpcError{CallId: id, Code: rerr.Code, Message: rerr.Message}}}
	}
	_ = st.SetWriteDeadline(time.Now().Add(answerTimeout))
	if err := st.WriteFrame(out); err != nil {
		s.log.Debug("cannot answer rpc call", zapProc(inv.Procedure), zapNode(inv.Caller), zap.Error(err))
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
