package transport

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// maxHandshakeAddrs bounds the source addresses whose handshake buckets
// are kept (about 200 bytes each). Full buckets are dropped by every
// sweep (about once a second); addresses beyond the bound between sweeps
// share one bucket, so a flood from many addresses is still limited, as
// a whole.
const maxHandshakeAddrs = 1 << 16

// errHandshakeRate is what the handshake limit answers quic-go with; the
// dialer sees CONNECTION_REFUSED.
var errHandshakeRate = errors.New("macula: too many handshakes from this address")

// errBannedAddr is what admitHandshake answers for the address of a
// banned peer.
var errBannedAddr = errors.New("macula: address of a banned peer")

// addrLimiter is a token bucket per source address on new connections.
// Safe for concurrent use.
type addrLimiter struct {
	rate  rate.Limit
	burst int
	base  time.Time // origin of the reporters' clocks

	mu       sync.Mutex
	addrs    map[netip.Addr]*addrBucket
	overflow *addrBucket // shared by the addresses beyond maxHandshakeAddrs
}

// addrBucket is one source address's bucket and report throttle.
type addrBucket struct {
	lim    *rate.Limiter
	report reporter
}

// newAddrLimiter returns the handshake limiter of cfg, or nil when it is
// off.
func newAddrLimiter(cfg *Config) *addrLimiter {
	if cfg.HandshakeRate == NoLimit || cfg.HandshakeBurst == NoLimit {
		return nil
	}
	l := &addrLimiter{
		rate: rate.Limit(cfg.HandshakeRate), burst: cfg.HandshakeBurst, base: time.Now(),
		addrs: make(map[netip.Addr]*addrBucket),
	}
	l.overflow = l.newBucket()
	return l
}

func (l *addrLimiter) newBucket() *addrBucket {
	return &addrBucket{lim: rate.NewLimiter(l.rate, l.burst)}
}

// sourceKey is the bucket key of a remote address: its IP address, or
// for IPv6 its /64 prefix (one host commonly holds a whole /64). An
// address that is not IP shares the zero key.
func sourceKey(a net.Addr) netip.Addr {
	var ip netip.Addr
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		if a != nil {
			if ap, err := netip.ParseAddrPort(a.String()); err == nil {
				ip = ap.Addr()
			}
		}
	}
	ip = ip.Unmap()
	if ip.Is6() {
		if p, err := ip.Prefix(64); err == nil {
			ip = p.Addr()
		}
	}
	return ip
}

// allow takes a token for a connection from src at now. When it refuses,
// it also returns how many refusals from src to report now (0 while the
// last report is less than limitReportInterval old).
func (l *addrLimiter) allow(src net.Addr, now time.Time) (ok bool, report uint64) {
	key := sourceKey(src)
	l.mu.Lock()
	b := l.addrs[key]
	if b == nil {
		if len(l.addrs) < maxHandshakeAddrs {
			b = l.newBucket()
			l.addrs[key] = b
		} else {
			b = l.overflow
		}
	}
	ok = b.lim.AllowN(now, 1)
	l.mu.Unlock()
	if ok {
		return true, 0
	}
	return false, b.report.note(int64(now.Sub(l.base)))
}

// sweep drops the buckets that are full at now (an address never seen
// behaves the same) and returns how many it dropped.
func (l *addrLimiter) sweep(now time.Time) int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for key, b := range l.addrs {
		if b.lim.TokensAt(now) >= float64(l.burst) {
			delete(l.addrs, key)
			n++
		}
	}
	return n
}

// len returns the number of buckets kept.
func (l *addrLimiter) len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.addrs)
}

// admitHandshake is the listener's quic.Transport.ConnContext: quic-go
// calls it on its packet-handling goroutine when the first packet of a
// new connection arrives, before any TLS work, and refuses the connection
// with CONNECTION_REFUSED when it returns an error.
func (t *Transport) admitHandshake(ctx context.Context, info *quic.ClientInfo) (context.Context, error) {
	now := time.Now()
	if t.bans.addrBanned(info.RemoteAddr, now) {
		t.bannedRefused.Add(1)
		return nil, errBannedAddr
	}
	if t.handshakes == nil {
		return ctx, nil
	}
	ok, n := t.handshakes.allow(info.RemoteAddr, now)
	if ok {
		return ctx, nil
	}
	t.limitRefused[LimitHandshakeRate].Add(1)
	if n > 0 {
		t.log.Warn("address over the handshake rate, refusing its connections",
			zap.Stringer("addr", addrStringer{info.RemoteAddr}), zap.Uint64("refused", n))
		if t.cfg.OnLimitExceeded != nil {
			t.cfg.OnLimitExceeded(LimitEvent{RemoteAddr: info.RemoteAddr, Limit: LimitHandshakeRate, Refused: n})
		}
	}
	return nil, errHandshakeRate
}

// sweepLimits forgets the limit state that is the same as none: full
// handshake buckets, and peers with no strike or ban to remember.
func (t *Transport) sweepLimits(now time.Time) {
	t.handshakes.sweep(now)
	t.bans.sweep(now)
}
