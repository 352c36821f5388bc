package transport

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
)

// BanEvent reports a peer banned for going over its limits again and
// again; see [Config.OnBan].
type BanEvent struct {
	// Peer is the banned node.
	Peer security.NodeID
	// RemoteAddr is the address of its connection, nil if it had none.
	RemoteAddr net.Addr
	// Duration is how long the ban lasts, and Until when it ends.
	Duration time.Duration
	// Until is when the ban ends.
	Until time.Time
	// Offence counts this peer's bans, this one included (each doubles
	// the duration; see [Config.BanDuration]).
	Offence int
}

// BannedError is the error of a dial to a peer this node has banned: the
// dial fails at once, without a packet sent. It matches [ErrBanned], and
// so [ErrRateLimited], under errors.Is.
type BannedError struct {
	// Peer is the banned node.
	Peer security.NodeID
	// Until is when its ban ends.
	Until time.Time
}

// Error says who is banned and until when.
func (e *BannedError) Error() string {
	return fmt.Sprintf("%v: %s until %s", ErrBanned, e.Peer.Short(), e.Until.Format(time.RFC3339))
}

// Unwrap returns ErrBanned.
func (e *BannedError) Unwrap() error { return ErrBanned }

// RetryAfter is how long the ban has left (zero once it ended): a
// topology.Manager, which finds this method with errors.As, waits that
// long before dialing the peer again instead of retrying during the ban.
func (e *BannedError) RetryAfter() time.Duration { return max(time.Until(e.Until), 0) }

// maxOffenders bounds the peers whose strikes and bans are kept. Peers
// with no strike left and no ban to remember are dropped by every sweep
// (about once a second); at the bound, a peer that is not banned is
// forgotten to make room.
const maxOffenders = 1 << 16

// banList keeps each peer's strikes and bans, by node ID, so that neither
// resets when the peer reconnects. Safe for concurrent use.
type banList struct {
	strikeRate  rate.Limit
	strikeBurst int
	base, most  time.Duration

	mu    sync.Mutex
	peers map[security.NodeID]*offender
	// addrs are the source addresses (IP and port) banned peers dialed
	// from during their bans, refused before TLS until the ban ends.
	addrs map[netip.AddrPort]time.Time
}

// offender is one peer's record.
type offender struct {
	strikes  *rate.Limiter
	offences int       // bans so far
	until    time.Time // banned before this time
}

// newBanList returns the ban list of cfg, or nil when banning is off.
func newBanList(cfg *Config) *banList {
	if cfg.StrikeLimit == NoLimit {
		return nil
	}
	return &banList{
		strikeRate:  rate.Limit(float64(cfg.StrikeLimit) / cfg.StrikeWindow.Seconds()),
		strikeBurst: cfg.StrikeLimit,
		base:        cfg.BanDuration,
		most:        cfg.MaxBanDuration,
		peers:       make(map[security.NodeID]*offender),
		addrs:       make(map[netip.AddrPort]time.Time),
	}
}

// strike counts n strikes against id at now and reports whether they
// banned it, with the ban. A peer banned already takes no strikes.
func (b *banList) strike(id security.NodeID, n int, now time.Time) (BanEvent, bool) {
	if b == nil || n <= 0 {
		return BanEvent{}, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	o := b.peers[id]
	if o == nil {
		if len(b.peers) >= maxOffenders {
			b.evictLocked(now)
		}
		o = &offender{strikes: rate.NewLimiter(b.strikeRate, b.strikeBurst)}
		b.peers[id] = o
	}
	if now.Before(o.until) || o.strikes.AllowN(now, n) {
		return BanEvent{}, false
	}
	if o.offences > 0 && now.Sub(o.until) > b.most {
		o.offences = 0 // behaved for long enough: start again
	}
	o.offences++
	d := min(b.base, b.most)
	for range o.offences - 1 {
		if d > b.most/2 {
			d = b.most
			break
		}
		d *= 2
	}
	o.until = now.Add(d)
	o.strikes = rate.NewLimiter(b.strikeRate, b.strikeBurst) // a clean slate once the ban ends
	return BanEvent{Peer: id, Duration: d, Until: o.until, Offence: o.offences}, true
}

// bannedUntil returns when id's ban ends, if it is banned at now.
func (b *banList) bannedUntil(id security.NodeID, now time.Time) (time.Time, bool) {
	if b == nil {
		return time.Time{}, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if o := b.peers[id]; o != nil && now.Before(o.until) {
		return o.until, true
	}
	return time.Time{}, false
}

// banAddr refuses the address a banned peer dialed from, until its ban
// ends. The list is bounded like the peers.
func (b *banList) banAddr(a net.Addr, until time.Time) {
	ap, ok := addrPort(a)
	if b == nil || !ok {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.addrs) < maxOffenders {
		b.addrs[ap] = until
	}
}

// addrBanned reports whether a is the address of a banned peer at now.
func (b *banList) addrBanned(a net.Addr, now time.Time) bool {
	ap, ok := addrPort(a)
	if b == nil || !ok {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	until, ok := b.addrs[ap]
	return ok && now.Before(until)
}

// addrPort is a's IP address and port, if it has them.
func addrPort(a net.Addr) (netip.AddrPort, bool) {
	if u, ok := a.(*net.UDPAddr); ok {
		ap := u.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
	}
	if a == nil {
		return netip.AddrPort{}, false
	}
	ap, err := netip.ParseAddrPort(a.String())
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), err == nil
}

// forgettable reports whether o, at now, is the same as a peer never
// seen: not banned, no strike left in its bucket, and no ban recent
// enough to lengthen the next one.
func (b *banList) forgettable(o *offender, now time.Time) bool {
	if now.Before(o.until) || o.strikes.TokensAt(now) < float64(b.strikeBurst) {
		return false
	}
	return o.offences == 0 || now.Sub(o.until) > b.most
}

// sweep drops the peers that are forgettable at now and returns how many
// it dropped.
func (b *banList) sweep(now time.Time) int {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for id, o := range b.peers {
		if b.forgettable(o, now) {
			delete(b.peers, id)
			n++
		}
	}
	for a, until := range b.addrs {
		if !now.Before(until) {
			delete(b.addrs, a)
		}
	}
	return n
}

// evictLocked makes room for one more peer: the first one not banned
// that a random walk of the map meets (map order is random). When every
// peer kept is banned, it drops none: the list then grows by the banned
// peers only, each of which cost its owner an identity and a flood.
// Callers hold mu.
func (b *banList) evictLocked(now time.Time) {
	for id, o := range b.peers {
		if !now.Before(o.until) {
			delete(b.peers, id)
			return
		}
	}
}

// len returns the number of peers kept.
func (b *banList) len() int {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.peers)
}

// Strike counts n requests of peer id refused by a limit outside the
// transport (the Node passes on the DHT's per-sender rate refusals)
// toward the peer's ban, as the transport's own refusals count (see
// [Config.StrikeLimit]). It reports whether this strike banned the peer:
// [Config.OnBan] has then been called and its connection is closed with
// protocol.CodeRateLimited. Strikes against a peer banned already, or
// with banning off, do nothing. It may be called from any goroutine; it
// does not block beyond closing the peer's connection.
func (t *Transport) Strike(id security.NodeID, n int) bool {
	return t.strike(id, n)
}

// strike is Strike.
func (t *Transport) strike(id security.NodeID, n int) bool {
	ev, banned := t.bans.strike(id, n, time.Now())
	if !banned {
		return false
	}
	t.bansImposed.Add(1)
	pc := t.peers.get(id)
	if pc != nil {
		ev.RemoteAddr = pc.conn.RemoteAddr()
	}
	t.log.Warn("peer keeps going over its limits: banned", zap.Stringer("peer", id),
		zap.Stringer("addr", addrStringer{ev.RemoteAddr}), zap.Duration("for", ev.Duration), zap.Int("offence", ev.Offence))
	if t.cfg.OnBan != nil {
		t.cfg.OnBan(ev)
	}
	if pc != nil {
		pc.closeWith(protocol.CodeRateLimited, banReason(ev.Until))
	}
	return true
}

// Banned reports whether peer id is banned now, and until when.
func (t *Transport) Banned(id security.NodeID) (until time.Time, banned bool) {
	return t.bans.bannedUntil(id, time.Now())
}

// refuseBanned reports whether id is banned; if so it counts one refused
// connection.
func (t *Transport) refuseBanned(id security.NodeID) (time.Time, bool) {
	until, banned := t.bans.bannedUntil(id, time.Now())
	if banned {
		t.bannedRefused.Add(1)
	}
	return until, banned
}

// banReason is the reason text of a connection closed for a ban.
func banReason(until time.Time) string {
	return "banned until " + until.UTC().Format(time.RFC3339) + ": over its limits"
}
