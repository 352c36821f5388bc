package topology

import (
	"errors"

	"github.com/org/macula/internal/sentinel"
)

// Sentinel errors returned by this package. They are always wrapped with
// detail using %w, so test for them with [errors.Is], never by comparing
// error strings.
var (
	// ErrInvalidConfig reports a [Config] that [New] cannot use; the
	// wrapping error names the field.
	// It matches macula.ErrInvalidConfig, as every package's config
	// error does.
	ErrInvalidConfig = sentinel.Narrow(sentinel.ErrInvalidConfig, "macula: invalid topology config")
	// ErrInvalidGraph reports input that [ParseGraphJSON] cannot decode as a
	// graph: malformed JSON or a node ID that is not 64 hex digits.
	ErrInvalidGraph = errors.New("macula: invalid graph")
)
