package directory

import (
	"errors"
	"fmt"
	"net"
)

var (
	// ErrClosed is returned by Lookup and LookupEach after Close. It also
	// matches [net.ErrClosed].
	ErrClosed = fmt.Errorf("macula: directory closed: %w", net.ErrClosed)
	// ErrInvalidConfig is wrapped by New's errors.
	ErrInvalidConfig = errors.New("macula: invalid directory config")
)
