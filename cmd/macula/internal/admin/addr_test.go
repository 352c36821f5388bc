package admin

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseAddr(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Addr
		err  string
	}{
		{in: "127.0.0.1:4480", want: Addr{"tcp", "127.0.0.1:4480"}},
		{in: "127.9.9.9:1", want: Addr{"tcp", "127.9.9.9:1"}},
		{in: "[::1]:4480", want: Addr{"tcp", "[::1]:4480"}},
		{in: "localhost:4480", want: Addr{"tcp", "localhost:4480"}},
		{in: "unix:/run/macula.sock", want: Addr{"unix", "/run/macula.sock"}},
		{in: "unix:admin.sock", want: Addr{"unix", "admin.sock"}},
		{in: "./admin.sock", want: Addr{"unix", "./admin.sock"}},
		{in: "0.0.0.0:4480", err: "not a loopback address"},
		{in: "10.1.2.3:4480", err: "not a loopback address"},
		{in: ":4480", err: "not a loopback address"},
		{in: "example.org:4480", err: "not a loopback address"},
		{in: "127.0.0.1", err: "want 127.0.0.1:PORT"},
		{in: "127.0.0.1:", err: "no port"},
		{in: "unix:", err: "no socket path"},
		{in: "", err: "empty"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseAddr(tc.in)
			if tc.err != "" {
				require.ErrorIs(t, err, ErrInvalidAddr)
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestListenUnixSocket(t *testing.T) {
	dir, err := shortTempDir(t)
	require.NoError(t, err)
	a := Addr{Network: "unix", Address: filepath.Join(dir, "admin.sock")}

	ln, err := Listen(a)
	require.NoError(t, err)
	fi, err := os.Stat(a.Address)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "only the owner may drive the node")

	_, err = Listen(a)
	require.ErrorContains(t, err, "in use by another process")
	require.NoError(t, ln.Close())

	// A socket file left by a crashed node is replaced.
	stale, err := net.Listen("unix", a.Address)
	require.NoError(t, err)
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	require.NoError(t, stale.Close())
	_, err = os.Stat(a.Address)
	require.NoError(t, err, "the stale socket file is still there")
	ln, err = Listen(a)
	require.NoError(t, err)
	require.NoError(t, ln.Close())

	// Anything else at the path is left alone.
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, []byte("keep"), 0o600))
	_, err = Listen(Addr{Network: "unix", Address: file})
	require.ErrorContains(t, err, "not a socket")
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Equal(t, "keep", string(b))
}
