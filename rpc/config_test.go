package rpc

import (
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/security"
)

func validConfig(t *testing.T) Config {
	id, err := security.GenerateIdentity()
	require.NoError(t, err)
	return Config{Self: id.ID(), Realm: testRealm, Network: &fakeNetwork{}, Records: &fakeRecords{id: id}, Directory: &fakeDirectory{}}
}

// TestEveryConfigFieldHasADefault fails when a Config field is added
// without a decision about its default: either withDefaults sets it, or it
// is required, or it is listed here with what its zero value means.
func TestEveryConfigFieldHasADefault(t *testing.T) {
	zeroMeans := map[string]string{
		"Addrs":             "no addresses in the provider record",
		"RTT":               "the transport's estimate",
		"Resolve":           "no resolution of unconnected nodes",
		"Policy":            "LocalFirst",
		"Authorize":         "every call allowed",
		"Signer":            "results sent unsigned",
		"RequireSignatures": "unsigned results accepted",
		"OnRefused":         "refused results only counted",
	}
	cfg, err := validConfig(t).withDefaults()
	require.NoError(t, err)
	v := reflect.ValueOf(cfg)
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		_, documented := zeroMeans[name]
		if v.Field(i).IsZero() {
			require.True(t, documented, "Config.%s has no default and no documented zero value", name)
		} else {
			require.False(t, documented, "Config.%s has a default but is listed as zero-valued", name)
		}
	}
	require.Equal(t, DefaultMaxAttempts, cfg.MaxAttempts)
	require.Equal(t, DefaultAcceptTimeout, cfg.AcceptTimeout)
	require.Equal(t, DefaultUnregisterTimeout, cfg.UnregisterTimeout)
	require.Equal(t, DefaultFailureBackoff, cfg.FailureBackoff)
	require.Equal(t, LocalFirst, cfg.Policy)
}

func TestInvalidConfig(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"no self":           func(c *Config) { c.Self = security.NodeID{} },
		"no network":        func(c *Config) { c.Network = nil },
		"no records":        func(c *Config) { c.Records = nil },
		"no directory":      func(c *Config) { c.Directory = nil },
		"bad realm":         func(c *Config) { c.Realm = "Not A Realm" },
		"unknown policy":    func(c *Config) { c.Policy = LeastLatency + 1 },
		"negative attempts": func(c *Config) { c.MaxAttempts = -1 },
		"negative frame":    func(c *Config) { c.MaxFrameSize = -1 },
		"tiny frame":        func(c *Config) { c.MaxFrameSize = FrameOverhead },
		"negative timeout":  func(c *Config) { c.AcceptTimeout = -time.Second },
		"negative unreg":    func(c *Config) { c.UnregisterTimeout = -time.Second },
		"negative backoff":  func(c *Config) { c.FailureBackoff = -time.Second },
	} {
		cfg := validConfig(t)
		mutate(&cfg)
		_, err := New(cfg)
		require.ErrorIs(t, err, ErrInvalidConfig, name)
	}
}

func TestNewHandlesAndCloseUnhandles(t *testing.T) {
	s, _, nw := localService(t, nil)
	require.True(t, nw.handled)
	require.NoError(t, s.Close())
	require.False(t, nw.handled)
	require.NoError(t, s.Close())
}
