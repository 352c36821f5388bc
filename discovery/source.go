package discovery

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// A Source yields bootstrap addresses for a node. Each address is either
// "host:port" or a Macula URI, macula://<realm>/<node-id>@host:port (see
// [security.URI]), which also tells the node whom to expect there.
//
// Implementations must be safe for use by one goroutine at a time; a
// [Runner] calls Discover of each source from a single goroutine.
type Source interface {
	// Name identifies the source in logs and in [RunnerConfig.OnAddrs],
	// e.g. "static", "mdns", "dns-srv:_macula._udp.example.org.",
	// "consul:macula" or "kubernetes:ns/svc".
	Name() string
	// Discover returns the source's current set of addresses. It must
	// return soon after ctx is done. Errors wrap [ErrSourceFailed].
	Discover(ctx context.Context) ([]string, error)
}

// Limits shared by the sources.
const (
	// maxResponseBytes bounds an HTTP response body read by a source.
	maxResponseBytes = 16 << 20
	// defaultHTTPTimeout bounds a whole HTTP request made with a client
	// this package creates.
	defaultHTTPTimeout = 10 * time.Second
	// maxErrorBody is how much of an HTTP error body goes into an error.
	maxErrorBody = 200
)

// sourceError wraps err as a failure of the named source.
func sourceError(name string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrSourceFailed, name, err)
}

// sourceErrorf reports a failure of the named source with a message.
func sourceErrorf(name, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrSourceFailed, name, fmt.Sprintf(format, args...))
}

// configErrorf reports an invalid configuration.
func configErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
}

// hostPort joins a host from an untrusted answer with a port, or reports
// false if either is unusable: the port must be 1..65535 and the host an IP
// address or a DNS host name (see validHost).
func hostPort(host string, port int64) (string, bool) {
	if port < 1 || port > 65535 || !validHost(host) {
		return "", false
	}
	return net.JoinHostPort(host, strconv.FormatInt(port, 10)), true
}

// validHost reports whether host is an IP address (IPv6 possibly with a
// zone) or a DNS host name of letters, digits, '-', '_' and '.', at most 253
// bytes with labels of at most 63, optionally ending in a dot.
func validHost(host string) bool {
	if ip, err := netip.ParseAddr(host); err == nil {
		return !ip.IsUnspecified()
	}
	name := strings.TrimSuffix(host, ".")
	if name == "" || len(name) > 253 {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '_' {
				return false
			}
		}
	}
	return true
}

// getJSON performs a GET of url with the given headers and returns the body
// of a 200 response, at most maxResponseBytes long. Any other outcome is an
// error wrapping ErrSourceFailed for the named source.
func getJSON(ctx context.Context, name string, client *http.Client, url string, header http.Header) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, sourceError(name, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, sourceError(name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, sourceError(name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, sourceErrorf(name, "GET %s: HTTP %s: %s", req.URL.Redacted(), resp.Status, printable(body, maxErrorBody))
	}
	if len(body) > maxResponseBytes {
		return nil, sourceErrorf(name, "GET %s: response longer than %d bytes", req.URL.Redacted(), maxResponseBytes)
	}
	return body, nil
}

// printable returns at most max bytes of b as a quoted string that is safe
// to log.
func printable(b []byte, max int) string {
	return strconv.Quote(strings.TrimSpace(string(b[:min(len(b), max)])))
}
