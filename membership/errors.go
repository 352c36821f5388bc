package membership

import "errors"

var (
	// ErrInvalidConfig wraps every invalid Config value.
	ErrInvalidConfig = errors.New("macula: invalid membership config")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("macula: membership closed")
	// ErrJoinFailed means no state exchange with the given node succeeded.
	ErrJoinFailed = errors.New("macula: membership join failed")
)
