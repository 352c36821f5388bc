package routing

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math/bits"

	kbucket "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/org/macula/security"
)

// Record kinds: the second part of a record's key.
const (
	// KindSub is the kind of subscription records, stored under a topic
	// anchor.
	KindSub = "sub"
	// KindRPC is the kind of procedure provider records.
	KindRPC = "rpc"
	// KindNode is the kind of node address records, named by node ID.
	KindNode = "node"
)

// keyPrefix starts the preimage of every key; the 1 is the key format
// version.
const keyPrefix = "macula/1/"

// Key is a 256-bit DHT key. Record keys come from [KeyFor]; a node ID
// converted with [KeyOf] is the key at which that node sits.
//
// Distances are not measured between keys directly: like
// go-libp2p-kbucket, the DHT places a key or node ID at SHA-256 of its 32
// bytes (kbucket's ConvertKey / ConvertPeerID) and measures the XOR
// distance between those positions.
type Key [32]byte

// KeyFor returns the key of the record named name of the given kind in
// realm: SHA-256("macula/1/<realm>/<kind>/<name>").
func KeyFor(realm, kind, name string) Key {
	h := sha256.New()
	h.Write([]byte(keyPrefix))
	h.Write([]byte(realm))
	h.Write([]byte{'/'})
	h.Write([]byte(kind))
	h.Write([]byte{'/'})
	h.Write([]byte(name))
	var k Key
	h.Sum(k[:0])
	return k
}

// KeyOf returns the key at which the node id sits: its 32 bytes as they
// are. A lookup for KeyOf(id) finds the nodes closest to id.
func KeyOf(id security.NodeID) Key {
	return Key(id)
}

// String returns the key as 64 lowercase hex digits.
func (k Key) String() string {
	return hex.EncodeToString(k[:])
}

// position is a point in the XOR key space: SHA-256 of a key or node ID.
type position [32]byte

// keyPosition returns where k sits in the key space, computed with
// kbucket's own conversion so our distances and the table's agree.
func keyPosition(k Key) position {
	return position(kbucket.ConvertKey(string(k[:])))
}

// nodePosition returns where the node id sits in the key space.
func nodePosition(id security.NodeID) position {
	return position(kbucket.ConvertPeerID(peerID(id)))
}

// peerID casts a node ID to the peer.ID the routing table uses.
func peerID(id security.NodeID) peer.ID {
	return peer.ID(id[:])
}

// nodeIDOf reverses peerID; ok is false if p is not 32 bytes long.
func nodeIDOf(p peer.ID) (id security.NodeID, ok bool) {
	if len(p) != len(id) {
		return id, false
	}
	copy(id[:], p)
	return id, true
}

// xor returns the distance between two positions.
func xor(a, b position) position {
	var d position
	for i := range a {
		d[i] = a[i] ^ b[i]
	}
	return d
}

// closer reports whether distance a is smaller than distance b.
func closer(a, b position) bool {
	return bytes.Compare(a[:], b[:]) < 0
}

// commonPrefixLen returns the number of leading bits a and b share.
func commonPrefixLen(a, b position) int {
	for i := range a {
		if x := a[i] ^ b[i]; x != 0 {
			return i*8 + bits.LeadingZeros8(x)
		}
	}
	return 8 * len(a)
}
