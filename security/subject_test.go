package security

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSubjectOf(t *testing.T) {
	const realm = "org.example.mesh"
	ca := newTestCA(t, realm)
	id := newTestIdentity(t)
	cert, err := ca.IssueTLSCertificate(id, IssueOptions{Roles: []string{"sensor", "admin"}})
	require.NoError(t, err)

	subj, err := SubjectOf(cert.Leaf, true)
	require.NoError(t, err)
	require.Equal(t, Subject{ID: id.ID(), Realm: realm, Roles: []string{"admin", "sensor"}}, subj)
	require.True(t, subj.HasRole("sensor"))
	require.False(t, subj.HasRole("Sensor"))

	// Roles of a certificate no CA vouched for are dropped.
	subj, err = SubjectOf(cert.Leaf, false)
	require.NoError(t, err)
	require.Equal(t, Subject{ID: id.ID(), Realm: realm}, subj)
	require.False(t, subj.HasRole("sensor"))

	self, err := SelfSignedCertificate(id, "dev", 0)
	require.NoError(t, err)
	subj, err = SubjectOf(self.Leaf, false)
	require.NoError(t, err)
	require.Equal(t, Subject{ID: id.ID(), Realm: "dev"}, subj)
}

func TestSubjectString(t *testing.T) {
	id := NodeID{0x1a, 0x2b, 0x3c, 0x4d}
	require.Equal(t, "unknown node", Subject{}.String())
	require.Equal(t, "node 1a2b3c4d", Subject{ID: id}.String())
	require.Equal(t, "node 1a2b3c4d (realm org.example.mesh, roles [a b])",
		Subject{ID: id, Realm: "org.example.mesh", Roles: []string{"a", "b"}}.String())
	require.Equal(t, "unknown node (roles [x])", Subject{Roles: []string{"x"}}.String())
}
