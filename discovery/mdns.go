package discovery

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/mdns"

	"github.com/org/macula/security"
)

// Defaults for mDNS.
const (
	// DefaultMDNSService is the default DNS-SD service type of Macula nodes.
	DefaultMDNSService = "_macula._udp"
	// DefaultMDNSDomain is the default mDNS domain.
	DefaultMDNSDomain = "local."
	// DefaultMDNSTimeout is the default browse time of an mDNS query.
	DefaultMDNSTimeout = time.Second
)

// TXT record keys written by [Advertise] and read by [MDNS].
const (
	txtRealm = "realm"
	txtID    = "id"
)

// maxMDNSEntries bounds the instances one browse collects.
const maxMDNSEntries = 1024

// MDNSConfig configures the mDNS [Source] returned by [MDNS].
type MDNSConfig struct {
	// Service is the DNS-SD service type to browse. Default
	// [DefaultMDNSService] ("_macula._udp").
	Service string
	// Domain is the mDNS domain. Default [DefaultMDNSDomain] ("local.").
	Domain string
	// Realm is required: only instances whose TXT record holds
	// "realm=<Realm>" are returned. See [security.ValidateRealm].
	Realm string
	// Interface is the network interface to send queries on. Default (nil):
	// the system's choice for multicast.
	Interface *net.Interface
	// Timeout is how long one Discover listens for answers. Default
	// [DefaultMDNSTimeout] (1 s); a shorter context deadline wins.
	Timeout time.Duration
}

// mdnsSource is the Source returned by MDNS.
type mdnsSource struct {
	service, domain, realm string
	iface                  *net.Interface
	timeout                time.Duration
}

// MDNS returns a [Source] named "mdns" that browses the local network with
// multicast DNS (RFC 6762, DNS-SD RFC 6763) for instances of cfg.Service
// advertised by [Advertise] in cfg.Realm. Each Discover sends a query and
// listens for cfg.Timeout, over IPv4 and IPv6 where available (IPv4 only if
// sending over IPv6 fails).
//
// An instance whose TXT record also holds a valid "id=<node-id-hex>" is
// returned as a Macula URI, macula://<realm>/<node-id>@host:port, otherwise
// as "host:port". The host is the instance's IPv4 address if it has one,
// else its IPv6 address (with the zone of the receiving interface when it
// is link-local). Invalid configurations yield an error wrapping
// [ErrInvalidConfig].
//
// Discover fails, with an error wrapping [ErrSourceFailed], if it cannot
// open the mDNS sockets or send the query. If ctx is cancelled during a
// browse, Discover fails once the listening period (at most Timeout) ends:
// the mDNS library does not end it sooner, and Discover leaves no goroutine
// behind.
func MDNS(cfg MDNSConfig) (Source, error) {
	s := &mdnsSource{
		service: cfg.Service,
		domain:  cfg.Domain,
		realm:   cfg.Realm,
		iface:   cfg.Interface,
		timeout: orDefault(cfg.Timeout, DefaultMDNSTimeout),
	}
	if s.service == "" {
		s.service = DefaultMDNSService
	}
	if s.domain == "" {
		s.domain = DefaultMDNSDomain
	}
	if err := validateMDNSNames(s.service, s.domain); err != nil {
		return nil, err
	}
	if err := security.ValidateRealm(cfg.Realm); err != nil {
		return nil, configErrorf("mdns: Realm: %v", err)
	}
	if cfg.Timeout < 0 {
		return nil, configErrorf("mdns: negative Timeout %v", cfg.Timeout)
	}
	return s, nil
}

// validateMDNSNames checks a service type and domain.
func validateMDNSNames(service, domain string) error {
	if !validHost(strings.Trim(service, ".")) {
		return configErrorf("mdns: invalid Service %q", service)
	}
	if !validHost(strings.Trim(domain, ".")) {
		return configErrorf("mdns: invalid Domain %q", domain)
	}
	return nil
}

// Name returns "mdns".
func (s *mdnsSource) Name() string { return "mdns" }

// Discover browses for instances in the source's realm; see [MDNS].
func (s *mdnsSource) Discover(ctx context.Context) ([]string, error) {
	timeout := s.timeout
	if deadline, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(deadline))
	}
	if err := ctx.Err(); err != nil {
		return nil, sourceError(s.Name(), err)
	}
	if timeout <= 0 {
		return nil, sourceError(s.Name(), context.DeadlineExceeded)
	}
	entries, err := s.browse(ctx, timeout, false)
	if err != nil && ctx.Err() == nil {
		// Sending over IPv6 fails on hosts with IPv6 sockets but no IPv6
		// multicast route; browse over IPv4 alone.
		entries, err = s.browse(ctx, timeout, true)
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return nil, sourceError(s.Name(), err)
	}
	suffix := "." + strings.Trim(s.service, ".") + "." + strings.Trim(s.domain, ".") + "."
	var addrs []string
	for _, e := range entries {
		if !strings.HasSuffix(strings.ToLower(e.Name), strings.ToLower(suffix)) {
			continue
		}
		if a, ok := entryAddr(s.realm, e.InfoFields, e.AddrV4, e.AddrV6IPAddr, e.Port); ok {
			addrs = append(addrs, a)
		}
	}
	return addrs, nil
}

// browse runs one mDNS query and returns the complete entries it found.
func (s *mdnsSource) browse(ctx context.Context, timeout time.Duration, ipv4Only bool) ([]*mdns.ServiceEntry, error) {
	// The library never blocks on this channel: entries beyond its
	// capacity are dropped. It is read only after the query has returned,
	// because the library keeps writing to entries it has sent.
	ch := make(chan *mdns.ServiceEntry, maxMDNSEntries)
	err := mdns.QueryContext(ctx, &mdns.QueryParam{
		Service:     s.service,
		Domain:      s.domain,
		Timeout:     timeout,
		Interface:   s.iface,
		Entries:     ch,
		DisableIPv6: ipv4Only,
		Logger:      log.New(io.Discard, "", 0),
	})
	close(ch)
	var entries []*mdns.ServiceEntry
	for e := range ch {
		entries = append(entries, e)
	}
	return entries, err
}

// entryAddr turns one browsed instance into an address if its TXT fields
// put it in realm; see [MDNS] for the form.
func entryAddr(realm string, txt []string, v4 net.IP, v6 *net.IPAddr, port int) (string, bool) {
	// As in RFC 6763 section 6.4, keys are case-insensitive and only the
	// first occurrence of a key counts.
	var gotRealm, idText string
	var haveRealm, haveID bool
	for _, f := range txt {
		key, value, _ := strings.Cut(f, "=")
		switch {
		case strings.EqualFold(key, txtRealm) && !haveRealm:
			gotRealm, haveRealm = value, true
		case strings.EqualFold(key, txtID) && !haveID:
			idText, haveID = value, true
		}
	}
	if !haveRealm || gotRealm != realm {
		return "", false
	}
	host, ok := entryHost(v4, v6)
	if !ok || port < 1 || port > 65535 {
		return "", false
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	if id, err := security.ParseNodeID(idText); err == nil && !id.IsZero() {
		return security.URI{Realm: realm, NodeID: id, Addr: addr}.String(), true
	}
	return addr, true
}

// entryHost picks the address of an instance: IPv4 first, else IPv6.
func entryHost(v4 net.IP, v6 *net.IPAddr) (string, bool) {
	if ip, ok := netip.AddrFromSlice(v4); ok {
		ip = ip.Unmap()
		if ip.Is4() && usableIP(ip) {
			return ip.String(), true
		}
	}
	if v6 != nil {
		if ip, ok := netip.AddrFromSlice(v6.IP); ok && usableIP(ip) {
			if ip.IsLinkLocalUnicast() && v6.Zone != "" {
				ip = ip.WithZone(v6.Zone)
			}
			return ip.String(), true
		}
	}
	return "", false
}

// usableIP reports whether ip can be a unicast peer address.
func usableIP(ip netip.Addr) bool {
	return ip.IsValid() && !ip.IsUnspecified() && !ip.IsMulticast()
}

// AdvertiseConfig configures an [Advertiser].
type AdvertiseConfig struct {
	// Service is the DNS-SD service type. Default [DefaultMDNSService]
	// ("_macula._udp").
	Service string
	// Domain is the mDNS domain. Default [DefaultMDNSDomain] ("local.").
	Domain string
	// Realm is the node's realm, required; see [security.ValidateRealm].
	Realm string
	// NodeID is the node's ID, required (not zero).
	NodeID security.NodeID
	// Port is the node's UDP (QUIC) port, required: 1..65535.
	Port int
	// IPs are the addresses to advertise. Default: the unicast addresses
	// of Interface if it is set, else of every interface that is up,
	// multicast-capable and not loopback.
	IPs []net.IP
	// Interface is the network interface to listen for queries on.
	// Default (nil): the system's choice for multicast.
	Interface *net.Interface
}

// An Advertiser answers mDNS queries for one node until it is closed. The
// instance name is the node ID's short form ([security.NodeID.Short]), the
// host name "<short>.<domain>", and the TXT record holds
// "realm=<realm>" and "id=<node-id-hex>", which is what [MDNS] looks for.
type Advertiser struct {
	server *mdns.Server
	once   sync.Once
}

// Advertise starts answering mDNS queries for the node cfg describes, on
// the IPv4 and IPv6 mDNS groups (whichever can be joined). Invalid
// configurations yield an error wrapping [ErrInvalidConfig]; failing to
// listen on either group is an error too.
func Advertise(cfg AdvertiseConfig) (*Advertiser, error) {
	service := cfg.Service
	if service == "" {
		service = DefaultMDNSService
	}
	domain := cfg.Domain
	if domain == "" {
		domain = DefaultMDNSDomain
	}
	if err := validateMDNSNames(service, domain); err != nil {
		return nil, err
	}
	domain = strings.Trim(domain, ".") + "."
	if err := security.ValidateRealm(cfg.Realm); err != nil {
		return nil, configErrorf("mdns advertise: Realm: %v", err)
	}
	if cfg.NodeID.IsZero() {
		return nil, configErrorf("mdns advertise: zero NodeID")
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, configErrorf("mdns advertise: Port %d not in 1..65535", cfg.Port)
	}
	ips := cfg.IPs
	if len(ips) == 0 {
		var err error
		if ips, err = localIPs(cfg.Interface); err != nil {
			return nil, configErrorf("mdns advertise: no IPs given and %v", err)
		}
	}
	for _, ip := range ips {
		a, ok := netip.AddrFromSlice(ip)
		if !ok || !usableIP(a.Unmap()) {
			return nil, configErrorf("mdns advertise: unusable IP %v", ip)
		}
	}
	short := cfg.NodeID.Short()
	zone, err := mdns.NewMDNSService(short, service, domain, short+"."+domain, cfg.Port, ips,
		[]string{txtRealm + "=" + cfg.Realm, txtID + "=" + cfg.NodeID.String()})
	if err != nil {
		return nil, configErrorf("mdns advertise: %v", err)
	}
	server, err := mdns.NewServer(&mdns.Config{
		Zone:   zone,
		Iface:  cfg.Interface,
		Logger: log.New(io.Discard, "", 0),
	})
	if err != nil {
		return nil, fmt.Errorf("macula: mdns advertise: %w", err)
	}
	return &Advertiser{server: server}, nil
}

// localIPs lists the unicast addresses of iface, or of every interface
// that is up, multicast-capable and not loopback if iface is nil.
func localIPs(iface *net.Interface) ([]net.IP, error) {
	var ifaces []net.Interface
	if iface != nil {
		ifaces = []net.Interface{*iface}
	} else {
		all, err := net.Interfaces()
		if err != nil {
			return nil, err
		}
		for _, i := range all {
			if i.Flags&net.FlagUp != 0 && i.Flags&net.FlagMulticast != 0 && i.Flags&net.FlagLoopback == 0 {
				ifaces = append(ifaces, i)
			}
		}
	}
	var ips []net.IP
	for _, i := range ifaces {
		addrs, err := i.Addrs()
		if err != nil {
			return nil, err
		}
		for _, a := range addrs {
			ipNet, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			if ip, ok := netip.AddrFromSlice(ipNet.IP); ok && usableIP(ip.Unmap()) && !ip.IsLoopback() {
				ips = append(ips, ipNet.IP)
			}
		}
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("no usable local address found")
	}
	return ips, nil
}

// Close stops answering queries. It is idempotent and always returns nil.
func (a *Advertiser) Close() error {
	a.once.Do(func() { _ = a.server.Shutdown() })
	return nil
}
