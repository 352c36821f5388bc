package macula

import (
	"net"
	"net/netip"
)

// defaultAdvertiseAddr is the address peers are told to reach this node at
// when no WithAdvertiseAddrs is given: the bound address, or, when bound to
// the unspecified address (0.0.0.0 or ::), the first non-loopback address of
// an interface that is up, falling back to loopback.
func defaultAdvertiseAddr(bound net.Addr) string {
	ap, err := netip.ParseAddrPort(bound.String())
	if err != nil || !ap.Addr().IsUnspecified() {
		return bound.String()
	}
	ip := netip.MustParseAddr("127.0.0.1")
	if ifaces, err := net.Interfaces(); err == nil {
	search:
		for _, ifc := range ifaces {
			if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
				continue
			}
			addrs, err := ifc.Addrs()
			if err != nil {
				continue
			}
			for _, a := range addrs {
				if pfx, err := netip.ParsePrefix(a.String()); err == nil && pfx.Addr().Is4() {
					ip = pfx.Addr()
					break search
				}
			}
		}
	}
	return netip.AddrPortFrom(ip, ap.Port()).String()
}
