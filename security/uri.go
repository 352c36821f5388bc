package security

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// URIScheme is the scheme of Macula URIs.
const URIScheme = "macula"

// uriPrefix starts every Macula URI.
const uriPrefix = URIScheme + "://"

// URI names a node: macula://<realm>/<node-id-hex>[@host:port].
//
// It is the form of the URI SAN in every Macula certificate (without an
// address there) and of a bootstrap peer in configuration (usually with an
// address). The zero value is not a valid URI.
type URI struct {
	// Realm is the node's realm; see [ValidateRealm].
	Realm string
	// NodeID is the node's ID.
	NodeID NodeID
	// Addr is an optional "host:port" where the node can be reached, as
	// accepted by [net.SplitHostPort] and produced by [net.JoinHostPort]:
	// an IPv6 host is in brackets, as in "[::1]:4433". Empty means none.
	Addr string
}

// ParseURI parses macula://<realm>/<node-id-hex>[@host:port].
//
// The scheme may be in any case; the realm must pass [ValidateRealm]; the
// node ID is 64 hex digits in either case (see [ParseNodeID]). If "@" is
// present, the address must be non-empty and in canonical form: a host
// name, IPv4 address or bracketed IPv6 address, and a decimal port 1..65535
// without leading zeros. The result satisfies ParseURI(u.String()) == u.
// Errors wrap [ErrInvalidURI] (and the more specific error, if any).
func ParseURI(s string) (URI, error) {
	if len(s) < len(uriPrefix) || !strings.EqualFold(s[:len(uriPrefix)], uriPrefix) {
		return URI{}, fmt.Errorf("%w: %q does not start with %q", ErrInvalidURI, s, uriPrefix)
	}
	rest := s[len(uriPrefix):]
	realm, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return URI{}, fmt.Errorf("%w: %q has no node id", ErrInvalidURI, s)
	}
	if err := ValidateRealm(realm); err != nil {
		return URI{}, fmt.Errorf("%w: %w", ErrInvalidURI, err)
	}
	idText, addr, hasAddr := strings.Cut(rest, "@")
	id, err := ParseNodeID(idText)
	if err != nil {
		return URI{}, fmt.Errorf("%w: %w", ErrInvalidURI, err)
	}
	if hasAddr {
		if err := validateAddr(addr); err != nil {
			return URI{}, fmt.Errorf("%w: address %q %s", ErrInvalidURI, addr, err)
		}
	}
	return URI{Realm: realm, NodeID: id, Addr: addr}, nil
}

// uriAddrError is a reason an address is invalid, phrased to follow it.
type uriAddrError string

func (e uriAddrError) Error() string { return string(e) }

// validateAddr checks the canonical "host:port" form described in ParseURI.
func validateAddr(addr string) error {
	if addr == "" {
		return uriAddrError("is empty")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return uriAddrError("does not split into host and port")
	}
	if host == "" {
		return uriAddrError("has no host")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
		return uriAddrError("has a port that is not a decimal number in 1..65535")
	}
	if net.JoinHostPort(host, port) != addr {
		return uriAddrError("is not canonical (brackets only around IPv6 hosts)")
	}
	if strings.Contains(host, ":") {
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() {
			return uriAddrError("has an invalid IPv6 host")
		}
		return nil
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '.' && c != '_' {
			return uriAddrError(fmt.Sprintf("has invalid host character %q", c))
		}
	}
	return nil
}

// String returns the canonical form of u:
// macula://<realm>/<64 lowercase hex digits>, followed by "@" and Addr when
// Addr is set. For every valid u, ParseURI(u.String()) returns u.
func (u URI) String() string {
	var b strings.Builder
	b.Grow(len(uriPrefix) + len(u.Realm) + 1 + nodeIDHexLen + 1 + len(u.Addr))
	b.WriteString(uriPrefix)
	b.WriteString(u.Realm)
	b.WriteByte('/')
	b.WriteString(u.NodeID.String())
	if u.Addr != "" {
		b.WriteByte('@')
		b.WriteString(u.Addr)
	}
	return b.String()
}
