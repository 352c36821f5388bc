package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
)

// TestEveryCommandHasHelpAndExample walks the command tree: every command
// has a short description and an example, and `--help` prints both.
func TestEveryCommandHasHelpAndExample(t *testing.T) {
	a := &app{}
	root := a.rootCommand()
	root.InitDefaultHelpCmd() // as Execute does
	var walk func(*cobra.Command)
	count := 0
	walk = func(c *cobra.Command) {
		count++
		require.NotEmpty(t, c.Short, "%s has no short help", c.CommandPath())
		require.NotEmpty(t, strings.TrimSpace(c.Example), "%s has no example", c.CommandPath())
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	require.GreaterOrEqual(t, count, 25, "root, 13 commands, cert and its 3, keyring and its 5, help, completion")

	for _, path := range [][]string{{"start"}, {"publish"}, {"cert", "issue"}, {"keyring", "install"}, {"help"}} {
		r := inProcess(append(path, "--help")...)
		require.Zero(t, r.code, "%v", r)
		require.Contains(t, r.stdout, "Examples:", "%v", r)
		require.Contains(t, r.stdout, "macula "+strings.Join(path, " "), "%v", r)
	}
	r := inProcess("help", "ping")
	require.Zero(t, r.code, "%v", r)
	require.Contains(t, r.stdout, "macula ping 3f2a91c0")
	r = inProcess("keyring")
	require.Zero(t, r.code, "%v", r)
	for _, sub := range []string{"list", "install", "use", "remove", "generate"} {
		require.Contains(t, r.stdout, "\n  "+sub+" ", "keyring lists its subcommands: %v", r)
	}
	require.Contains(t, r.stdout, "To rotate keys without losing packets")
}

// TestBadInput runs the binary on mistakes that need no running node: each
// ends with a non-zero exit code and one line on stderr naming the problem.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	require.NoError(t, os.WriteFile(garbage, []byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"), 0o644))
	text := filepath.Join(dir, "text.crt")
	require.NoError(t, os.WriteFile(text, []byte("hello\n"), 0o644))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	require.NoError(t, ln.Close())
	socket := filepath.Join(dir, "none.sock")

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown command", []string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{"misspelt command", []string{"memebrs"}, exitUsage, `unknown command "memebrs" (did you mean "members"?)`},
		{"unknown subcommand", []string{"cert", "revoke"}, exitUsage, `macula cert: unknown command "revoke"`},
		{"unknown flag", []string{"members", "--colour"}, exitUsage, "unknown flag: --colour"},
		{"missing argument", []string{"ping"}, exitUsage, "want NODE, got 0 argument(s)"},
		{"unreachable admin", []string{"members", "--admin", closed}, exitError,
			"macula members: cannot reach the admin API at " + closed + ": is `macula start` running?"},
		{"unreachable admin socket", []string{"--admin", socket, "stats"}, exitError,
			"cannot reach the admin API at unix:" + socket + ": is `macula start` running?"},
		{"admin not on loopback", []string{"members", "--admin", "0.0.0.0:4480"}, exitUsage, "not a loopback address"},
		{"invalid topic", []string{"publish", "sensors..temp", "1", "--admin", closed}, exitError, `invalid topic "sensors..temp": empty segment 2`},
		{"reserved topic", []string{"publish", "_mesh.peer.connected", "1"}, exitError, "reserved for the mesh"},
		{"invalid pattern", []string{"subscribe", "sensors.#.temp"}, exitError, `invalid topic "sensors.#.temp"`},
		{"bad qos", []string{"publish", "a.b", "1", "--qos", "2"}, exitUsage, "--qos 2: want 0 (at most once) or 1"},
		{"bad certificate file", []string{"cert", "show", garbage}, exitError, "bad certificate file " + garbage + ": invalid certificate"},
		{"not a certificate", []string{"cert", "show", text}, exitError, "bad certificate file " + text + ": invalid certificate"},
		{"bad CA file for start", []string{"start", "--ca", text, "--cert", garbage, "--identity", filepath.Join(dir, "n.key"), "--listen", "127.0.0.1:0"}, exitError,
			"--ca " + text + ": invalid certificate"},
		{"missing acl file", []string{"start", "--acl", filepath.Join(dir, "none.yaml"), "--listen", "127.0.0.1:0", "--admin", closed}, exitError, "--acl " + filepath.Join(dir, "none.yaml") + ": "},
		{"bad acl file", []string{"start", "--acl", text, "--listen", "127.0.0.1:0", "--admin", closed}, exitError, "--acl " + text + ": "},
		{"start admin not on loopback", []string{"start", "--admin", "192.0.2.1:4480", "--listen", "127.0.0.1:0"}, exitError, "is not a loopback address"},
		{"bad discovery", []string{"start", "--discovery", "carrier-pigeon", "--listen", "127.0.0.1:0", "--admin", closed}, exitError, `unknown source`},
		{"bad log format", []string{"start", "--log-format", "xml"}, exitError, `--log-format "xml": want console or json`},
		{"keyring without subcommand argument", []string{"keyring", "install"}, exitUsage, "want KEY, got 0 argument(s)"},
		{"keyring with two keys", []string{"keyring", "use", "a", "b"}, exitUsage, "want KEY, got 2 argument(s)"},
		{"unknown keyring subcommand", []string{"keyring", "rotate"}, exitUsage, `macula keyring: unknown command "rotate"`},
		{"keyring generate with an argument", []string{"keyring", "generate", "32"}, exitUsage, "want no arguments, got 1 argument(s)"},
		// Mistyped keys are reported before any node is asked (--admin
		// points nowhere): the message says what is wrong with the key.
		{"key not base64", []string{"keyring", "install", "not-base64!", "--admin", closed}, exitError,
			"macula keyring install: invalid gossip key: not base64"},
		{"key of a wrong size", []string{"keyring", "use", "AAECAwQFBgcICQ==", "--admin", closed}, exitError,
			"macula keyring use: invalid gossip key: 10 bytes, want 16, 24 or 32"},
		{"empty key", []string{"keyring", "remove", "", "--admin", closed}, exitError, "invalid gossip key: empty"},
		{"keyring with no node", []string{"keyring", "list", "--admin", closed}, exitError,
			"macula keyring list: cannot reach the admin API at " + closed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := cli(t, tc.args...)
			requireOneLineError(t, r, tc.want)
			require.Equal(t, tc.code, r.code, "%v", r)
		})
	}
}
