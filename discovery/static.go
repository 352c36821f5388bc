package discovery

import (
	"context"
	"slices"
)

// staticSource is the Source returned by Static.
type staticSource struct {
	addrs []string
}

// Static returns a [Source] named "static" that always yields a copy of
// addrs ("host:port" or macula:// URIs), unchecked; a node reports bad
// entries when it dials them. Discover never fails.
func Static(addrs ...string) Source {
	return &staticSource{addrs: slices.Clone(addrs)}
}

// Name returns "static".
func (s *staticSource) Name() string { return "static" }

// Discover returns a copy of the addresses given to [Static].
func (s *staticSource) Discover(context.Context) ([]string, error) {
	return slices.Clone(s.addrs), nil
}
