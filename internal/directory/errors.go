package directory

import "errors"

// ErrClosed is returned by Lookup after Close.
var ErrClosed = errors.New("macula: directory closed")
