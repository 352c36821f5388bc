package macula

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/org/macula/security"
)

// target is a parsed Join or bootstrap address.
type target struct {
	hostPort string
	expected NodeID // zero when the address names no node
	realm    string // empty when the address names no realm
}

// parseTarget parses "host:port" or "macula://<realm>/<node-id>@host:port".
// Errors match ErrInvalidAddress, and ErrInvalidURI for a bad URI.
func parseTarget(s string) (target, error) {
	if strings.HasPrefix(s, security.URIScheme+"://") {
		u, err := security.ParseURI(s)
		if err != nil {
			return target{}, fmt.Errorf("%w: %w", ErrInvalidAddress, err)
		}
		if u.Addr == "" {
			return target{}, fmt.Errorf("%w: %w: %q has no @host:port to dial", ErrInvalidAddress, ErrInvalidURI, s)
		}
		return target{hostPort: u.Addr, expected: u.NodeID, realm: u.Realm}, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return target{}, fmt.Errorf("%w: %w", ErrInvalidAddress, err)
	}
	if host == "" {
		return target{}, fmt.Errorf("%w: %q: missing host", ErrInvalidAddress, s)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return target{}, fmt.Errorf("%w: %q: invalid port", ErrInvalidAddress, s)
	}
	return target{hostPort: s}, nil
}

func checkTarget(s string) error {
	_, err := parseTarget(s)
	return err
}

// resolve turns the target's host:port into a UDP address; host names are
// looked up with ctx. A name that does not resolve fails with
// ErrInvalidAddress, wrapping the resolver's error.
func (tg target) resolve(ctx context.Context) (*net.UDPAddr, error) {
	host, port, _ := net.SplitHostPort(tg.hostPort)
	p, _ := strconv.ParseUint(port, 10, 16)
	if ip, err := netip.ParseAddr(host); err == nil {
		return net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(p))), nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("%w: resolve %q: %w", ErrInvalidAddress, host, err)
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("%w: resolve %q: no addresses", ErrInvalidAddress, host)
	}
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(ips[0].Unmap(), uint16(p))), nil
}
