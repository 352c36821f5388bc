package security

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func fileMode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	require.NoError(t, err)
	return st.Mode().Perm()
}

func TestSaveLoadCA(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	ca := newTestCA(t, "org.example.mesh")
	require.NoError(t, SaveCA(certPath, keyPath, ca))
	require.Equal(t, fs.FileMode(0o644), fileMode(t, certPath))
	require.Equal(t, fs.FileMode(0o600), fileMode(t, keyPath))

	loaded, err := LoadCA(certPath, keyPath)
	require.NoError(t, err)
	require.Equal(t, ca.Realm(), loaded.Realm())
	require.True(t, ca.Certificate().Equal(loaded.Certificate()))

	// The loaded CA issues certificates the original's pool trusts.
	id := newTestIdentity(t)
	cert, err := loaded.IssueTLSCertificate(id, IssueOptions{})
	require.NoError(t, err)
	pool, err := LoadCertPool(certPath)
	require.NoError(t, err)
	_, _, err = VerifyPeer(cert.Certificate, VerifyOptions{Realm: "org.example.mesh", RealmCA: pool})
	require.NoError(t, err)
}

func TestSaveCANeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	first := newTestCA(t, "org.example.mesh")
	require.NoError(t, SaveCA(certPath, keyPath, first))
	keyBefore, err := os.ReadFile(keyPath)
	require.NoError(t, err)

	// Both files exist.
	err = SaveCA(certPath, keyPath, newTestCA(t, "org.example.mesh"))
	require.ErrorIs(t, err, fs.ErrExist)
	keyAfter, err := os.ReadFile(keyPath)
	require.NoError(t, err)
	require.Equal(t, keyBefore, keyAfter)

	// Only the certificate exists: no new key may be left behind.
	newKey := filepath.Join(dir, "new.key")
	err = SaveCA(certPath, newKey, newTestCA(t, "org.example.mesh"))
	require.ErrorIs(t, err, fs.ErrExist)
	_, err = os.Stat(newKey)
	require.ErrorIs(t, err, fs.ErrNotExist)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 2) // no temporary files either

	require.Error(t, SaveCA(filepath.Join(dir, "x.crt"), filepath.Join(dir, "x.key"), nil))
}

func TestLoadCAErrors(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	_, err := LoadCA(certPath, keyPath)
	require.ErrorIs(t, err, fs.ErrNotExist)

	ca := newTestCA(t, "org.example.mesh")
	require.NoError(t, SaveCA(certPath, keyPath, ca))
	other := newTestIdentity(t) // a key that is not the CA's
	require.NoError(t, SaveIdentity(keyPath, other))
	_, err = LoadCA(certPath, keyPath)
	require.ErrorIs(t, err, ErrInvalidCertificate)
	require.Contains(t, err.Error(), certPath)
}

func TestSaveLoadTLSCertificate(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "node.crt"), filepath.Join(dir, "node.key")
	ca := newTestCA(t, "org.example.mesh")
	id := newTestIdentity(t)
	require.NoError(t, SaveIdentity(keyPath, id))
	der, err := ca.Issue(id.PublicKey(), IssueOptions{Roles: []string{"sensor"}})
	require.NoError(t, err)
	require.NoError(t, SaveCertificate(certPath, der, ca.Certificate().Raw))
	require.Equal(t, fs.FileMode(0o644), fileMode(t, certPath))

	cert, loadedID, err := LoadTLSCertificate(certPath, keyPath)
	require.NoError(t, err)
	require.Equal(t, id.ID(), loadedID.ID())
	require.Equal(t, [][]byte{der, ca.Certificate().Raw}, cert.Certificate)
	require.Equal(t, []string{"sensor"}, RolesOf(cert.Leaf))

	// Renewal replaces the certificate file.
	renewed, err := ca.Issue(id.PublicKey(), IssueOptions{Roles: []string{"operator"}})
	require.NoError(t, err)
	require.NoError(t, SaveCertificate(certPath, renewed))
	cert, _, err = LoadTLSCertificate(certPath, keyPath)
	require.NoError(t, err)
	require.Equal(t, [][]byte{renewed}, cert.Certificate)

	// A certificate for another key does not load with this identity.
	stranger := newTestIdentity(t)
	strangerDER, err := ca.Issue(stranger.PublicKey(), IssueOptions{})
	require.NoError(t, err)
	require.NoError(t, SaveCertificate(certPath, strangerDER))
	_, _, err = LoadTLSCertificate(certPath, keyPath)
	require.ErrorIs(t, err, ErrInvalidCertificate)

	_, _, err = LoadTLSCertificate(filepath.Join(dir, "missing.crt"), keyPath)
	require.ErrorIs(t, err, fs.ErrNotExist)
	_, _, err = LoadTLSCertificate(certPath, filepath.Join(dir, "missing.key"))
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.ErrorIs(t, SaveCertificate(certPath), ErrInvalidCertificate)
}

func TestParseCertificateChainPEM(t *testing.T) {
	ca := newTestCA(t, "org.example.mesh")
	id := newTestIdentity(t)
	der, err := ca.Issue(id.PublicKey(), IssueOptions{})
	require.NoError(t, err)
	keyPEM, err := id.MarshalPEM()
	require.NoError(t, err)

	data := append(append(EncodeCertificatePEM(der), keyPEM...), EncodeCertificatePEM(ca.Certificate().Raw)...)
	chain, err := ParseCertificateChainPEM(data)
	require.NoError(t, err)
	require.Equal(t, [][]byte{der, ca.Certificate().Raw}, chain)

	_, err = ParseCertificateChainPEM(keyPEM)
	require.ErrorIs(t, err, ErrInvalidCertificate)
	_, err = ParseCertificateChainPEM(append(EncodeCertificatePEM(der), EncodeCertificatePEM([]byte{1, 2, 3})...))
	require.ErrorIs(t, err, ErrInvalidCertificate)
	require.Contains(t, err.Error(), "certificate 1")
}

func TestLoadCertPoolErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadCertPool(filepath.Join(dir, "missing.pem"))
	require.ErrorIs(t, err, fs.ErrNotExist)
	empty := filepath.Join(dir, "empty.pem")
	require.NoError(t, os.WriteFile(empty, []byte("nothing"), 0o600))
	_, err = LoadCertPool(empty)
	require.ErrorIs(t, err, ErrInvalidCertificate)
}
