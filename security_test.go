package macula_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
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

// syncBuffer is a bytes.Buffer safe for the auditor's goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Refused handshakes are written to the audit log with their reason.
func TestAuditLogRecordsRefusedHandshakes(t *testing.T) {
	ctx := context.Background()
	var audit syncBuffer
	ca, err := security.NewRealmCA(macula.DefaultRealm, time.Hour)
	require.NoError(t, err)
	id, err := security.GenerateIdentity()
	require.NoError(t, err)
	cert, err := ca.IssueTLSCertificate(id, security.IssueOptions{})
	require.NoError(t, err)
	guarded, err := macula.New(macula.WithListenAddr("127.0.0.1:0"), macula.WithIdentity(id),
		macula.WithCertificate(cert), macula.WithRealmCA(ca.CertPool()), macula.WithAuditLog(&audit))
	require.NoError(t, err)
	defer guarded.Close()

	// A dev-mode node with a self-signed certificate tries to join; the
	// guarded node dials a node of another realm.
	selfSigned, err := macula.New(macula.WithListenAddr("127.0.0.1:0"))
	require.NoError(t, err)
	defer selfSigned.Close()
	require.Error(t, selfSigned.Join(ctx, guarded.Addr().String()))
	stranger, err := macula.New(macula.WithListenAddr("127.0.0.1:0"), macula.WithRealm("org.example.other"))
	require.NoError(t, err)
	defer stranger.Close()
	require.ErrorIs(t, guarded.Join(ctx, stranger.Addr().String()), macula.ErrRealmMismatch)

	require.Eventually(t, func() bool {
		return strings.Count(audit.String(), "\n") >= 2
	}, 5*time.Second, 10*time.Millisecond, "audit log: %s", audit.String())
	var kinds []string
	for _, line := range strings.Split(strings.TrimSpace(audit.String()), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		kinds = append(kinds, fmt.Sprint(rec["kind"]))
		require.NotEmpty(t, rec["remote"], line)
		require.NotEmpty(t, rec["reason"], line)
	}
	require.Contains(t, kinds, "untrusted_certificate")
	require.Contains(t, kinds, "realm_mismatch")
	_, err = macula.New(macula.WithAuditLog(nil))
	require.ErrorIs(t, err, macula.ErrInvalidOption)
}

// The node's own ACL checks follow a rotated certificate's roles.
func TestRotatedRolesApplyToLocalChecks(t *testing.T) {
	ca, err := security.NewRealmCA(macula.DefaultRealm, time.Hour)
	require.NoError(t, err)
	id, err := security.GenerateIdentity()
	require.NoError(t, err)
	viewer, err := ca.IssueTLSCertificate(id, security.IssueOptions{Roles: []string{"viewer"}})
	require.NoError(t, err)
	acl, err := security.NewACL(security.EffectDeny, security.AllowRule("role:sensor", security.ActionPublish, "readings.#"))
	require.NoError(t, err)
	n, err := macula.New(macula.WithListenAddr("127.0.0.1:0"), macula.WithIdentity(id),
		macula.WithCertificate(viewer), macula.WithRealmCA(ca.CertPool()), macula.WithACL(acl))
	require.NoError(t, err)
	defer n.Close()
	ctx := context.Background()
	require.ErrorIs(t, n.Publish(ctx, "readings.t", 1), macula.ErrACLDenied)
	sensor, err := ca.IssueTLSCertificate(id, security.IssueOptions{Roles: []string{"sensor"}})
	require.NoError(t, err)
	require.NoError(t, n.RotateCertificate(sensor))
	require.NoError(t, n.Publish(ctx, "readings.t", 1))
}
