package sentinel

import (
	"errors"
	"fmt"
)

// Shared bases: each package's narrow sentinel of the same kind matches
// one of these under errors.Is.
var (
	// ErrInvalidConfig is matched by every package's invalid-config
	// sentinel (a Config given to a New that cannot use it).
	ErrInvalidConfig = errors.New("macula: invalid config")
	// ErrInvalidOption is matched by every invalid option of every kind:
	// the root's Option and the per-call options of pubsub and rpc.
	ErrInvalidOption = errors.New("macula: invalid option")
	// ErrInvalidHandler is matched by a nil handler given to Subscribe or
	// Register.
	ErrInvalidHandler = errors.New("macula: nil handler")
)

// Narrow returns a new sentinel reading msg that also matches base under
// errors.Is, for a package's own sentinel of base's kind.
func Narrow(base error, msg string) error {
	return &narrowed{msg: msg, base: base}
}

// narrowed is a package's sentinel: a message of its own over a shared base.
type narrowed struct {
	msg  string
	base error
}

func (e *narrowed) Error() string { return e.msg }
func (e *narrowed) Unwrap() error { return e.base }

// Option returns the error of an invalid option: it reads
// "<kind>: <option>: <detail>", matches kind, and matches every error
// that format wraps with %w (the cause).
func Option(kind error, option, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %w", kind, option, fmt.Errorf(format, args...))
}
