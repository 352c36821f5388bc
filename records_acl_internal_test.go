package macula

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/security"
)

func TestAuditThrottle(t *testing.T) {
	var a auditThrottle
	now := time.Unix(1000, 0)
	p1, p2 := security.NodeID{1}, security.NodeID{2}
	held, ok := a.admit(p1, security.AuditRateLimited, now)
	require.True(t, ok)
	require.Zero(t, held)
	for range 5 {
		_, ok := a.admit(p1, security.AuditRateLimited, now.Add(100*time.Millisecond))
		require.False(t, ok, "held back within the second")
	}
	_, ok = a.admit(p1, security.AuditBadSignature, now)
	require.True(t, ok, "another kind has its own pace")
	_, ok = a.admit(p2, security.AuditRateLimited, now)
	require.True(t, ok, "another peer has its own pace")
	held, ok = a.admit(p1, security.AuditRateLimited, now.Add(time.Second))
	require.True(t, ok)
	require.Equal(t, 5, held, "the next record counts what was held back")
}

func TestAuditThrottleCountsEvents(t *testing.T) {
	var a auditThrottle
	now := time.Unix(1000, 0)
	p := security.NodeID{1}
	_, ok := a.admitN(p, "dht_query", 64, now)
	require.True(t, ok)
	for range 3 {
		_, ok := a.admitN(p, "dht_query", 64, now.Add(500*time.Millisecond))
		require.False(t, ok)
	}
	held, ok := a.admitN(p, "dht_query", 10, now.Add(time.Second))
	require.True(t, ok)
	require.Equal(t, 192, held, "the events of the records held back")
}
