package macula_test

import (
	"context"
	"crypto/tls"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula"
	"github.com/org/macula/security"
)

func TestInvalidOptions(t *testing.T) {
	id, err := security.GenerateIdentity()
	require.NoError(t, err)
	other, err := security.GenerateIdentity()
	require.NoError(t, err)
	otherCert, err := security.SelfSignedCertificate(other, macula.DefaultRealm, time.Hour)
	require.NoError(t, err)
	ca, err := security.NewRealmCA(macula.DefaultRealm, time.Hour)
	require.NoError(t, err)

	cases := []struct {
		name string
		opts []macula.Option
	}{
		{"bad realm", []macula.Option{macula.WithRealm("Not A Realm")}},
		{"empty realm", []macula.Option{macula.WithRealm("")}},
		{"bad listen address", []macula.Option{macula.WithListenAddr("nowhere")}},
		{"bad bootstrap", []macula.Option{macula.WithBootstrap("127.0.0.1")}},
		{"bootstrap URI without address", []macula.Option{macula.WithBootstrap("macula://org.example.mesh/" + id.ID().String())}},
		{"zero idle timeout", []macula.Option{macula.WithIdleTimeout(0)}},
		{"keep-alive not shorter than idle", []macula.Option{macula.WithIdleTimeout(time.Second), macula.WithKeepAlive(time.Second)}},
		{"negative handshake timeout", []macula.Option{macula.WithHandshakeTimeout(-time.Second)}},
		{"tiny frames", []macula.Option{macula.WithMaxFrameSize(10)}},
		{"nil identity", []macula.Option{macula.WithIdentity(nil)}},
		{"identity and file", []macula.Option{macula.WithIdentity(id), macula.WithIdentityFile(filepath.Join(t.TempDir(), "id.pem"))}},
		{"certificate for another key", []macula.Option{macula.WithIdentity(id), macula.WithCertificate(otherCert), macula.WithListenAddr("127.0.0.1:0")}},
		{"empty certificate", []macula.Option{macula.WithCertificate(tls.Certificate{})}},
		{"self-signed certificate with a realm CA", []macula.Option{macula.WithRealmCA(ca.CertPool()), macula.WithListenAddr("127.0.0.1:0")}},
		{"nil logger", []macula.Option{macula.WithLogger(nil)}},
		{"nil transport", []macula.Option{macula.WithTransport(nil)}},
		{"bad advertise address", []macula.Option{macula.WithAdvertiseAddrs("nohost")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := macula.New(tc.opts...)
			require.ErrorIs(t, err, macula.ErrInvalidOption)
			require.Nil(t, n)
		})
	}
}

func TestMaxFrameSizeWorksFromItsMinimum(t *testing.T) {
	_, err := macula.New(macula.WithListenAddr("127.0.0.1:0"), macula.WithMaxFrameSize(2048))
	require.ErrorIs(t, err, macula.ErrInvalidOption)
	require.ErrorContains(t, err, "WithMaxFrameSize")

	n, err := macula.New(macula.WithListenAddr("127.0.0.1:0"), macula.WithMaxFrameSize(macula.MinMaxFrameSize))
	require.NoError(t, err)
	defer n.Close()
	ctx := context.Background()
	require.NoError(t, n.Publish(ctx, "a.b", make([]byte, macula.MinMaxFrameSize/2)))
	require.ErrorIs(t, n.Publish(ctx, "a.b", make([]byte, macula.MinMaxFrameSize)), macula.ErrMessageTooLarge)
	_, err = n.Call(ctx, "a.b", make([]byte, macula.MinMaxFrameSize))
	require.ErrorIs(t, err, macula.ErrMessageTooLarge)
}

func TestIdentityFileKeepsTheNodeID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "node.pem")
	first, err := macula.New(macula.WithListenAddr("127.0.0.1:0"), macula.WithIdentityFile(path))
	require.NoError(t, err)
	id := first.ID()
	require.NoError(t, first.Close())
	require.FileExists(t, path)

	second, err := macula.New(macula.WithListenAddr("127.0.0.1:0"), macula.WithIdentityFile(path))
	require.NoError(t, err)
	defer second.Close()
	require.Equal(t, id, second.ID())
}

func TestCertificateGivesTheIdentity(t *testing.T) {
	ca, err := security.NewRealmCA(macula.DefaultRealm, time.Hour)
	require.NoError(t, err)
	id, err := security.GenerateIdentity()
	require.NoError(t, err)
	cert, err := ca.IssueTLSCertificate(id, security.IssueOptions{})
	require.NoError(t, err)
	n, err := macula.New(macula.WithListenAddr("127.0.0.1:0"), macula.WithCertificate(cert), macula.WithRealmCA(ca.CertPool()))
	require.NoError(t, err)
	defer n.Close()
	require.Equal(t, id.ID(), n.ID())
}

func TestNilHandlersRefused(t *testing.T) {
	n, err := macula.New(macula.WithListenAddr("127.0.0.1:0"))
	require.NoError(t, err)
	defer n.Close()
	ctx := context.Background()
	_, err = n.Subscribe(ctx, "a.b", nil)
	require.ErrorIs(t, err, macula.ErrInvalidHandler)
	_, err = n.Register(ctx, "a.b", nil)
	require.ErrorIs(t, err, macula.ErrInvalidHandler)
	_, err = n.Register(ctx, "_peer.health", func(context.Context, *macula.Invocation) (any, error) { return nil, nil })
	require.ErrorIs(t, err, macula.ErrReservedProcedure)
}
