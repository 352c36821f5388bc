package topology

import "errors"

// Sentinel errors returned by this package. They are always wrapped with
// detail using %w, so test for them with [errors.Is], never by comparing
// error strings.
var (
	// ErrInvalidConfig reports a [Config] that [New] cannot use; the
	// wrapping error names the field.
	ErrInvalidConfig = errors.New("macula: invalid topology config")
	// ErrInvalidGraph reports input that [ParseGraphJSON] cannot decode as a
	// graph: malformed JSON or a node ID that is not 64 hex digits.
	ErrInvalidGraph = errors.New("macula: invalid graph")
)
