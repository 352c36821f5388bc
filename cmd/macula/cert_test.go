package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/security"
)

// TestCertCommands makes a CA, issues a node certificate and shows both,
// then checks that start accepts them and refuses mismatches.
func TestCertCommands(t *testing.T) {
	dir := t.TempDir()
	caDir := filepath.Join(dir, "ca")
	keyFile := filepath.Join(dir, "keys", "n1.key")
	nodeDir := filepath.Join(dir, "n1")

	r := inProcess("cert", "ca", "--realm", "org.example.test", "--out", caDir)
	require.Zero(t, r.code, "%v", r)
	require.Contains(t, r.stdout, "created realm CA for org.example.test")
	fi, err := os.Stat(filepath.Join(caDir, caKeyFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the CA key is private")

	r = inProcess("cert", "ca", "--realm", "org.example.test", "--out", caDir)
	requireOneLineError(t, r, caDir+" already holds a CA: not replacing it")

	r = inProcess("cert", "issue", "--ca", caDir, "--realm", "org.example.test", "--identity", keyFile,
		"--roles", "sensor,gateway", "--valid-for", "720h", "--out", nodeDir, "--json")
	require.Zero(t, r.code, "%v", r)
	var issued struct {
		certInfo
		Identity        string `json:"identity_file"`
		IdentityCreated bool   `json:"identity_created"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &issued), r.stdout)
	id, err := security.LoadIdentity(keyFile)
	require.NoError(t, err, "the missing identity file was created")
	require.True(t, issued.IdentityCreated)
	require.Equal(t, id.ID(), *issued.NodeID)
	require.Equal(t, "org.example.test", issued.Realm)
	require.Equal(t, []string{"gateway", "sensor"}, issued.Roles)
	require.WithinDuration(t, time.Now().Add(720*time.Hour), issued.NotAfter, time.Minute)

	r = inProcess("cert", "show", filepath.Join(nodeDir, nodeCertFile), "--json")
	require.Zero(t, r.code, "%v", r)
	var shown certInfo
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &shown), r.stdout)
	require.Equal(t, kindNode, shown.Kind)
	require.Equal(t, id.ID(), *shown.NodeID)
	require.Contains(t, shown.Issuer, "CN=org.example.test")
	require.False(t, shown.SelfSigned)
	require.Equal(t, "valid", shown.Status)

	r = inProcess("cert", "show", filepath.Join(nodeDir, nodeCertFile))
	require.Zero(t, r.code, "%v", r)
	for _, want := range []string{"node certificate", id.ID().String(), "org.example.test", "gateway, sensor", "(valid)"} {
		require.Contains(t, r.stdout, want)
	}

	r = inProcess("cert", "show", filepath.Join(caDir, caCertFile))
	require.Zero(t, r.code, "%v", r)
	require.Contains(t, r.stdout, "realm CA certificate")
	require.Contains(t, r.stdout, "(self)")

	// A dev-mode certificate shows as self-signed.
	cert, err := security.SelfSignedCertificate(id, "org.example.test", time.Hour)
	require.NoError(t, err)
	selfSigned := filepath.Join(dir, "self.crt")
	require.NoError(t, os.WriteFile(selfSigned, security.EncodeCertificatePEM(cert.Certificate[0]), 0o644))
	r = inProcess("cert", "show", selfSigned)
	require.Zero(t, r.code, "%v", r)
	require.Contains(t, r.stdout, "self-signed, dev mode")

	t.Run("bad input", func(t *testing.T) {
		requireOneLineError(t, inProcess("cert", "show", keyFile), "holds a private key, not a certificate")
		requireOneLineError(t, inProcess("cert", "show", filepath.Join(dir, "missing.crt")), "bad certificate file")
		requireOneLineError(t, inProcess("cert", "issue", "--ca", caDir, "--realm", "org.other", "--identity", keyFile, "--out", dir),
			`the CA in `+caDir+` is for realm "org.example.test"`)
		requireOneLineError(t, inProcess("cert", "issue", "--ca", dir, "--identity", keyFile), "no CA there (make one with macula cert ca)")
		requireOneLineError(t, inProcess("cert", "issue", "--identity", keyFile), "--ca is required")
	})

	t.Run("start options", func(t *testing.T) {
		f := startFlags{realm: "org.example.test", identity: keyFile, caFile: filepath.Join(caDir, caCertFile), certFile: filepath.Join(nodeDir, nodeCertFile)}
		opts, err := f.tlsOptions()
		require.NoError(t, err)
		require.Len(t, opts, 2, "realm CA and certificate")

		wrongRealm := f
		wrongRealm.realm = "org.other"
		_, err = wrongRealm.tlsOptions()
		require.ErrorContains(t, err, `is for realm "org.example.test", not "org.other"`)

		other := filepath.Join(dir, "other.key")
		_, _, err = security.LoadOrCreateIdentity(other)
		require.NoError(t, err)
		wrongKey := f
		wrongKey.identity = other
		_, err = wrongKey.tlsOptions()
		require.ErrorIs(t, err, security.ErrInvalidCertificate, "the certificate is not for this key")

		noCA := f
		noCA.caFile = ""
		_, err = noCA.tlsOptions()
		require.ErrorContains(t, err, "need --ca")

		badCA := f
		badCA.caFile = keyFile
		_, err = badCA.tlsOptions()
		require.ErrorIs(t, err, security.ErrInvalidCertificate)
	})
}
