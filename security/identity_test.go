package security

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGenerateIdentity(t *testing.T) {
	a := newTestIdentity(t)
	b := newTestIdentity(t)
	require.NotEqual(t, a.ID(), b.ID())
	require.Equal(t, NodeIDFromPublicKey(a.PublicKey()), a.ID())
	require.Len(t, a.PublicKey(), ed25519.PublicKeySize)
	require.Len(t, a.PrivateKey(), ed25519.PrivateKeySize)
	require.True(t, a.PublicKey().Equal(a.PrivateKey().Public()))
}

func TestIdentitySign(t *testing.T) {
	id := newTestIdentity(t)
	msg := []byte("announce")
	sig := id.Sign(msg)
	require.True(t, ed25519.Verify(id.PublicKey(), msg, sig))
	require.False(t, ed25519.Verify(id.PublicKey(), []byte("announcE"), sig))
	require.False(t, ed25519.Verify(newTestIdentity(t).PublicKey(), msg, sig))
}

func TestIdentityKeysAreCopies(t *testing.T) {
	id := newTestIdentity(t)
	want := id.ID()
	priv := id.PrivateKey()
	pub := id.PublicKey()
	for i := range priv {
		priv[i] ^= 0xff
	}
	for i := range pub {
		pub[i] ^= 0xff
	}
	require.Equal(t, want, NodeIDFromPublicKey(id.PublicKey()))
	require.True(t, ed25519.Verify(id.PublicKey(), []byte("m"), id.Sign([]byte("m"))))
}

func TestUnusableIdentity(t *testing.T) {
	dir := t.TempDir()
	for name, id := range map[string]*Identity{"nil": nil, "zero": {}} {
		t.Run(name, func(t *testing.T) {
			require.True(t, id.ID().IsZero())
			require.Nil(t, id.PublicKey())
			require.Nil(t, id.PrivateKey())
			require.Nil(t, id.Sign([]byte("m")))
			_, err := id.MarshalPEM()
			require.ErrorIs(t, err, ErrInvalidIdentity)
			require.ErrorIs(t, SaveIdentity(filepath.Join(dir, name), id), ErrInvalidIdentity)
			_, err = SelfSignedCertificate(id, DefaultRealm, 0)
			require.ErrorIs(t, err, ErrInvalidIdentity)
			_, err = TLSCertificate(id, []byte{1})
			require.ErrorIs(t, err, ErrInvalidIdentity)
			_, err = newTestCA(t, DefaultRealm).IssueTLSCertificate(id, IssueOptions{})
			require.ErrorIs(t, err, ErrInvalidIdentity)
		})
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries)
}

func TestIdentityFromPrivateKey(t *testing.T) {
	orig := newTestIdentity(t)

	t.Run("valid", func(t *testing.T) {
		priv := orig.PrivateKey()
		id, err := IdentityFromPrivateKey(priv)
		require.NoError(t, err)
		require.Equal(t, orig.ID(), id.ID())
		priv[0] ^= 0xff // the identity keeps its own copy
		require.Equal(t, orig.PrivateKey(), id.PrivateKey())
	})

	mismatched := orig.PrivateKey()
	copy(mismatched[ed25519.SeedSize:], newTestIdentity(t).PublicKey())
	bad := []struct {
		name string
		key  ed25519.PrivateKey
	}{
		{"nil", nil},
		{"seed only", orig.PrivateKey().Seed()},
		{"one short", orig.PrivateKey()[:ed25519.PrivateKeySize-1]},
		{"one long", append(orig.PrivateKey(), 0)},
		{"public half of another key", mismatched},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			id, err := IdentityFromPrivateKey(tt.key)
			require.ErrorIs(t, err, ErrInvalidIdentity)
			require.Nil(t, id)
		})
	}
}

func TestIdentityPEMRoundTrip(t *testing.T) {
	id := newTestIdentity(t)
	data, err := id.MarshalPEM()
	require.NoError(t, err)
	block, rest := pem.Decode(data)
	require.NotNil(t, block)
	require.Equal(t, "PRIVATE KEY", block.Type)
	require.Empty(t, rest)
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	require.Equal(t, id.PrivateKey(), key)

	back, err := ParseIdentityPEM(data)
	require.NoError(t, err)
	require.Equal(t, id.ID(), back.ID())
	require.Equal(t, id.PrivateKey(), back.PrivateKey())
}

func TestParseIdentityPEMRejects(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ecPKCS8, err := x509.MarshalPKCS8PrivateKey(ecKey)
	require.NoError(t, err)
	ecSEC1, err := x509.MarshalECPrivateKey(ecKey)
	require.NoError(t, err)
	good, err := newTestIdentity(t).MarshalPEM()
	require.NoError(t, err)
	goodBlock, _ := pem.Decode(good)
	cert, err := SelfSignedCertificate(newTestIdentity(t), DefaultRealm, 0)
	require.NoError(t, err)

	enc := func(typ string, b []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}) }
	tests := []struct {
		name string
		data []byte
	}{
		{"nil", nil},
		{"not PEM", []byte("hello")},
		{"raw DER", goodBlock.Bytes},
		{"certificate block", EncodeCertificatePEM(cert.Certificate[0])},
		{"wrong block type", enc("ED25519 PRIVATE KEY", goodBlock.Bytes)},
		{"ECDSA PKCS#8", enc("PRIVATE KEY", ecPKCS8)},
		{"ECDSA SEC1", enc("EC PRIVATE KEY", ecSEC1)},
		{"garbage DER", enc("PRIVATE KEY", []byte{0x30, 0x03, 0x02, 0x01, 0x00})},
		{"truncated DER", enc("PRIVATE KEY", goodBlock.Bytes[:len(goodBlock.Bytes)-1])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := ParseIdentityPEM(tt.data)
			require.ErrorIs(t, err, ErrInvalidIdentity)
			require.Nil(t, id)
		})
	}
}

func TestSaveLoadIdentity(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "node.key")
	id := newTestIdentity(t)
	require.NoError(t, SaveIdentity(path, id))

	info, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o600), info.Mode().Perm())

	back, err := LoadIdentity(path)
	require.NoError(t, err)
	require.Equal(t, id.ID(), back.ID())

	// Saving again replaces the file atomically and leaves no temp files.
	other := newTestIdentity(t)
	require.NoError(t, SaveIdentity(path, other))
	back, err = LoadIdentity(path)
	require.NoError(t, err)
	require.Equal(t, other.ID(), back.ID())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, "node.key", entries[0].Name())

	// A file that was 0644 before is 0600 after being replaced.
	loose := filepath.Join(dir, "loose.key")
	require.NoError(t, os.WriteFile(loose, []byte("x"), 0o644))
	require.NoError(t, SaveIdentity(loose, id))
	info, err = os.Stat(loose)
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o600), info.Mode().Perm())
}

func TestSaveIdentityErrors(t *testing.T) {
	dir := t.TempDir()
	require.ErrorIs(t, SaveIdentity(filepath.Join(dir, "k"), nil), ErrInvalidIdentity)
	_, err := os.Stat(filepath.Join(dir, "k"))
	require.ErrorIs(t, err, fs.ErrNotExist)

	err = SaveIdentity(filepath.Join(dir, "missing", "k"), newTestIdentity(t))
	require.ErrorIs(t, err, fs.ErrNotExist)
}

func TestLoadIdentityErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadIdentity(filepath.Join(dir, "absent"))
	require.ErrorIs(t, err, fs.ErrNotExist)

	bad := filepath.Join(dir, "bad")
	require.NoError(t, os.WriteFile(bad, []byte("not a key"), 0o600))
	_, err = LoadIdentity(bad)
	require.ErrorIs(t, err, ErrInvalidIdentity)
	require.Contains(t, err.Error(), bad)
}

func TestLoadOrCreateIdentity(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "macula")
	path := filepath.Join(dir, "node.key")

	id, created, err := LoadOrCreateIdentity(path)
	require.NoError(t, err)
	require.True(t, created)
	require.NotNil(t, id)

	dirInfo, err := os.Stat(dir)
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o700), dirInfo.Mode().Perm())
	info, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o600), info.Mode().Perm())

	again, created, err := LoadOrCreateIdentity(path)
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, id.ID(), again.ID())

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "temporary files left behind")
}

func TestLoadOrCreateIdentityKeepsInvalidFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.key")
	require.NoError(t, os.WriteFile(path, []byte("corrupt"), 0o600))
	id, created, err := LoadOrCreateIdentity(path)
	require.ErrorIs(t, err, ErrInvalidIdentity)
	require.False(t, created)
	require.Nil(t, id)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "corrupt", string(data))
}

func TestWriteFileAtomicExclusive(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	require.NoError(t, writeFileAtomic(path, []byte("first"), true))
	err := writeFileAtomic(path, []byte("second"), true)
	require.ErrorIs(t, err, fs.ErrExist)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "first", string(data))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "temporary files left behind")

	// A relative path writes in the current directory.
	t.Chdir(dir)
	require.NoError(t, writeFileAtomic("g", []byte("rel"), false))
	data, err = os.ReadFile(filepath.Join(dir, "g"))
	require.NoError(t, err)
	require.Equal(t, "rel", string(data))
}

func TestLoadOrCreateIdentityConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.key")
	const n = 8
	var (
		wg      sync.WaitGroup
		ids     [n]NodeID
		created [n]bool
		errs    [n]error
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, c, err := LoadOrCreateIdentity(path)
			if err == nil {
				ids[i] = id.ID()
			}
			created[i], errs[i] = c, err
		}()
	}
	wg.Wait()

	onDisk, err := LoadIdentity(path)
	require.NoError(t, err)
	creators := 0
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, onDisk.ID(), ids[i], "caller %d got an identity that is not on disk", i)
		if created[i] {
			creators++
		}
	}
	require.Equal(t, 1, creators)
}

func FuzzParseIdentityPEM(f *testing.F) {
	for range 2 {
		id, err := GenerateIdentity()
		require.NoError(f, err)
		data, err := id.MarshalPEM()
		require.NoError(f, err)
		f.Add(data)
	}
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		id, err := ParseIdentityPEM(data)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidIdentity)
			require.Nil(t, id)
			return
		}
		require.Equal(t, NodeIDFromPublicKey(id.PublicKey()), id.ID())
		out, err := id.MarshalPEM()
		require.NoError(t, err)
		back, err := ParseIdentityPEM(out)
		require.NoError(t, err)
		require.Equal(t, id.ID(), back.ID())
	})
}
