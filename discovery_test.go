package macula_test

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/org/macula"
	"github.com/org/macula/discovery"
)

func TestDiscoveryJoinsFoundNodesAndSurvivesAFailingSource(t *testing.T) {
	a := newLocalNode(t, fastMembership)

	// A Consul agent that is down: its port is closed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadConsul := "http://" + l.Addr().String()
	require.NoError(t, l.Close())
	consul, err := discovery.Consul(discovery.ConsulConfig{Addr: deadConsul})
	require.NoError(t, err)

	core, logs := observer.New(zapcore.WarnLevel)
	b := newLocalNode(t, fastMembership, macula.WithLogger(zap.New(core)),
		macula.WithDiscovery(discovery.Static(a.Addr().String()), consul))

	// The static source's address is joined; the broken source is logged.
	waitPeers(t, b, 1)
	require.Equal(t, a.ID(), b.Peers()[0].ID)
	require.Eventually(t, func() bool { return len(b.Members()) == 2 }, 5*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool {
		for _, e := range logs.All() {
			if e.ContextMap()["source"] == consul.Name() {
				return true
			}
		}
		return false
	}, 5*time.Second, 10*time.Millisecond, "the failing source is logged with its name")
}

func TestInvalidDiscoveryOptions(t *testing.T) {
	_, err := macula.New(macula.WithDiscovery(nil))
	require.ErrorIs(t, err, macula.ErrInvalidOption)
	_, err = macula.New(macula.WithListenAddr("127.0.0.1:0"), macula.WithMDNS("no-such-interface0"))
	require.ErrorIs(t, err, macula.ErrInvalidOption)
	_, err = macula.New(macula.WithTopology(0))
	require.ErrorIs(t, err, macula.ErrInvalidOption)
}
