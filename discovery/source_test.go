package discovery

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// testNodeIDHex is a valid node ID in text form.
const testNodeIDHex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

func TestHostPort(t *testing.T) {
	for _, tc := range []struct {
		host string
		port int64
		want string
	}{
		{"10.0.0.1", 4433, "10.0.0.1:4433"},
		{"2001:db8::1", 4433, "[2001:db8::1]:4433"},
		{"fe80::1%eth0", 1, "[fe80::1%eth0]:1"},
		{"node-1.example.org", 65535, "node-1.example.org:65535"},
		{"node-1.example.org.", 80, "node-1.example.org.:80"},
		{"_macula._udp.example.org", 80, "_macula._udp.example.org:80"},
		{"10.0.0.1", 0, ""},
		{"10.0.0.1", 65536, ""},
		{"10.0.0.1", -1, ""},
		{"", 80, ""},
		{"0.0.0.0", 80, ""},
		{"::", 80, ""},
		{"a..b", 80, ""},
		{".", 80, ""},
		{"bad host", 80, ""},
		{"evil/../x", 80, ""},
		{"[::1]", 80, ""},
		{strings.Repeat("a", 64) + ".org", 80, ""},
		{strings.Repeat("a.", 127) + "ab", 80, ""},
	} {
		got, ok := hostPort(tc.host, tc.port)
		require.Equal(t, tc.want != "", ok, "%q %d", tc.host, tc.port)
		require.Equal(t, tc.want, got, "%q %d", tc.host, tc.port)
	}
}

func TestGetJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			require.Equal(t, "application/json", r.Header.Get("Accept"))
			require.Equal(t, "v", r.Header.Get("X-Test"))
			_, _ = w.Write([]byte(`[]`))
		case "/big":
			_, _ = w.Write([]byte(strings.Repeat(" ", maxResponseBytes+1)))
		default:
			http.Error(w, strings.Repeat("x", 1000)+"\x00", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	ctx := context.Background()

	body, err := getJSON(ctx, "t", srv.Client(), srv.URL+"/ok", http.Header{"X-Test": {"v"}})
	require.NoError(t, err)
	require.Equal(t, "[]", string(body))

	_, err = getJSON(ctx, "t", srv.Client(), srv.URL+"/big", nil)
	require.ErrorIs(t, err, ErrSourceFailed)
	require.ErrorContains(t, err, "longer than")

	_, err = getJSON(ctx, "t", srv.Client(), srv.URL+"/fail", nil)
	require.ErrorIs(t, err, ErrSourceFailed)
	require.ErrorContains(t, err, "500")
	require.Less(t, len(err.Error()), 400, "the error body is cut short")

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = getJSON(cctx, "t", srv.Client(), srv.URL+"/ok", nil)
	require.ErrorIs(t, err, ErrSourceFailed)
	require.True(t, errors.Is(err, context.Canceled))
}

// requireHostPort fails unless a is a usable "host:port".
func requireHostPort(t *testing.T, a string) {
	t.Helper()
	host, port, err := net.SplitHostPort(a)
	require.NoError(t, err, a)
	require.True(t, validHost(host), a)
	n, err := strconv.Atoi(port)
	require.NoError(t, err, a)
	require.True(t, n >= 1 && n <= 65535, a)
}
