package rpc

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/org/macula/internal/codec"
	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
)

// Invocation is one call as its handler sees it.
type Invocation struct {
	// Procedure is the procedure called.
	Procedure string
	// Args are the encoded arguments. For a local call they may be the
	// caller's own []byte: the handler must not modify them, nor keep them
	// after it returns.
	Args []byte
	// ContentType says how Args are encoded (see [Invocation.Decode]).
	ContentType string
	// Caller is the node that made the call; this node's ID for a local
	// call.
	Caller security.NodeID
	// Cast is true for a call made with Cast, whose result nobody reads.
	Cast bool
}

// Decode fills v, a pointer, from the arguments: into a *[]byte the raw
// bytes, a protobuf payload into a proto.Message, JSON otherwise (the
// payload rule shared with pub/sub). Errors wrap [ErrDecode].
func (inv *Invocation) Decode(v any) error {
	return codec.Decode(inv.Args, inv.ContentType, v)
}

// Reply is the result of a call.
type Reply struct {
	// Data is the encoded result; from a local handler, it may be the
	// []byte the handler returned.
	Data []byte
	// ContentType says how Data is encoded (see [Reply.Decode]).
	ContentType string
	// Provider is the node whose handler answered.
	Provider security.NodeID
	// Signer is the node whose signature over the result was verified:
	// the Provider when it signs its results (see Config.Signer), zero
	// when the result was unsigned.
	Signer security.NodeID
}

// Decode fills v, a pointer, from the result, by the same rule as
// [Invocation.Decode].
func (r *Reply) Decode(v any) error {
	return codec.Decode(r.Data, r.ContentType, v)
}

// runHandler runs r's handler for inv and encodes its result, turning a
// handler error, an unencodable or oversized result and a panic into a
// *RemoteError from this node.
func (s *Service) runHandler(ctx context.Context, r *Registration, inv *Invocation) (data []byte, contentType string, rerr *RemoteError) {
	s.stats.served.Add(1)
	defer func() {
		if p := recover(); p != nil {
			s.stats.panics.Add(1)
			s.log.Error("rpc handler panicked", zapProc(inv.Procedure), zap.Any("panic", p), zap.Stack("stack"))
			data, contentType = nil, ""
			rerr = &RemoteError{Code: protocol.CodeInternal, Message: "handler panicked", Provider: s.cfg.Self}
		}
		if rerr != nil {
			s.stats.handlerErrors.Add(1)
		}
	}()
	v, err := r.handler(ctx, inv)
	if err != nil {
		return nil, "", s.remoteError(err)
	}
	data, contentType, err = codec.Encode(v)
	if err != nil {
		return nil, "", &RemoteError{Code: protocol.CodeInternal, Message: fmt.Sprintf("cannot encode result: %v", err), Provider: s.cfg.Self}
	}
	if len(data) > s.MaxPayload() {
		return nil, "", &RemoteError{Code: protocol.CodeFrameTooLarge,
			Message: fmt.Sprintf("result of %d bytes is over the maximum of %d", len(data), s.MaxPayload()), Provider: s.cfg.Self}
	}
	return data, contentType, nil
}

// remoteError turns a handler's error into what its caller sees.
func (s *Service) remoteError(err error) *RemoteError {
	out := &RemoteError{Code: protocol.CodeInternal, Message: err.Error(), Provider: s.cfg.Self}
	var re *RemoteError
	switch {
	case errors.As(err, &re):
		out.Code, out.Message = re.Code, re.Message
	case errors.Is(err, context.DeadlineExceeded):
		out.Code = protocol.CodeTimeout
	case errors.Is(err, context.Canceled):
		out.Code = protocol.CodeCancelled
	}
	if out.Code == protocol.CodeOK {
		out.Code = protocol.CodeInternal
	}
	return out
}

func zapProc(name string) zap.Field { return zap.String("procedure", name) }

func zapErr(err error) zap.Field { return zap.Error(err) }
