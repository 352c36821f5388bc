package security

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// nodeIDHexLen is the length of a node ID in its text form.
const nodeIDHexLen = 2 * len(NodeID{})

// NodeID identifies a node: the SHA-256 hash of its Ed25519 public key.
// A node can only claim the NodeID of a key it holds.
//
// The zero value is the all-zero ID, which no real key hashes to in
// practice; [NodeID.IsZero] reports it and APIs use it to mean "none".
// Its text form ([NodeID.String], [NodeID.MarshalText]) is 64 lowercase
// hex digits.
type NodeID [32]byte

// NodeIDFromPublicKey returns the NodeID of pub, the SHA-256 of its bytes.
func NodeIDFromPublicKey(pub ed25519.PublicKey) NodeID {
	return NodeID(sha256.Sum256(pub))
}

// ParseNodeID parses the text form of a NodeID: exactly 64 hex digits,
// upper or lower case. Any other input yields an error wrapping
// [ErrInvalidNodeID].
func ParseNodeID(s string) (NodeID, error) {
	var id NodeID
	if len(s) != nodeIDHexLen {
		return NodeID{}, fmt.Errorf("%w: want %d hex digits, got %d characters", ErrInvalidNodeID, nodeIDHexLen, len(s))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return NodeID{}, fmt.Errorf("%w: %v", ErrInvalidNodeID, err)
	}
	return id, nil
}

// String returns the ID as 64 lowercase hex digits.
func (id NodeID) String() string {
	return hex.EncodeToString(id[:])
}

// Short returns the first 8 lowercase hex digits of the ID, for logs.
func (id NodeID) Short() string {
	return hex.EncodeToString(id[:4])
}

// IsZero reports whether id is the zero NodeID.
func (id NodeID) IsZero() bool {
	return id == NodeID{}
}

// Compare orders node IDs by their bytes, like [bytes.Compare]: it returns
// -1 if id < other, 0 if they are equal and +1 if id > other.
func (id NodeID) Compare(other NodeID) int {
	return bytes.Compare(id[:], other[:])
}

// MarshalText implements [encoding.TextMarshaler] with the form of
// [NodeID.String]. It never fails.
func (id NodeID) MarshalText() ([]byte, error) {
	b := make([]byte, nodeIDHexLen)
	hex.Encode(b, id[:])
	return b, nil
}

// UnmarshalText implements [encoding.TextUnmarshaler] with the rules of
// [ParseNodeID]. On error id is left unchanged.
func (id *NodeID) UnmarshalText(b []byte) error {
	parsed, err := ParseNodeID(string(b))
	if err != nil {
		return err
	}
	*id = parsed
	return nil
}

// NodeIDFromBytes returns the node ID held in b, which must be exactly 32
// bytes (as in protocol messages); otherwise the error wraps
// [ErrInvalidNodeID].
func NodeIDFromBytes(b []byte) (NodeID, error) {
	var id NodeID
	if len(b) != len(id) {
		return NodeID{}, fmt.Errorf("%w: want %d bytes, got %d", ErrInvalidNodeID, len(id), len(b))
	}
	copy(id[:], b)
	return id, nil
}
