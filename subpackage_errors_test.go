package macula_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/org/macula"
	"github.com/org/macula/directory"
	"github.com/org/macula/discovery"
	"github.com/org/macula/membership"
	"github.com/org/macula/meshtest"
	"github.com/org/macula/pubsub"
	"github.com/org/macula/routing"
	"github.com/org/macula/rpc"
	"github.com/org/macula/security"
	"github.com/org/macula/topology"
	"github.com/org/macula/transport"
)

// TestSubpackageConstructorsKeepTheContract extends the error contract to
// the public subpackages, which are usable on their own: each constructor
// given an unusable config or argument refuses it with an error that
// matches the root sentinel (ErrInvalidConfig for every Config, the
// security sentinels for names and rules), reads "macula: ...", and does
// not panic.
func TestSubpackageConstructorsKeepTheContract(t *testing.T) {
	cases := []struct {
		api  string
		call func() error
		want error
	}{
		{"transport.New", func() error { _, err := transport.New(transport.Config{}); return err }, macula.ErrInvalidConfig},
		{"membership.New", func() error {
			_, err := membership.New(nil, membership.Meta{}, membership.Config{}, zap.NewNop())
			return err
		}, macula.ErrInvalidConfig},
		{"routing.New", func() error { _, err := routing.New(routing.Config{}); return err }, macula.ErrInvalidConfig},
		{"directory.New", func() error { _, err := directory.New(directory.Config{}); return err }, macula.ErrInvalidConfig},
		{"pubsub.New", func() error { _, err := pubsub.New(pubsub.Config{}); return err }, macula.ErrInvalidConfig},
		{"rpc.New", func() error { _, err := rpc.New(rpc.Config{}); return err }, macula.ErrInvalidConfig},
		{"topology.New", func() error { _, err := topology.New(topology.Config{}); return err }, macula.ErrInvalidConfig},
		{"discovery.NewRunner", func() error { _, err := discovery.NewRunner(discovery.RunnerConfig{}); return err }, macula.ErrInvalidConfig},
		{"security.NewRealmCA", func() error { _, err := security.NewRealmCA("not a realm", time.Hour); return err }, macula.ErrInvalidRealm},
		{"security.ParseURI", func() error { _, err := security.ParseURI("http://x"); return err }, macula.ErrInvalidURI},
		{"meshtest.Start", func() error { _, err := meshtest.Start(0, meshtest.OverUDP()); return err }, macula.ErrInvalidConfig},
		{"meshtest.Start options", func() error {
			_, err := meshtest.Start(2, meshtest.OverUDP(), meshtest.WithBootstrapTo(2))
			return err
		}, macula.ErrInvalidOption},
	}
	for _, c := range cases {
		t.Run(c.api, func(t *testing.T) {
			var err error
			require.NotPanics(t, func() { err = c.call() })
			require.Error(t, err)
			require.True(t, errors.Is(err, c.want), "%s: %v does not match %v", c.api, err, c.want)
			require.True(t, strings.HasPrefix(err.Error(), "macula: "), "%s: %q", c.api, err)
		})
	}
}
