package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// DefaultAddr is the admin address when none is given.
const DefaultAddr = "127.0.0.1:4480"

// ErrInvalidAddr means an admin address is neither a loopback TCP address
// nor a unix socket path.
var ErrInvalidAddr = errors.New("invalid admin address")

// Addr is a parsed admin address: a loopback TCP "host:port" or a unix
// socket path.
type Addr struct {
	// Network is "tcp" or "unix".
	Network string
	// Address is the "host:port" or the socket path.
	Address string
}

// String returns the address as given to ParseAddr, "unix:" prefixed for
// sockets.
func (a Addr) String() string {
	if a.Network == "unix" {
		return "unix:" + a.Address
	}
	return a.Address
}

// ParseAddr parses an admin address. "unix:PATH", or anything containing a
// '/', is a unix socket; anything else must be "host:port" with a loopback
// host (127.0.0.0/8, ::1 or localhost), so that the API is never reachable
// from other machines.
func ParseAddr(s string) (Addr, error) {
	if s == "" {
		return Addr{}, fmt.Errorf("%w: empty", ErrInvalidAddr)
	}
	if path, ok := strings.CutPrefix(s, "unix:"); ok {
		if path == "" {
			return Addr{}, fmt.Errorf("%w: %q has no socket path", ErrInvalidAddr, s)
		}
		return Addr{Network: "unix", Address: path}, nil
	}
	if strings.Contains(s, "/") {
		return Addr{Network: "unix", Address: s}, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return Addr{}, fmt.Errorf("%w: %q: want 127.0.0.1:PORT or a unix socket path", ErrInvalidAddr, s)
	}
	if port == "" {
		return Addr{}, fmt.Errorf("%w: %q has no port", ErrInvalidAddr, s)
	}
	if host != "localhost" {
		ip := net.ParseIP(host)
		if ip == nil || !ip.IsLoopback() {
			return Addr{}, fmt.Errorf("%w: %q is not a loopback address: the admin API must not be reachable from other hosts", ErrInvalidAddr, s)
		}
	}
	return Addr{Network: "tcp", Address: s}, nil
}

// Listen opens a listener at a. A unix socket is created with mode 0600;
// a stale socket file left by a crashed node is removed first, but one a
// running node listens on is an error.
func Listen(a Addr) (net.Listener, error) {
	if a.Network != "unix" {
		ln, err := net.Listen("tcp", a.Address)
		if err != nil {
			return nil, fmt.Errorf("admin API: listen on %s: %w", a, err)
		}
		return ln, nil
	}
	if fi, err := os.Lstat(a.Address); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("admin API: %s exists and is not a socket", a)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		var d net.Dialer
		c, derr := d.DialContext(ctx, "unix", a.Address)
		cancel()
		if derr == nil {
			_ = c.Close()
			return nil, fmt.Errorf("admin API: %s is in use by another process", a)
		}
		if err := os.Remove(a.Address); err != nil {
			return nil, fmt.Errorf("admin API: remove stale socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", a.Address)
	if err != nil {
		return nil, fmt.Errorf("admin API: listen on %s: %w", a, err)
	}
	if err := os.Chmod(a.Address, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("admin API: restrict socket: %w", err)
	}
	return ln, nil
}
