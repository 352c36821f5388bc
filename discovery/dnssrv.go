package discovery

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// DefaultDNSTimeout is the default bound on one DNS SRV Discover.
const DefaultDNSTimeout = 2 * time.Second

// DNSSRVConfig configures the DNS SRV [Source] returned by [DNSSRV].
type DNSSRVConfig struct {
	// Name is the SRV record's name, e.g. "_macula._udp.example.org.";
	// required. A name without a trailing dot may be tried with the
	// resolver's search domains.
	Name string
	// Server is the "host:port" of the DNS server to ask. Default (empty):
	// the system resolver.
	Server string
	// Timeout bounds one Discover, the SRV query and the address queries
	// together. Default [DefaultDNSTimeout] (2 s).
	Timeout time.Duration
}

// dnsSRVSource is the Source returned by DNSSRV.
type dnsSRVSource struct {
	name    string
	server  string
	timeout time.Duration
}

// DNSSRV returns a [Source] named "dns-srv:<Name>" that looks up the SRV
// records of cfg.Name (RFC 2782) and then the IPv4 and IPv6 addresses of
// their targets, yielding one "ip:port" per address and record. Addresses
// the server sent in the additional section of the SRV answer are used
// without further queries. Records whose target is "." (service not
// offered) or whose port is 0 are skipped.
//
// Discover fails, with an error wrapping [ErrSourceFailed], if the SRV
// lookup fails (no such name, server failure, no usable answer within the
// timeout) or if no target has an address. Invalid configurations yield
// an error wrapping [ErrInvalidConfig].
func DNSSRV(cfg DNSSRVConfig) (Source, error) {
	if cfg.Name == "" {
		return nil, configErrorf("dns-srv: empty Name")
	}
	if _, ok := dns.IsDomainName(cfg.Name); !ok || len(cfg.Name) > 254 {
		return nil, configErrorf("dns-srv: invalid Name %q", cfg.Name)
	}
	if cfg.Server != "" {
		host, port, err := net.SplitHostPort(cfg.Server)
		if err != nil || host == "" {
			return nil, configErrorf("dns-srv: Server %q is not host:port", cfg.Server)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, configErrorf("dns-srv: Server %q has an invalid port", cfg.Server)
		}
	}
	if cfg.Timeout < 0 {
		return nil, configErrorf("dns-srv: negative Timeout %v", cfg.Timeout)
	}
	return &dnsSRVSource{
		name:    cfg.Name,
		server:  cfg.Server,
		timeout: orDefault(cfg.Timeout, DefaultDNSTimeout),
	}, nil
}

// Name returns "dns-srv:" followed by the configured name.
func (s *dnsSRVSource) Name() string { return "dns-srv:" + s.name }

// Discover looks up the SRV records and their targets' addresses; see
// [DNSSRV].
func (s *dnsSRVSource) Discover(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	g := &glue{}
	r := s.resolver(g)
	_, srvs, err := r.LookupSRV(ctx, "", "", s.name)
	if len(srvs) == 0 {
		if err == nil {
			return nil, nil
		}
		return nil, sourceError(s.Name(), err)
	}
	// A non-nil err with records means some targets were malformed and
	// dropped by the resolver; the others are still good.
	var (
		addrs   []string
		lookErr error
		targets = make(map[string][]netip.Addr)
		wanted  int
	)
	for _, srv := range srvs {
		if srv.Port == 0 || srv.Target == "." || srv.Target == "" {
			continue
		}
		wanted++
		key := strings.ToLower(dns.Fqdn(srv.Target))
		ips, seen := targets[key]
		if !seen {
			ips = g.addrs(key)
			if len(ips) == 0 {
				ips, err = lookupAddrs(ctx, r, srv.Target)
				if err != nil {
					lookErr = err
				}
			}
			targets[key] = ips
		}
		for _, ip := range ips {
			addrs = append(addrs, netip.AddrPortFrom(ip, srv.Port).String())
		}
	}
	if len(addrs) == 0 && wanted > 0 {
		if lookErr == nil {
			return nil, sourceErrorf(s.Name(), "no SRV target has an address")
		}
		return nil, sourceError(s.Name(), lookErr)
	}
	return addrs, nil
}

// lookupAddrs resolves a target's usable addresses.
func lookupAddrs(ctx context.Context, r *net.Resolver, host string) ([]netip.Addr, error) {
	ipAddrs, err := r.LookupIPAddr(ctx, host)
	var ips []netip.Addr
	for _, a := range ipAddrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && usableIP(ip.Unmap()) {
			ips = append(ips, ip.Unmap().WithZone(a.Zone))
		}
	}
	if len(ips) == 0 && err == nil {
		err = &net.DNSError{Err: "no usable address", Name: host}
	}
	return ips, err
}

// resolver returns a resolver that asks s.server (or the system's servers)
// and collects the additional records of SRV answers into g.
func (s *dnsSRVSource) resolver(g *glue) *net.Resolver {
	return &net.Resolver{
		// With a server of our own, the pure Go resolver must do all
		// lookups so that they go through Dial.
		PreferGo: s.server != "",
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			if s.server != "" {
				address = s.server
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, network, address)
			if err != nil {
				return nil, err
			}
			sc := &snoopConn{Conn: c, glue: g, queries: make(map[uint16]dns.Question)}
			if pc, ok := c.(net.PacketConn); ok {
				return &snoopPacketConn{snoopConn: sc, pc: pc}, nil
			}
			sc.stream = true
			return sc, nil
		},
	}
}

// glue holds the addresses found in the additional sections of SRV
// answers, by lower-case fully qualified target name. net.Resolver does
// not expose additional records, so snoopConn reads them off the wire.
type glue struct {
	mu sync.Mutex
	m  map[string][]netip.Addr
}

// add records the additional A and AAAA records of an SRV answer for its
// targets.
func (g *glue) add(msg *dns.Msg) {
	targets := make(map[string]bool)
	for _, rr := range msg.Answer {
		if srv, ok := rr.(*dns.SRV); ok && srv.Hdr.Class == dns.ClassINET {
			targets[strings.ToLower(dns.Fqdn(srv.Target))] = true
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, rr := range msg.Extra {
		h := rr.Header()
		name := strings.ToLower(dns.Fqdn(h.Name))
		if h.Class != dns.ClassINET || !targets[name] {
			continue
		}
		var ip netip.Addr
		switch rr := rr.(type) {
		case *dns.A:
			ip, _ = netip.AddrFromSlice(rr.A.To4())
		case *dns.AAAA:
			ip, _ = netip.AddrFromSlice(rr.AAAA.To16())
		}
		ip = ip.Unmap()
		if !usableIP(ip) {
			continue
		}
		if g.m == nil {
			g.m = make(map[string][]netip.Addr)
		}
		if !containsAddr(g.m[name], ip) {
			g.m[name] = append(g.m[name], ip)
		}
	}
}

// containsAddr reports whether ips holds ip.
func containsAddr(ips []netip.Addr, ip netip.Addr) bool {
	for _, x := range ips {
		if x == ip {
			return true
		}
	}
	return false
}

// addrs returns the addresses recorded for a lower-case FQDN.
func (g *glue) addrs(name string) []netip.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.m[name]
}

// snoopConn passes a resolver's DNS exchange through unchanged and feeds
// each SRV answer that matches a query sent on it (same ID and question,
// as the resolver itself requires) to a glue. stream is true for TCP,
// where every message has a two-byte length prefix.
type snoopConn struct {
	net.Conn
	glue    *glue
	stream  bool
	queries map[uint16]dns.Question
	wbuf    []byte // stream: bytes written, not yet a whole message
	rbuf    []byte // stream: bytes read, not yet a whole message
}

// Write notes the queries in b and sends it.
func (c *snoopConn) Write(b []byte) (int, error) {
	if c.stream {
		c.wbuf = eachFrame(append(c.wbuf, b...), c.noteQuery)
	} else {
		c.noteQuery(b)
	}
	return c.Conn.Write(b)
}

// Read receives into b and notes the answers in it.
func (c *snoopConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		if c.stream {
			c.rbuf = eachFrame(append(c.rbuf, b[:n]...), c.noteAnswer)
		} else {
			c.noteAnswer(b[:n])
		}
	}
	return n, err
}

// eachFrame calls f on every whole length-prefixed message at the start
// of buf and returns the rest.
func eachFrame(buf []byte, f func([]byte)) []byte {
	for len(buf) >= 2 {
		n := int(binary.BigEndian.Uint16(buf))
		if len(buf) < 2+n {
			break
		}
		f(buf[2 : 2+n])
		buf = buf[2+n:]
	}
	if len(buf) == 0 {
		return nil
	}
	return buf
}

// maxSnoopQueries bounds the queries remembered on one connection.
const maxSnoopQueries = 16

// noteQuery remembers the ID and question of an outgoing query.
func (c *snoopConn) noteQuery(b []byte) {
	var m dns.Msg
	if m.Unpack(b) != nil || m.Response || len(m.Question) != 1 || len(c.queries) >= maxSnoopQueries {
		return
	}
	c.queries[m.Id] = m.Question[0]
}

// noteAnswer feeds a successful SRV answer to one of our queries to the
// glue.
func (c *snoopConn) noteAnswer(b []byte) {
	if m, ok := matchAnswer(b, c.queries); ok {
		c.glue.add(m)
	}
}

// matchAnswer parses b and returns it if it is a successful answer to an
// SRV query in queries.
func matchAnswer(b []byte, queries map[uint16]dns.Question) (*dns.Msg, bool) {
	var m dns.Msg
	if m.Unpack(b) != nil || !m.Response || m.Rcode != dns.RcodeSuccess || len(m.Question) != 1 {
		return nil, false
	}
	q, ok := queries[m.Id]
	got := m.Question[0]
	if !ok || q.Qtype != dns.TypeSRV || got.Qtype != q.Qtype || got.Qclass != q.Qclass || !strings.EqualFold(got.Name, q.Name) {
		return nil, false
	}
	return &m, true
}

// snoopPacketConn is a snoopConn over UDP. It is a net.PacketConn, which
// is how net.Resolver tells a datagram connection from a stream.
type snoopPacketConn struct {
	*snoopConn
	pc net.PacketConn
}

// ReadFrom receives a datagram and notes the answer in it.
func (c *snoopPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.pc.ReadFrom(b)
	if n > 0 {
		c.noteAnswer(b[:n])
	}
	return n, addr, err
}

// WriteTo notes the query in b and sends it to addr.
func (c *snoopPacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.noteQuery(b)
	return c.pc.WriteTo(b, addr)
}
