package routing

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/security"
)

// testRealm is the realm of every test DHT.
const testRealm = "org.example.test"

// newIdentity returns a fresh identity, failing the test on error.
func newIdentity(t testing.TB) *security.Identity {
	t.Helper()
	id, err := security.GenerateIdentity()
	require.NoError(t, err)
	return id
}

// newTestRecord returns a signed record of id, failing the test on error.
func newTestRecord(t testing.TB, id *security.Identity, kind, name, value string, seq uint64) *Record {
	t.Helper()
	r, err := NewRecord(testRealm, kind, name, []byte(value), time.Minute, seq, id)
	require.NoError(t, err)
	return r
}

// resign returns a copy of r changed by edit and signed again by id, for
// records NewRecord would not make (expired ones, say).
func resign(r *Record, id *security.Identity, edit func(*Record)) *Record {
	c := r.clone()
	edit(c)
	c.sign(id)
	return c
}
