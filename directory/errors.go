package directory

import (
	"fmt"
	"net"

	"github.com/org/macula/internal/sentinel"
)

var (
	// ErrClosed is returned by Lookup and LookupEach after Close. It also
	// matches [net.ErrClosed].
	ErrClosed = fmt.Errorf("macula: directory closed: %w", net.ErrClosed)
	// ErrInvalidConfig is wrapped by New's errors. It matches
	// macula.ErrInvalidConfig, as every package's config error does.
	ErrInvalidConfig = sentinel.Narrow(sentinel.ErrInvalidConfig, "macula: invalid directory config")
)
