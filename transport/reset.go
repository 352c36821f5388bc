package transport

import (
	"crypto/hkdf"
	"crypto/sha256"

	"github.com/quic-go/quic-go"

	"github.com/org/macula/security"
)

// statelessResetKey derives the node's QUIC stateless reset key from its
// identity. With a key, a node that receives a packet for a connection it
// no longer has (it restarted, or closed the connection while its close
// was lost in a partition) answers with a stateless reset (RFC 9000,
// section 10.3), and the peer drops the connection at once. Without one,
// the peer keeps the dead connection until its idle timeout: calls on it
// hang, and it even wins the duplicate-connection tie-break against the
// fresh connection the other side dials (found by the chaos suite). The
// key must be the same after a restart, so that the tokens a peer already
// holds still match, and secret, so that no one else can reset the node's
// connections: so it is derived from the node's private key, under a
// label of its own.
func statelessResetKey(id *security.Identity) (*quic.StatelessResetKey, error) {
	b, err := hkdf.Key(sha256.New, id.PrivateKey().Seed(), nil, "macula quic stateless reset key v1", len(quic.StatelessResetKey{}))
	if err != nil {
		return nil, err
	}
	key := quic.StatelessResetKey(b)
	return &key, nil
}
