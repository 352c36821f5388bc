package routing

import (
	"errors"
	"fmt"

	"github.com/org/macula/protocol"
	"github.com/org/macula/transport"
)

// ErrorCode returns the protocol code that carries err, an error of
// [DHT.HandleStore], in a StoreResponse: [protocol.CodeOK] for nil,
// [protocol.CodeACLDenied] for [ErrStoreRefused],
// [protocol.CodeRateLimited] for [ErrRateLimited] and [ErrLimit],
// [protocol.CodeShutdown] for [ErrClosed], [protocol.CodeInvalidArgument]
// for a refused record ([ErrInvalidRecord], [ErrBadSignature],
// [ErrExpired], [ErrWrongKey], [ErrStale]) and [protocol.CodeInternal] for
// anything else.
func ErrorCode(err error) protocol.ErrorCode {
	switch {
	case err == nil:
		return protocol.CodeOK
	case errors.Is(err, ErrStoreRefused):
		return protocol.CodeACLDenied
	case errors.Is(err, ErrRateLimited), errors.Is(err, ErrLimit):
		return protocol.CodeRateLimited
	case errors.Is(err, ErrClosed):
		return protocol.CodeShutdown
	case isRefusal(err):
		return protocol.CodeInvalidArgument
	}
	return protocol.CodeInternal
}

// ErrorFromCode turns a StoreResponse's code and message back into an
// error that wraps the sentinel [ErrorCode] mapped to the code:
// [ErrStoreRefused], [ErrClosed], or [ErrInvalidRecord] for every refused
// record (the wire does not tell a bad signature from a stale record).
// [protocol.CodeRateLimited] carries both a rate limit and a record or
// watch limit, so its error matches both [ErrRateLimited] and [ErrLimit];
// the message says which. It returns nil for [protocol.CodeOK].
func ErrorFromCode(code protocol.ErrorCode, message string) error {
	var sentinel error
	switch code {
	case protocol.CodeOK:
		return nil
	case protocol.CodeRateLimited:
		return fmt.Errorf("%w (or %w): peer says: %s", ErrRateLimited, ErrLimit, message)
	case protocol.CodeACLDenied:
		sentinel = ErrStoreRefused
	case protocol.CodeShutdown:
		sentinel = ErrClosed
	case protocol.CodeInvalidArgument:
		sentinel = ErrInvalidRecord
	default:
		return fmt.Errorf("macula: store refused by peer (%s): %s", code, message)
	}
	return fmt.Errorf("%w: peer says: %s", sentinel, message)
}

// isRefusal reports whether err is a node refusing a record, as opposed to
// the node being unreachable or failing.
func isRefusal(err error) bool {
	for _, s := range []error{ErrInvalidRecord, ErrBadSignature, ErrExpired, ErrWrongKey, ErrStale, ErrLimit, ErrRateLimited, ErrStoreRefused} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// busy reports whether err is a node refusing a query for its rate
// limits (the DHT's query rate, or the transport's limits on streams and
// handshakes), as opposed to failing: the node is alive. A ban is not
// busy: a banned node, or one that banned this node, is of no use to a
// lookup.
func busy(err error) bool {
	if errors.Is(err, transport.ErrBanned) {
		return false
	}
	return errors.Is(err, &protocol.CodeError{Code: protocol.CodeRateLimited}) || errors.Is(err, transport.ErrRateLimited)
}
