package membership

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
)

// Gossip packets travel as raw UDP on the node's socket, sealed with the
// realm's gossip key (AES-GCM):
//
//	sealVersion (1 byte) | nonce (12 bytes) | ciphertext | tag (16 bytes)
//
// with the realm name as additional data, so a packet sealed for one realm
// does not open in another that happens to share a key. The first byte is
// below 0x40, so quic-go hands the packet over instead of parsing it as
// QUIC.
const (
	sealVersion  byte = 1
	nonceSize         = 12
	sealOverhead      = 1 + nonceSize + 16
)

const (
	// maxKeys bounds a keyring (installed keys, the primary included).
	maxKeys = 16
	// maxRemoved bounds the remembered removals.
	maxRemoved = 64
)

// KeyringInfo describes a node's gossip keyring.
type KeyringInfo struct {
	// Primary is the key packets are sealed with.
	Primary []byte
	// Keys are every installed key, the primary first; packets sealed with
	// any of them are opened.
	Keys [][]byte
	// Generation counts how often a primary was chosen with UseKey across
	// the realm: of two keyrings with different primaries, the higher
	// generation wins when they meet (ties: the key with the smaller
	// SHA-256).
	Generation uint64
}

// keyring holds the gossip keys. Two nodes' keyrings merge whenever they
// open a membership stream to each other (always over mutually
// authenticated QUIC): each learns the other's keys and removals, and both
// end with the same primary. So keys spread through the realm with
// memberlist's state exchanges, and only holders of a valid realm
// certificate ever receive one.
type keyring struct {
	realm []byte

	mu         sync.RWMutex
	keys       [][]byte // primary first
	aeads      []cipher.AEAD
	generation uint64
	removed    [][sha256.Size]byte // hashes of removed keys
}

// checkKey validates an AES key size.
func checkKey(k []byte) error {
	switch len(k) {
	case 16, 24, 32:
		return nil
	}
	return fmt.Errorf("%w: gossip key must be 16, 24 or 32 bytes, got %d", ErrInvalidKey, len(k))
}

// newKeyring returns a keyring for realm whose primary is primary.
func newKeyring(realm string, primary []byte) (*keyring, error) {
	if err := checkKey(primary); err != nil {
		return nil, err
	}
	kr := &keyring{realm: []byte(realm)}
	if err := kr.addLocked(primary); err != nil {
		return nil, err
	}
	return kr, nil
}

// RandomKey returns a new random 32-byte gossip key.
func RandomKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}

func keyHash(k []byte) [sha256.Size]byte { return sha256.Sum256(k) }

// addLocked installs k (not as primary) if it is new. Callers hold kr.mu
// (or own kr alone).
func (kr *keyring) addLocked(k []byte) error {
	if kr.indexLocked(k) >= 0 {
		return nil
	}
	if len(kr.keys) >= maxKeys {
		return fmt.Errorf("%w: keyring full (%d keys)", ErrInvalidKey, maxKeys)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	kr.keys = append(kr.keys, slices.Clone(k))
	kr.aeads = append(kr.aeads, aead)
	h := keyHash(k)
	kr.removed = slices.DeleteFunc(kr.removed, func(r [sha256.Size]byte) bool { return r == h })
	return nil
}

func (kr *keyring) indexLocked(k []byte) int {
	return slices.IndexFunc(kr.keys, func(x []byte) bool { return bytes.Equal(x, k) })
}

// makePrimaryLocked moves the installed key at i to the front.
func (kr *keyring) makePrimaryLocked(i int) {
	k, a := kr.keys[i], kr.aeads[i]
	kr.keys = slices.Delete(kr.keys, i, i+1)
	kr.aeads = slices.Delete(kr.aeads, i, i+1)
	kr.keys = slices.Insert(kr.keys, 0, k)
	kr.aeads = slices.Insert(kr.aeads, 0, a)
}

// Install adds k to the keyring: packets sealed with it open from now on.
func (kr *keyring) Install(k []byte) error {
	if err := checkKey(k); err != nil {
		return err
	}
	kr.mu.Lock()
	defer kr.mu.Unlock()
	return kr.addLocked(k)
}

// Use makes the installed key k the primary, with a generation above
// every one this node has seen, so it wins wherever it spreads.
func (kr *keyring) Use(k []byte) error {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	i := kr.indexLocked(k)
	if i < 0 {
		return fmt.Errorf("%w: key not installed", ErrInvalidKey)
	}
	kr.makePrimaryLocked(i)
	kr.generation++
	return nil
}

// Remove uninstalls k and remembers its removal, which spreads like keys
// do. The primary cannot be removed.
func (kr *keyring) Remove(k []byte) error {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	i := kr.indexLocked(k)
	if i < 0 {
		return fmt.Errorf("%w: key not installed", ErrInvalidKey)
	}
	if i == 0 {
		return fmt.Errorf("%w: the primary key cannot be removed; use another first", ErrInvalidKey)
	}
	kr.removeAtLocked(i)
	return nil
}

func (kr *keyring) removeAtLocked(i int) {
	h := keyHash(kr.keys[i])
	kr.keys = slices.Delete(kr.keys, i, i+1)
	kr.aeads = slices.Delete(kr.aeads, i, i+1)
	kr.rememberRemovedLocked(h)
}

// rememberRemovedLocked records the removal of the key with hash h, once,
// forgetting the oldest removal when maxRemoved are kept.
func (kr *keyring) rememberRemovedLocked(h [sha256.Size]byte) {
	if slices.Contains(kr.removed, h) {
		return
	}
	if len(kr.removed) >= maxRemoved {
		kr.removed = kr.removed[1:]
	}
	kr.removed = append(kr.removed, h)
}

// Info returns a copy of the keyring's state.
func (kr *keyring) Info() KeyringInfo {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	info := KeyringInfo{Primary: slices.Clone(kr.keys[0]), Generation: kr.generation}
	for _, k := range kr.keys {
		info.Keys = append(info.Keys, slices.Clone(k))
	}
	return info
}

// seal returns b sealed with the primary key.
func (kr *keyring) seal(b []byte) []byte {
	kr.mu.RLock()
	aead := kr.aeads[0]
	kr.mu.RUnlock()
	out := make([]byte, 1+nonceSize, sealOverhead+len(b))
	out[0] = sealVersion
	_, _ = rand.Read(out[1 : 1+nonceSize])
	return aead.Seal(out, out[1:1+nonceSize], b, kr.realm)
}

// open returns the plaintext of a sealed packet, trying every installed
// key, primary first; ok is false if none opens it.
func (kr *keyring) open(p []byte) (b []byte, ok bool) {
	if len(p) < sealOverhead || p[0] != sealVersion {
		return nil, false
	}
	nonce, ct := p[1:1+nonceSize], p[1+nonceSize:]
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	for _, aead := range kr.aeads {
		if out, err := aead.Open(nil, nonce, ct, kr.realm); err == nil {
			return out, true
		}
	}
	return nil, false
}

// The keyring travels on a membership stream as
//
//	generation (8 bytes) | key count (1) | keys (length byte + key each, primary first) |
//	removal count (1) | SHA-256 of each removed key (32 each)
const maxKeyringMessage = 8 + 1 + maxKeys*33 + 1 + maxRemoved*sha256.Size

// encode returns the keyring as exchanged on a membership stream.
func (kr *keyring) encode() []byte {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	b := binary.BigEndian.AppendUint64(nil, kr.generation)
	b = append(b, byte(len(kr.keys)))
	for _, k := range kr.keys {
		b = append(b, byte(len(k)))
		b = append(b, k...)
	}
	b = append(b, byte(len(kr.removed)))
	for _, h := range kr.removed {
		b = append(b, h[:]...)
	}
	return b
}

// remoteKeyring is a peer's keyring as decoded from a stream.
type remoteKeyring struct {
	generation uint64
	keys       [][]byte // primary first
	removed    [][sha256.Size]byte
}

// decodeKeyring parses a keyring message; it fails with ErrInvalidKeyring
// on anything malformed.
func decodeKeyring(b []byte) (remoteKeyring, error) {
	var r remoteKeyring
	fail := func(what string) (remoteKeyring, error) {
		return remoteKeyring{}, fmt.Errorf("%w: %s", ErrInvalidKeyring, what)
	}
	if len(b) < 10 {
		return fail("short")
	}
	r.generation = binary.BigEndian.Uint64(b)
	n := int(b[8])
	b = b[9:]
	if n == 0 || n > maxKeys {
		return fail("key count")
	}
	for range n {
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return fail("truncated key")
		}
		k := b[1 : 1+int(b[0])]
		if checkKey(k) != nil {
			return fail("key size")
		}
		r.keys = append(r.keys, slices.Clone(k))
		b = b[1+len(k):]
	}
	if len(b) < 1 {
		return fail("no removal count")
	}
	m := int(b[0])
	b = b[1:]
	if m > maxRemoved || len(b) != m*sha256.Size {
		return fail("removals")
	}
	for i := range m {
		r.removed = append(r.removed, [sha256.Size]byte(b[i*sha256.Size:(i+1)*sha256.Size]))
	}
	return r, nil
}

// wins reports whether a primary of generation g1 and key k1 beats one of
// g2 and k2.
func wins(g1 uint64, k1 []byte, g2 uint64, k2 []byte) bool {
	if g1 != g2 {
		return g1 > g2
	}
	h1, h2 := keyHash(k1), keyHash(k2)
	return bytes.Compare(h1[:], h2[:]) < 0
}

// merge folds a peer's keyring into this one: its removals, then the
// winning primary, then every key of its not removed (the losing primary
// too, so packets still sealed with it open here). It reports whether the
// primary changed.
func (kr *keyring) merge(r remoteKeyring) (changed bool) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	for _, h := range r.removed {
		for i := len(kr.keys) - 1; i > 0; i-- {
			if keyHash(kr.keys[i]) == h {
				kr.removeAtLocked(i)
			}
		}
		if keyHash(kr.keys[0]) != h {
			kr.rememberRemovedLocked(h)
		}
	}
	remotePrimary := r.keys[0]
	switch {
	case bytes.Equal(remotePrimary, kr.keys[0]):
		kr.generation = max(kr.generation, r.generation)
	case wins(r.generation, remotePrimary, kr.generation, kr.keys[0]):
		old := kr.keys[0]
		if err := kr.addLocked(remotePrimary); err == nil {
			kr.makePrimaryLocked(kr.indexLocked(remotePrimary))
			kr.generation = r.generation
			changed = true
			// The primary it replaces may be one the remote removed:
			// demoted now, it goes too.
			if slices.Contains(r.removed, keyHash(old)) {
				kr.removeAtLocked(kr.indexLocked(old))
			}
		}
	}
	for _, k := range r.keys {
		if !slices.Contains(kr.removed, keyHash(k)) {
			_ = kr.addLocked(k) // a full keyring keeps what it has
		}
	}
	return changed
}
