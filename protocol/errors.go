package protocol

import (
	"context"
	"errors"
)

// Sentinel errors. Functions in this package wrap them with detail using
// %w; test with [errors.Is].
var (
	// ErrFrameTooLarge is returned when a frame exceeds the maximum frame
	// size, on writing or on reading.
	ErrFrameTooLarge = errors.New("macula: frame too large")
	// ErrMalformedFrame is returned when a frame's length prefix is not a
	// valid varint or its body is not a valid Envelope.
	ErrMalformedFrame = errors.New("macula: malformed frame")
	// ErrUnknownMessage is returned when a frame decodes to an Envelope
	// whose body this version does not know (typically a message type
	// added by a newer peer). The frame has been consumed; reading may go
	// on.
	ErrUnknownMessage = errors.New("macula: unknown message")
	// ErrVersionMismatch is returned when a peer's major protocol version
	// differs from ours.
	ErrVersionMismatch = errors.New("macula: protocol version mismatch")
)

// CodeOf returns the [ErrorCode] to send to a peer for err:
//   - [CodeOK] for nil;
//   - the Code of the first [*CodeError] in err's chain;
//   - [CodeFrameTooLarge], [CodeProtocol], [CodeUnknownMessage],
//     [CodeVersionMismatch] for errors wrapping [ErrFrameTooLarge],
//     [ErrMalformedFrame], [ErrUnknownMessage], [ErrVersionMismatch];
//   - [CodeTimeout] for [context.DeadlineExceeded] and [CodeCancelled] for
//     [context.Canceled];
//   - [CodeInternal] for anything else.
func CodeOf(err error) ErrorCode {
	if err == nil {
		return CodeOK
	}
	if ce, ok := errors.AsType[*CodeError](err); ok && ce != nil {
		return ce.Code
	}
	switch {
	case errors.Is(err, ErrFrameTooLarge):
		return CodeFrameTooLarge
	case errors.Is(err, ErrMalformedFrame):
		return CodeProtocol
	case errors.Is(err, ErrUnknownMessage):
		return CodeUnknownMessage
	case errors.Is(err, ErrVersionMismatch):
		return CodeVersionMismatch
	case errors.Is(err, context.DeadlineExceeded):
		return CodeTimeout
	case errors.Is(err, context.Canceled):
		return CodeCancelled
	}
	return CodeInternal
}
