package protocol

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestVerifySignature(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	id := sha256.Sum256(pub)
	_, otherPriv, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	msg := EventSigningBytes("a.b", []byte("x"), "text/plain", id[:], 7, 99, QoS_QOS_AT_LEAST_ONCE)
	sig := ed25519.Sign(priv, msg)
	require.NoError(t, VerifySignature(id[:], pub, msg, sig))

	otherID := sha256.Sum256(otherPriv.Public().(ed25519.PublicKey))
	for name, tc := range map[string]struct{ signer, key, msg, sig []byte }{
		"changed topic":           {id[:], pub, EventSigningBytes("a.c", []byte("x"), "text/plain", id[:], 7, 99, QoS_QOS_AT_LEAST_ONCE), sig},
		"changed seq":             {id[:], pub, EventSigningBytes("a.b", []byte("x"), "text/plain", id[:], 8, 99, QoS_QOS_AT_LEAST_ONCE), sig},
		"changed qos":             {id[:], pub, EventSigningBytes("a.b", []byte("x"), "text/plain", id[:], 7, 99, QoS_QOS_AT_MOST_ONCE), sig},
		"key of another signer":   {otherID[:], pub, msg, sig},
		"signed by another key":   {id[:], pub, msg, ed25519.Sign(otherPriv, msg)},
		"short key":               {id[:], pub[:10], msg, sig},
		"short signature":         {id[:], pub, msg, sig[:10]},
		"event sig as rpc result": {id[:], pub, ResultSigningBytes(id[:], "a.b", 7, []byte("x"), "text/plain"), sig},
	} {
		t.Run(name, func(t *testing.T) {
			err := VerifySignature(tc.signer, tc.key, tc.msg, tc.sig)
			require.True(t, errors.Is(err, ErrBadSignature), "got %v", err)
		})
	}
}

func TestSigningBytesSeparateFields(t *testing.T) {
	// Moving bytes from one field to the next must change the encoding.
	a := EventSigningBytes("ab", []byte("c"), "", nil, 0, 0, 0)
	b := EventSigningBytes("a", []byte("bc"), "", nil, 0, 0, 0)
	require.NotEqual(t, a, b)
	c := ResultSigningBytes([]byte("x"), "p", 1, []byte("ab"), "c")
	d := ResultSigningBytes([]byte("x"), "p", 1, []byte("a"), "bc")
	require.NotEqual(t, c, d)
}
