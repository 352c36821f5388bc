package security

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSentinelErrors(t *testing.T) {
	sentinels := []error{
		ErrInvalidNodeID, ErrInvalidRealm, ErrInvalidURI, ErrInvalidIdentity,
		ErrInvalidCertificate, ErrNoCertificate, ErrIdentityMismatch, ErrRealmMismatch,
		ErrCertificateExpired, ErrUntrustedCertificate, ErrUnexpectedPeer,
		ErrACLDenied, ErrInvalidACL,
	}
	for i, err := range sentinels {
		require.True(t, strings.HasPrefix(err.Error(), "macula: "), "%q lacks the macula: prefix", err)
		for j, other := range sentinels {
			if i != j {
				require.False(t, errors.Is(err, other), "%q matches %q", err, other)
				require.NotEqual(t, err.Error(), other.Error())
			}
		}
	}
}
