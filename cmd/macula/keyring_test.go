package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula"
	"github.com/org/macula/cmd/macula/internal/admin"
)

// serveNode runs a real node on loopback with its admin API, both closed
// at the end of the test, and returns the node and the API's address.
func serveNode(t *testing.T) (*macula.Node, string) {
	t.Helper()
	node, err := macula.New(macula.WithListenAddr("127.0.0.1:0"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = node.Close() })
	srv := admin.NewServer(admin.NodeBackend(node, "test", time.Now()), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv.Start(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, srv.Close(ctx))
	})
	return node, ln.Addr().String()
}

// runWithStdin runs the command line in this process with stdin.
func runWithStdin(stdin string, args ...string) result {
	var out, errb bytes.Buffer
	code := run(context.Background(), func() {}, args, strings.NewReader(stdin), &out, &errb)
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// TestKeyringCommands rotates the gossip key of a real node through the
// CLI and its admin API: list, generate, install (from stdin), use and
// remove, with the node's refusals reported as one-line errors.
func TestKeyringCommands(t *testing.T) {
	node, addr := serveNode(t)
	keyring := func(args ...string) result {
		return runWithStdin("", append([]string{"--admin", addr, "keyring"}, args...)...)
	}
	b64 := base64.StdEncoding.EncodeToString
	old := node.GossipKeyring().Primary
	oldFP := admin.KeyFingerprint(old)

	r := keyring("list")
	require.Zero(t, r.code, "%v", r)
	require.Contains(t, r.stdout, "* "+oldFP+"  256\n")
	require.Contains(t, r.stdout, "1 key, generation 0; gossip packets: sent ")
	require.NotContains(t, r.stdout, b64(old), "no key material without --show-keys")

	r = keyring("generate")
	require.Zero(t, r.code, "%v", r)
	newKey := strings.TrimSpace(r.stdout)
	k, err := base64.StdEncoding.DecodeString(newKey)
	require.NoError(t, err, r.stdout)
	require.Len(t, k, 32)
	r = keyring("generate", "--json")
	require.Zero(t, r.code, "%v", r)
	var gen struct{ Key, Fingerprint string }
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &gen), r.stdout)
	require.NotEqual(t, newKey, gen.Key, "every key is new")
	require.Equal(t, node.GossipKeyring().Keys, [][]byte{old}, "generate installs nothing")

	newFP := admin.KeyFingerprint(k)
	r = runWithStdin(newKey+"\n", "--admin", addr, "keyring", "install", "-")
	require.Zero(t, r.code, "%v", r)
	require.Equal(t, "installed gossip key "+newFP+" (2 keys installed)\n", r.stdout)
	require.Equal(t, [][]byte{old, k}, node.GossipKeyring().Keys)

	r = keyring("use", newKey)
	require.Zero(t, r.code, "%v", r)
	require.Equal(t, "gossip key "+newFP+" is the primary (generation 1)\n", r.stdout)
	require.Equal(t, k, node.GossipKeyring().Primary)

	r = keyring("remove", newKey)
	requireOneLineError(t, r, "macula keyring remove: remove gossip key "+newFP+": invalid gossip key: the primary key cannot be removed")
	require.Equal(t, exitError, r.code)

	r = keyring("remove", b64(old), "--json")
	require.Zero(t, r.code, "%v", r)
	var kr admin.Keyring
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &kr), r.stdout)
	require.Equal(t, []admin.GossipKey{{Fingerprint: newFP, Primary: true, Bits: 256}}, kr.Keys)
	require.Equal(t, uint64(1), kr.Generation)
	require.Equal(t, [][]byte{k}, node.GossipKeyring().Keys)

	r = keyring("use", b64(old))
	requireOneLineError(t, r, "macula keyring use: use gossip key "+oldFP+": invalid gossip key: key not installed")
	require.Equal(t, exitError, r.code)

	r = keyring("list", "--show-keys", "--json")
	require.Zero(t, r.code, "%v", r)
	kr = admin.Keyring{}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &kr), r.stdout)
	require.Len(t, kr.Keys, 1)
	require.Equal(t, newKey, kr.Keys[0].Key)
	require.Equal(t, node.GossipStats().Refused, kr.Packets.Refused)

	r = keyring("list", "--show-keys")
	require.Zero(t, r.code, "%v", r)
	require.Contains(t, r.stdout, "* "+newFP+"  256   "+newKey+"\n")

	// A node that is closing refuses key changes as unavailable.
	require.NoError(t, node.Close())
	r = keyring("install", gen.Key)
	requireOneLineError(t, r, "macula keyring install: install gossip key "+gen.Fingerprint+": ")
	require.Contains(t, r.stderr, "closed")
}
