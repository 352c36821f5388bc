package rpc

import (
	"errors"
	"fmt"
	"strings"

	"github.com/org/macula/internal/codec"
	"github.com/org/macula/internal/sentinel"
	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
	"github.com/org/macula/topic"
	"github.com/org/macula/transport"
)

// Sentinel errors returned by this package. They are always wrapped with
// detail using %w, so test for them with [errors.Is], never by comparing
// error strings.
var (
	// ErrClosed is returned by the methods of a closed [Service]. It is
	// transport.ErrClosed, so it also matches net.ErrClosed.
	ErrClosed = transport.ErrClosed
	// ErrNoProvider means no node provides the procedure: nobody
	// registered it, or every provider tried answered that it does not
	// serve it (a stale record). A [RemoteError] with code
	// protocol.CodeNoProvider matches it too.
	ErrNoProvider = errors.New("macula: no provider for procedure")
	// ErrUnavailable means providers are known but none took the call
	// within the allowed attempts: each could not be reached, refused the
	// call before accepting it, or was lost. The [CallError] wrapping it
	// lists the providers tried and wraps the last attempt's error.
	ErrUnavailable = errors.New("macula: no provider took the call")
	// ErrProviderLost means the provider accepted the call and then failed
	// (its connection or stream broke) before answering. The call may have
	// run; it is retried elsewhere only when marked [WithIdempotent].
	ErrProviderLost = errors.New("macula: provider lost after accepting the call")
	// ErrTimeout means the call's deadline passed. A call that ran out of
	// time returns an error matching both ErrTimeout and
	// context.DeadlineExceeded. It implements net.Error with Timeout true.
	ErrTimeout error = timeoutError{}
	// ErrEncode is wrapped by the error for a payload that cannot be
	// encoded (for example a channel or a function given to JSON). It is
	// shared by rpc and pubsub, which follow the same payload rule.
	ErrEncode = codec.ErrEncode
	// ErrDecode is wrapped by the errors of the Decode methods: the bytes
	// do not fit the target, or the target cannot take them. It is shared
	// by rpc and pubsub.
	ErrDecode = codec.ErrDecode
	// ErrMessageTooLarge means arguments or a result are over the maximum
	// payload ([Service.MaxPayload]); oversized arguments are refused before
	// anything is sent. It is protocol.ErrFrameTooLarge.
	ErrMessageTooLarge = protocol.ErrFrameTooLarge
	// ErrInvalidProcedure means a procedure name is not valid: procedure
	// names follow the syntax of topics (see package topic), without
	// wildcards. It wraps topic.ErrInvalidTopic, so both match.
	ErrInvalidProcedure = fmt.Errorf("macula: invalid procedure: %w", topic.ErrInvalidTopic)
	// ErrReservedProcedure means a procedure name starts with '_', which is
	// kept for the mesh's built-in procedures such as [HealthProcedure]; it
	// cannot be registered.
	ErrReservedProcedure = errors.New("macula: reserved procedure name")
	// ErrReserved is the old name of ErrReservedProcedure.
	//
	// Deprecated: use ErrReservedProcedure.
	ErrReserved = ErrReservedProcedure
	// ErrInvalidHandler means Register was given a nil handler. It matches
	// macula.ErrInvalidHandler, as pubsub's nil-handler error does.
	ErrInvalidHandler = sentinel.Narrow(sentinel.ErrInvalidHandler, "macula: nil rpc handler")
	// ErrInvalidOption wraps every invalid [CallOption] or
	// [RegisterOption], with the option's name and the cause. It matches
	// macula.ErrInvalidOption, as every option error does.
	ErrInvalidOption = sentinel.Narrow(sentinel.ErrInvalidOption, "macula: invalid rpc option")
	// ErrBadSignature means a provider's result carried a signature that
	// does not verify; the result is refused. The call was accepted, so
	// the error also matches ErrProviderLost and the call moves on only
	// when it is idempotent. It is protocol.ErrBadSignature.
	ErrBadSignature = protocol.ErrBadSignature
	// ErrUnsigned means a provider's result carried no signature while
	// Config.RequireSignatures is set; it is refused like a bad one. It
	// is protocol.ErrUnsigned.
	ErrUnsigned = protocol.ErrUnsigned
	// ErrInvalidConfig wraps every invalid [Config] field given to [New].
	// It matches macula.ErrInvalidConfig, as every package's config
	// error does.
	ErrInvalidConfig = sentinel.Narrow(sentinel.ErrInvalidConfig, "macula: invalid rpc config")
)

// timeoutError is the type of ErrTimeout: a net.Error that times out.
type timeoutError struct{}

func (timeoutError) Error() string   { return "macula: rpc timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// RemoteError is a handler's error as the caller sees it: a code and a
// message, which keep their meaning across the network. A handler chooses
// the code by returning [Errorf] (or a *RemoteError from a call it made
// itself); any other error is reported with protocol.CodeInternal and its
// text, a handler's context error with CodeTimeout or CodeCancelled, and a
// panic with CodeInternal. Providers also report refusals this way, e.g.
// CodeNoProvider for a procedure they do not serve.
//
// A RemoteError matches, under [errors.Is], any *RemoteError or
// *protocol.CodeError with the same code, and the sentinel of its code:
// [ErrNoProvider] (CodeNoProvider), [ErrTimeout] (CodeTimeout) and
// [ErrMessageTooLarge] (CodeFrameTooLarge).
type RemoteError struct {
	// Code says what failed.
	Code protocol.ErrorCode
	// Message is human-readable detail, such as the handler's error text;
	// it may be empty.
	Message string
	// Provider is the node that reported the error; zero for an error made
	// by Errorf that has not crossed a Service yet.
	Provider security.NodeID
}

// Errorf returns a *RemoteError with code and a message formatted as by
// fmt.Sprintf, for a handler to return when it wants the caller to see a
// specific code, such as protocol.CodeInvalidArgument. protocol.CodeOK is
// reported as protocol.CodeInternal.
func Errorf(code protocol.ErrorCode, format string, args ...any) error {
	return &RemoteError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Error returns, e.g., "macula: rpc error INVALID_ARGUMENT from 1a2b3c4d:
// amount must be positive".
func (e *RemoteError) Error() string {
	var b strings.Builder
	b.WriteString("macula: rpc error ")
	b.WriteString(protocol.CodeName(e.Code))
	if !e.Provider.IsZero() {
		b.WriteString(" from ")
		b.WriteString(e.Provider.Short())
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Is reports whether target is a *RemoteError or *protocol.CodeError with
// the same code, or the sentinel error of e's code.
func (e *RemoteError) Is(target error) bool {
	switch t := target.(type) {
	case *RemoteError:
		return t != nil && t.Code == e.Code
	case *protocol.CodeError:
		return t != nil && t.Code == e.Code
	}
	switch e.Code {
	case protocol.CodeNoProvider:
		return target == ErrNoProvider
	case protocol.CodeTimeout:
		return target == ErrTimeout
	case protocol.CodeFrameTooLarge:
		return target == ErrMessageTooLarge
	case protocol.CodeACLDenied:
		return target == security.ErrACLDenied
	}
	return false
}

// CallError reports a call that did not complete: the providers tried, in
// order, and why the call stopped. It wraps that reason, so it matches
// what the reason matches: [ErrUnavailable], [ErrProviderLost],
// [ErrTimeout] with context.DeadlineExceeded, context.Canceled, [ErrClosed],
// or a handler's [*RemoteError] (use errors.As).
type CallError struct {
	// Procedure is the procedure called.
	Procedure string
	// Tried lists the providers tried, in order; a node appears once per
	// attempt.
	Tried []security.NodeID
	// Err is why the call stopped.
	Err error
}

// Error names the procedure, the providers tried and the reason.
func (e *CallError) Error() string {
	names := make([]string, len(e.Tried))
	for i, id := range e.Tried {
		names[i] = id.Short()
	}
	return fmt.Sprintf("macula: call %s (tried [%s]): %v", e.Procedure, strings.Join(names, " "), e.Err)
}

// Unwrap returns the reason the call stopped.
func (e *CallError) Unwrap() error { return e.Err }
