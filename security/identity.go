package security

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// pemTypePrivateKey is the PEM block type of a PKCS#8 private key.
const pemTypePrivateKey = "PRIVATE KEY"

// Identity is a node's Ed25519 key pair together with its [NodeID].
//
// An Identity is immutable and safe for concurrent use. Create one with
// [GenerateIdentity], [IdentityFromPrivateKey], [ParseIdentityPEM] or load
// one from disk with [LoadIdentity] / [LoadOrCreateIdentity]. A nil or zero
// Identity holds no key: its methods return zero values (and MarshalPEM an
// error), and functions taking one fail with [ErrInvalidIdentity].
type Identity struct {
	priv ed25519.PrivateKey
	id   NodeID
}

// GenerateIdentity creates a fresh identity from crypto/rand.
func GenerateIdentity() (*Identity, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("macula: generate identity: %w", err)
	}
	return newIdentity(priv), nil
}

// IdentityFromPrivateKey wraps an existing Ed25519 private key. The key is
// copied. It returns an error wrapping [ErrInvalidIdentity] if priv is not
// [ed25519.PrivateKeySize] bytes long or its public half does not belong to
// its seed.
func IdentityFromPrivateKey(priv ed25519.PrivateKey) (*Identity, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: private key is %d bytes, want %d", ErrInvalidIdentity, len(priv), ed25519.PrivateKeySize)
	}
	derived := ed25519.NewKeyFromSeed(priv.Seed())
	if !bytes.Equal(derived, priv) {
		return nil, fmt.Errorf("%w: public key does not match private seed", ErrInvalidIdentity)
	}
	return newIdentity(derived), nil
}

// newIdentity takes ownership of priv, which must be a valid key.
func newIdentity(priv ed25519.PrivateKey) *Identity {
	pub, _ := priv.Public().(ed25519.PublicKey)
	return &Identity{priv: priv, id: NodeIDFromPublicKey(pub)}
}

// usable reports whether i holds a key, that is whether it was made by a
// constructor of this package.
func (i *Identity) usable() bool {
	return i != nil && len(i.priv) == ed25519.PrivateKeySize
}

// checkIdentity returns an error wrapping ErrInvalidIdentity for an
// unusable identity.
func checkIdentity(i *Identity) error {
	if !i.usable() {
		return fmt.Errorf("%w: nil or zero identity", ErrInvalidIdentity)
	}
	return nil
}

// ID returns the node ID of the identity.
func (i *Identity) ID() NodeID {
	if !i.usable() {
		return NodeID{}
	}
	return i.id
}

// PublicKey returns a copy of the identity's public key.
func (i *Identity) PublicKey() ed25519.PublicKey {
	if !i.usable() {
		return nil
	}
	return bytes.Clone(i.priv[ed25519.SeedSize:])
}

// PrivateKey returns a copy of the identity's private key.
func (i *Identity) PrivateKey() ed25519.PrivateKey {
	if !i.usable() {
		return nil
	}
	return bytes.Clone(i.priv)
}

// Sign signs msg with the identity's key (pure Ed25519, no pre-hashing).
// Verify with [ed25519.Verify] and [Identity.PublicKey].
func (i *Identity) Sign(msg []byte) []byte {
	if !i.usable() {
		return nil
	}
	return ed25519.Sign(i.priv, msg)
}

// MarshalPEM encodes the private key as a PKCS#8 "PRIVATE KEY" PEM block,
// the form [ParseIdentityPEM] and [LoadIdentity] read.
func (i *Identity) MarshalPEM() ([]byte, error) {
	if err := checkIdentity(i); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(i.priv)
	if err != nil {
		return nil, fmt.Errorf("macula: marshal identity: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemTypePrivateKey, Bytes: der}), nil
}

// ParseIdentityPEM decodes the first PEM block of data, which must be a
// PKCS#8 "PRIVATE KEY" holding an Ed25519 key. Anything else yields an
// error wrapping [ErrInvalidIdentity].
func ParseIdentityPEM(data []byte) (*Identity, error) {
	priv, err := parseEd25519KeyPEM(data)
	if err != nil {
		return nil, err
	}
	return newIdentity(priv), nil
}

// parseEd25519KeyPEM decodes a PKCS#8 Ed25519 private key PEM block.
func parseEd25519KeyPEM(data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block found", ErrInvalidIdentity)
	}
	if block.Type != pemTypePrivateKey {
		return nil, fmt.Errorf("%w: PEM block type %q, want %q", ErrInvalidIdentity, block.Type, pemTypePrivateKey)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidIdentity, err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: key type %T, want Ed25519", ErrInvalidIdentity, key)
	}
	return priv, nil
}

// SaveIdentity writes id to path as PEM (see [Identity.MarshalPEM]) with
// file mode 0600. It writes a temporary file in the same directory and
// renames it over path, so readers never see a partial file; an existing
// file at path is replaced. The directory must exist.
func SaveIdentity(path string, id *Identity) error {
	data, err := id.MarshalPEM()
	if err != nil {
		return err
	}
	return writeFileAtomic(path, data, false)
}

// LoadIdentity reads an identity written by [SaveIdentity]. A missing file
// yields an error matching [fs.ErrNotExist]; bad contents one wrapping
// [ErrInvalidIdentity].
func LoadIdentity(path string) (*Identity, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("macula: load identity: %w", err)
	}
	id, err := ParseIdentityPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return id, nil
}

// LoadOrCreateIdentity loads the identity at path or, if there is no file
// there, generates one and saves it (mode 0600), first creating missing
// parent directories with mode 0700. created reports whether a new identity
// was made. If two processes race to create the file, exactly one wins and
// both return the winner's identity (on file systems without hard links
// the window for the loser's file to replace the winner's is tiny but not
// zero). An existing but unreadable or invalid file is an error; it is
// never overwritten.
func LoadOrCreateIdentity(path string) (id *Identity, created bool, err error) {
	id, err = LoadIdentity(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return id, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("macula: create identity directory: %w", err)
	}
	id, err = GenerateIdentity()
	if err != nil {
		return nil, false, err
	}
	data, err := id.MarshalPEM()
	if err != nil {
		return nil, false, err
	}
	err = writeFileAtomic(path, data, true)
	if errors.Is(err, fs.ErrExist) {
		// Someone else created it between our load and our write.
		id, err = LoadIdentity(path)
		return id, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return id, true, nil
}

// writeFileAtomic writes data to a temporary file (mode 0600) next to path
// and then moves it into place. With exclusive set it fails with an error
// matching [fs.ErrExist] instead of replacing an existing file.
func writeFileAtomic(path string, data []byte, exclusive bool) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("macula: write %s: %w", path, err)
	}
	tmpName := tmp.Name()
	defer func() {
		// After a successful rename tmpName no longer exists; after a
		// successful link it is a second name we no longer need.
		_ = os.Remove(tmpName)
	}()
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("macula: write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("macula: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("macula: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("macula: write %s: %w", path, err)
	}
	if exclusive {
		switch err := os.Link(tmpName, path); {
		case err == nil:
			syncDir(dir)
			return nil
		case errors.Is(err, fs.ErrExist):
			return fmt.Errorf("macula: write %s: %w", path, err)
		}
		// Hard links are not supported here: fall back to a rename, which
		// can only replace a file created in the last few instructions.
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("macula: write %s: %w", path, fs.ErrExist)
		}
	}
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("macula: write %s: %w", path, err)
	}
	syncDir(dir)
	return nil
}

// syncDir flushes a directory entry change to disk, best effort: not every
// platform can fsync a directory and the data is already safe in the file.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
