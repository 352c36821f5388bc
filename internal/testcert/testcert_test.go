package testcert

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/security"
)

func TestForgedSANIsRefused(t *testing.T) {
	victim, err := security.GenerateIdentity()
	require.NoError(t, err)
	cert, err := ForgedSAN("org.example.test", victim.ID())
	require.NoError(t, err)
	_, _, err = security.VerifyPeer(cert.Certificate, security.VerifyOptions{Realm: "org.example.test"})
	require.ErrorIs(t, err, security.ErrIdentityMismatch)
}
