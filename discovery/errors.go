package discovery

import (
	"errors"

	"github.com/org/macula/internal/sentinel"
)

// Sentinel errors returned by this package. They are always wrapped with
// detail using %w, so test for them with [errors.Is], never by comparing
// error strings.
var (
	// ErrSourceFailed reports that a [Source] could not produce its current
	// set of addresses: the server was unreachable, answered with an error,
	// or sent an answer that does not parse. The wrapping error names the
	// source and, where there is one, wraps the underlying error too.
	ErrSourceFailed = errors.New("macula: discovery source failed")
	// ErrInvalidConfig reports a configuration rejected by a constructor of
	// this package ([MDNS], [Advertise], [DNSSRV], [Consul], [Kubernetes],
	// [NewRunner]); the wrapping error names the offending field.
	// It matches macula.ErrInvalidConfig, as every package's config
	// error does.
	ErrInvalidConfig = sentinel.Narrow(sentinel.ErrInvalidConfig, "macula: invalid discovery config")
)
