package macula_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula"
	"github.com/org/macula/security"
)

// A certificate rotated on a running node is what new peers see, and
// connections made before keep working.
func TestRotateCertificate(t *testing.T) {
	ctx := context.Background()
	ca, err := security.NewRealmCA(macula.DefaultRealm, time.Hour)
	require.NoError(t, err)
	newNode := func(id *security.Identity, roles ...string) *macula.Node {
		cert, err := ca.IssueTLSCertificate(id, security.IssueOptions{Roles: roles})
		require.NoError(t, err)
		n, err := macula.New(macula.WithListenAddr("127.0.0.1:0"), macula.WithIdentity(id),
			macula.WithCertificate(cert), macula.WithRealmCA(ca.CertPool()))
		require.NoError(t, err)
		t.Cleanup(func() { _ = n.Close() })
		return n
	}
	idA, err := security.GenerateIdentity()
	require.NoError(t, err)
	a := newNode(idA, "sensor")
	idB, err := security.GenerateIdentity()
	require.NoError(t, err)
	b := newNode(idB)
	require.NoError(t, b.Join(ctx, a.URI()))
	rolesSeenBy := func(n *macula.Node) []string {
		for _, p := range n.Peers() {
			if p.ID == a.ID() {
				return security.RolesOf(p.Certificate)
			}
		}
		return nil
	}
	require.Equal(t, []string{"sensor"}, rolesSeenBy(b))

	renewed, err := ca.IssueTLSCertificate(idA, security.IssueOptions{Roles: []string{"gateway", "sensor"}})
	require.NoError(t, err)
	require.NoError(t, a.RotateCertificate(renewed))

	idC, err := security.GenerateIdentity()
	require.NoError(t, err)
	c := newNode(idC)
	require.NoError(t, c.Join(ctx, a.URI()))
	require.Equal(t, []string{"gateway", "sensor"}, rolesSeenBy(c), "new connections get the rotated certificate")
	require.Equal(t, []string{"sensor"}, rolesSeenBy(b), "the existing connection keeps its certificate")
	_, err = b.Ping(ctx, a.ID())
	require.NoError(t, err, "and keeps working")

	// A certificate for another identity is refused, and nothing changes.
	other, err := ca.IssueTLSCertificate(idB, security.IssueOptions{})
	require.NoError(t, err)
	require.ErrorIs(t, a.RotateCertificate(other), macula.ErrInvalidOption)
	idD, err := security.GenerateIdentity()
	require.NoError(t, err)
	d := newNode(idD)
	require.NoError(t, d.Join(ctx, a.URI()))
	require.Equal(t, []string{"gateway", "sensor"}, rolesSeenBy(d))
}
