package membership

import (
	"errors"

	"github.com/org/macula/internal/sentinel"
)

var (
	// ErrInvalidConfig wraps every invalid Config value.
	// It matches macula.ErrInvalidConfig, as every package's config
	// error does.
	ErrInvalidConfig = sentinel.Narrow(sentinel.ErrInvalidConfig, "macula: invalid membership config")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("macula: membership closed")
	// ErrInvalidKey means a gossip key is not a valid AES key (16, 24 or
	// 32 bytes), is not installed, or cannot be removed (the primary).
	ErrInvalidKey = errors.New("macula: invalid gossip key")
	// ErrInvalidKeyring means a peer sent a malformed keyring.
	ErrInvalidKeyring = errors.New("macula: invalid gossip keyring")
	// ErrJoinFailed means no state exchange with the given node succeeded.
	ErrJoinFailed = errors.New("macula: membership join failed")
)
