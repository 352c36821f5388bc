package transport

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quic-go/quic-go/testutils/simnet"
	"github.com/stretchr/testify/require"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
)

// banEvents records OnBan reports.
type banEvents struct {
	mu  sync.Mutex
	evs []BanEvent
}

func (b *banEvents) record(ev BanEvent) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.evs = append(b.evs, ev)
}

func (b *banEvents) all() []BanEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]BanEvent(nil), b.evs...)
}

// floodPings has a ping b n times, each ping over b's ping rate: each
// refusal is a strike. A ping may also end with the connection, once the
// strikes banned a.
func floodPings(t *testing.T, a, b *Transport, n int) {
	t.Helper()
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		_, err := a.Ping(ctx, b.ID())
		cancel()
		if !errors.Is(err, ErrNotConnected) {
			require.ErrorIs(t, err, context.DeadlineExceeded, "refused pings get no pong")
		}
	}
}

// TestBanAfterRepeatedRefusals has a peer go over the ping rate again
// and again: after StrikeLimit refusals it is banned, its connection is
// closed, its dials and the banning node's dials fail with ErrBanned for
// the ban, another peer is served throughout, and (in virtual time, where
// durations are exact) each new ban lasts twice as long, up to the cap.
func TestBanAfterRepeatedRefusals(t *testing.T) {
	onBoth(t, func(t *testing.T, nw network) {
		const strikes = 5
		ban, most := time.Second, 3*time.Second
		if !nw.sim {
			ban, most = time.Minute, time.Hour // long enough never to end during the test
		}
		ctx := context.Background()
		conns := nw.conns(3)
		var bans banEvents
		var limits limitEvents
		b := newNode(t, conns[1], func(c *Config) {
			c.PingRate, c.PingBurst = 1e-6, 1 // one ping per connection, no refill
			c.StrikeLimit, c.StrikeWindow = strikes, time.Hour
			c.BanDuration, c.MaxBanDuration = ban, most
			c.OnBan, c.OnLimitExceeded = bans.record, limits.record
		})
		a, c := newNode(t, conns[0]), newNode(t, conns[2])
		b.Handle(protocol.StreamRPC, echoHandler(make(chan error, 64)))
		dial(t, c, b)

		for offence, want := range []time.Duration{ban, 2 * ban, most} {
			if offence > 0 && !nw.sim {
				break
			}
			dial(t, a, b)
			_, err := a.Ping(ctx, b.ID()) // the connection's one ping
			require.NoError(t, err)
			start := time.Now()
			floodPings(t, a, b, strikes+1)

			// The last refusal banned a, and closed its connection.
			evs := bans.all()
			require.Len(t, evs, offence+1)
			ev := evs[offence]
			require.Equal(t, a.ID(), ev.Peer)
			require.Equal(t, offence+1, ev.Offence)
			require.Equal(t, want, ev.Duration)
			require.Equal(t, a.Addr().String(), ev.RemoteAddr.String())
			until, banned := b.Banned(a.ID())
			require.True(t, banned)
			require.Equal(t, ev.Until, until)
			if nw.sim {
				// Each refused ping waited 100 ms for its pong, and the
				// last one took 5 ms to arrive.
				require.Equal(t, start.Add(strikes*100*time.Millisecond+5*time.Millisecond+want), until)
			}
			eventually(t, 5*time.Second, func() bool { _, ok := a.Peer(b.ID()); return !ok }, "a's connection closed")
			// b's side ends once its close is sent, which a may see first.
			eventually(t, 5*time.Second, func() bool { _, ok := b.Peer(a.ID()); return !ok }, "b's connection closed")

			// a's dials are refused: the first after TLS, with the typed
			// error, the next before TLS, as over the handshake rate.
			refusedBefore := b.LimitStats().BannedRefused
			_, err = a.Dial(ctx, b.Addr(), b.ID())
			require.ErrorIs(t, err, ErrBanned)
			require.ErrorIs(t, err, ErrRateLimited)
			require.Equal(t, refusedBefore+1, b.LimitStats().BannedRefused)
			_, err = a.Dial(ctx, b.Addr(), b.ID())
			require.ErrorIs(t, err, ErrRateLimited)
			require.False(t, errors.Is(err, ErrBanned))
			require.Greater(t, b.LimitStats().BannedRefused, refusedBefore+1)
			require.Zero(t, b.LimitStats().HandshakesRefused, "counted as banned, not as over the handshake rate")
			refusedBefore = b.LimitStats().BannedRefused
			// b does not dial a either, and says until when.
			_, err = b.Dial(ctx, a.Addr(), a.ID())
			var be *BannedError
			require.ErrorAs(t, err, &be)
			require.ErrorIs(t, err, ErrBanned)
			require.Equal(t, a.ID(), be.Peer)
			require.Equal(t, until, be.Until)
			require.Positive(t, be.RetryAfter())
			require.LessOrEqual(t, be.RetryAfter(), want)
			// Nor by address, without knowing who is there.
			_, err = b.Dial(ctx, a.Addr(), security.NodeID{})
			require.ErrorIs(t, err, ErrBanned)

			// c is served throughout.
			roundTrip(t, c, b)
			stats := b.LimitStats()
			require.Equal(t, uint64(offence+1), stats.Bans)
			require.Equal(t, refusedBefore+2, stats.BannedRefused, "b's own two dials")
			require.Equal(t, uint64((offence+1)*(strikes+1)), stats.PingsRefused)

			if nw.sim {
				time.Sleep(time.Until(until)) // the ban ends
				_, banned = b.Banned(a.ID())
				require.False(t, banned)
			}
		}
		require.NotEmpty(t, limits.all(), "the refusals were reported too")
	})
}

// TestStrikeFromAnotherLayer bans a peer through Transport.Strike, as the
// Node does for the DHT's refusals, and shows that banning can be off.
func TestStrikeFromAnotherLayer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := network{t: t, sim: true}
		conns := nw.conns(3)
		var bans banEvents
		b := newNode(t, conns[1], func(c *Config) { c.StrikeLimit, c.OnBan = 10, bans.record })
		a := newNode(t, conns[0])
		off := newNode(t, conns[2], func(c *Config) { c.StrikeLimit = NoLimit })
		dial(t, a, b)
		dial(t, a, off)

		require.False(t, b.Strike(a.ID(), 10), "ten strikes are within the limit")
		require.False(t, b.Strike(a.ID(), 0))
		require.True(t, b.Strike(a.ID(), 1), "the eleventh bans")
		require.False(t, b.Strike(a.ID(), 100), "a banned peer takes no more strikes")
		require.Len(t, bans.all(), 1)
		require.Equal(t, DefaultBanDuration, bans.all()[0].Duration)
		eventually(t, time.Second, func() bool { _, ok := a.Peer(b.ID()); return !ok }, "a sees its connection closed")
		_, err := a.Dial(context.Background(), b.Addr(), b.ID())
		require.ErrorIs(t, err, ErrBanned)

		require.False(t, off.Strike(a.ID(), 1<<20), "banning is off")
		_, banned := off.Banned(a.ID())
		require.False(t, banned)
		_, ok := off.Peer(a.ID())
		require.True(t, ok)
		require.Zero(t, off.bans.len())
	})
}

func TestBanList(t *testing.T) {
	cfg := Config{StrikeLimit: 3, StrikeWindow: 3 * time.Second, BanDuration: time.Second, MaxBanDuration: 5 * time.Second}
	b := newBanList(&cfg)
	t0 := time.Unix(1_000_000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	peer := security.NodeID{1}

	_, banned := b.strike(peer, 3, t0)
	require.False(t, banned, "the limit itself is allowed")
	ev, banned := b.strike(peer, 1, t0)
	require.True(t, banned)
	require.Equal(t, BanEvent{Peer: peer, Duration: time.Second, Until: at(time.Second), Offence: 1}, ev)
	until, ok := b.bannedUntil(peer, at(999*time.Millisecond))
	require.True(t, ok)
	require.Equal(t, at(time.Second), until)
	_, ok = b.bannedUntil(peer, at(time.Second))
	require.False(t, ok, "the ban ends on time")

	// The strikes refill at StrikeLimit per StrikeWindow: one a second.
	_, banned = b.strike(peer, 3, at(time.Second))
	require.False(t, banned, "a clean slate after the ban")
	_, banned = b.strike(peer, 1, at(2*time.Second))
	require.False(t, banned, "a strike came back meanwhile")
	ev, banned = b.strike(peer, 1, at(2*time.Second))
	require.True(t, banned)
	require.Equal(t, 2*time.Second, ev.Duration, "the second ban is twice as long")
	ev, banned = b.strike(peer, 4, ev.Until)
	require.True(t, banned)
	require.Equal(t, 4*time.Second, ev.Duration)
	ev, banned = b.strike(peer, 4, ev.Until)
	require.True(t, banned)
	require.Equal(t, 5*time.Second, ev.Duration, "capped at MaxBanDuration")
	require.Equal(t, 4, ev.Offence)

	// Good behaviour for MaxBanDuration after a ban starts over.
	later := ev.Until.Add(5*time.Second + time.Nanosecond)
	ev, banned = b.strike(peer, 4, later)
	require.True(t, banned)
	require.Equal(t, BanEvent{Peer: peer, Duration: time.Second, Until: later.Add(time.Second), Offence: 1}, ev)

	// A strike count beyond the whole limit bans at once.
	_, banned = b.strike(security.NodeID{2}, 4, t0)
	require.True(t, banned)

	// Sweeps forget only what is the same as a peer never seen.
	quiet := security.NodeID{3}
	_, banned = b.strike(quiet, 1, t0)
	require.False(t, banned)
	require.Equal(t, 3, b.len())
	require.Zero(t, b.sweep(t0), "banned peers and fresh strikes are kept")
	require.Equal(t, 1, b.sweep(at(time.Second)), "quiet's strike has come back")
	require.Equal(t, 1, b.sweep(at(7*time.Second)), "peer 2's ban is over and long enough ago")
	require.Equal(t, 1, b.len(), "peer 1's last ban is recent: a new one would be longer")
	require.Equal(t, 1, b.sweep(later.Add(time.Second+5*time.Second+time.Nanosecond)))
	require.Zero(t, b.len())

	// A banned peer's addresses are refused until its ban ends.
	addr := &net.UDPAddr{IP: net.IPv4(10, 0, 0, 9), Port: 4433}
	b.banAddr(addr, at(time.Second))
	require.True(t, b.addrBanned(addr, t0))
	require.True(t, b.addrBanned(net.UDPAddrFromAddrPort(netip.MustParseAddrPort("[::ffff:10.0.0.9]:4433")), t0))
	require.False(t, b.addrBanned(&net.UDPAddr{IP: net.IPv4(10, 0, 0, 9), Port: 4434}, t0), "another port is another node")
	require.False(t, b.addrBanned(addr, at(time.Second)))
	b.sweep(at(time.Second))
	require.Empty(t, b.addrs)

	// The list is bounded: at the bound, a peer not banned makes room.
	for i := range maxOffenders {
		var id security.NodeID
		id[0], id[1], id[2] = 9, byte(i>>8), byte(i)
		b.strike(id, 1, t0)
	}
	b.strike(peer, 5, t0)
	require.Equal(t, maxOffenders, b.len())
	_, ok = b.bannedUntil(peer, t0)
	require.True(t, ok, "the newcomer is tracked")

	// Off: nothing is kept, nothing banned.
	cfg.StrikeLimit = NoLimit
	var off *banList = newBanList(&cfg)
	require.Nil(t, off)
	_, banned = off.strike(peer, 1<<30, t0)
	require.False(t, banned)
	_, ok = off.bannedUntil(peer, t0)
	require.False(t, ok)
	require.Zero(t, off.sweep(t0))
	off.banAddr(addr, at(time.Hour))
	require.False(t, off.addrBanned(addr, t0))
}

func TestPingRateLimit(t *testing.T) {
	onBoth(t, func(t *testing.T, nw network) {
		const burst = 3
		ctx := context.Background()
		conns := nw.conns(3)
		var evs limitEvents
		b := newNode(t, conns[1], func(c *Config) {
			c.PingRate, c.PingBurst, c.OnLimitExceeded = 1e-6, burst, evs.record
		})
		a, c := newNode(t, conns[0]), newNode(t, conns[2])
		b.Handle(protocol.StreamRPC, echoHandler(make(chan error, 4)))
		dial(t, a, b)
		dial(t, c, b)

		for range burst {
			_, err := a.Ping(ctx, b.ID())
			require.NoError(t, err)
		}
		// The next ping gets no pong: it waits until its context ends.
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		_, err := a.Ping(short, b.ID())
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		eventually(t, 5*time.Second, func() bool { return b.LimitStats().PingsRefused == 1 }, "the ping counted")
		checkReported(t, nw, &evs, a, LimitPingRate)

		// The connection goes on, and c has its own bucket.
		roundTrip(t, a, b)
		_, err = c.Ping(ctx, b.ID())
		require.NoError(t, err)
		require.Equal(t, LimitStats{PingsRefused: 1}, b.LimitStats())
	})
}

func TestDatagramRateLimit(t *testing.T) {
	onBoth(t, func(t *testing.T, nw network) {
		const burst, sent = 5, 20
		conns := nw.conns(2)
		var evs limitEvents
		b := newNode(t, conns[1], func(c *Config) {
			c.DatagramRate, c.DatagramBurst, c.OnLimitExceeded = 1e-6, burst, evs.record
		})
		a := newNode(t, conns[0])
		var mu sync.Mutex
		got := 0
		b.HandleDatagram(protocol.StreamMembership, func(PeerInfo, []byte) {
			mu.Lock()
			got++
			mu.Unlock()
		})
		dial(t, a, b)
		for range sent {
			require.NoError(t, a.SendDatagram(b.ID(), protocol.StreamMembership, []byte("x")))
		}
		handled := func() int { mu.Lock(); defer mu.Unlock(); return got }
		eventually(t, 5*time.Second, func() bool { return uint64(handled())+b.LimitStats().DatagramsRefused == sent },
			"every datagram handled or refused")
		require.Equal(t, burst, handled())
		require.Equal(t, LimitStats{DatagramsRefused: sent - burst}, b.LimitStats())
		checkReported(t, nw, &evs, a, LimitDatagramRate)
		_, err := a.Ping(context.Background(), b.ID())
		require.NoError(t, err, "the connection goes on")
	})
}

// TestHandshakeRateLimit opens connections from three nodes that share
// one IP address and one that does not: the shared address's bucket
// admits two, and refuses the third before any TLS; the other address
// has a bucket of its own.
func TestHandshakeRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sn := &simnet.Simnet{Router: &simnet.PerfectRouter{}}
		link := simnet.NodeBiDiLinkSettings{Latency: 5 * time.Millisecond}
		endpoint := func(ip byte, port int) net.PacketConn {
			return sn.NewEndpoint(&net.UDPAddr{IP: net.IPv4(10, 0, 0, ip).To4(), Port: port}, link)
		}
		server := endpoint(1, 4433)
		shared := []net.PacketConn{endpoint(2, 1001), endpoint(2, 1002), endpoint(2, 1003)}
		elsewhere := endpoint(3, 4433)
		require.NoError(t, sn.Start())
		t.Cleanup(func() { _ = sn.Close() })

		var evs limitEvents
		b := newNode(t, server, func(c *Config) {
			c.HandshakeRate, c.HandshakeBurst, c.OnLimitExceeded = 1e-6, 2, evs.record
		})
		var dialers []*Transport
		for _, conn := range shared {
			dialers = append(dialers, newNode(t, conn))
		}
		dial(t, dialers[0], b)
		dial(t, dialers[1], b)
		_, err := dialers[2].Dial(context.Background(), b.Addr(), b.ID())
		require.ErrorIs(t, err, ErrRateLimited)
		require.False(t, errors.Is(err, ErrBanned), "a handshake refusal is no ban")
		require.False(t, errors.Is(err, ErrPeerRefused))
		dial(t, newNode(t, elsewhere), b)

		// Each Initial packet of the refused dial is refused: its
		// ClientHello, with a post-quantum key share, takes two.
		require.Positive(t, b.LimitStats().HandshakesRefused)
		require.Equal(t, LimitStats{HandshakesRefused: b.LimitStats().HandshakesRefused}, b.LimitStats())
		all := evs.all()
		require.Len(t, all, 1)
		require.Equal(t, LimitEvent{RemoteAddr: dialers[2].Addr(), Limit: LimitHandshakeRate, Refused: 1}, all[0])
		require.Len(t, b.Peers(), 3)
		require.Equal(t, 2, b.handshakes.len())
		b.sweepLimits(time.Now())
		require.Equal(t, 2, b.handshakes.len(), "used buckets are kept")
	})
}

func TestHandshakeLimiter(t *testing.T) {
	udp := func(s string) net.Addr { return net.UDPAddrFromAddrPort(netip.MustParseAddrPort(s)) }
	for _, tc := range []struct{ a, b string }{
		{"10.1.2.3:1", "10.1.2.3:2"},
		{"[::ffff:10.1.2.3]:1", "10.1.2.3:2"},
		{"[2001:db8:1:2::1]:1", "[2001:db8:1:2:ffff::9]:2"},
	} {
		require.Equal(t, sourceKey(udp(tc.a)), sourceKey(udp(tc.b)), "%s and %s share a bucket", tc.a, tc.b)
	}
	require.NotEqual(t, sourceKey(udp("[2001:db8:1:2::1]:1")), sourceKey(udp("[2001:db8:1:3::1]:1")))
	require.NotEqual(t, sourceKey(udp("10.1.2.3:1")), sourceKey(udp("10.1.2.4:1")))

	l := newAddrLimiter(&Config{HandshakeRate: 1, HandshakeBurst: 2})
	t0 := l.base
	a := udp("10.0.0.1:1")
	for range 2 {
		ok, _ := l.allow(a, t0)
		require.True(t, ok)
	}
	ok, report := l.allow(a, t0)
	require.False(t, ok)
	require.Equal(t, uint64(1), report, "the first refusal is reported")
	ok, report = l.allow(a, t0.Add(500*time.Millisecond))
	require.False(t, ok)
	require.Zero(t, report, "reports are throttled")
	ok, _ = l.allow(a, t0.Add(time.Second))
	require.True(t, ok, "a token a second")
	require.Zero(t, l.sweep(t0.Add(time.Second)))
	require.Equal(t, 1, l.sweep(t0.Add(3*time.Second)), "a full bucket is the same as none")

	// Beyond the bound, new addresses share one bucket.
	for i := range maxHandshakeAddrs {
		ok, _ := l.allow(udp(netip.AddrPortFrom(netip.AddrFrom4([4]byte{11, byte(i >> 16), byte(i >> 8), byte(i)}), 1).String()), t0)
		require.True(t, ok)
	}
	for range 2 {
		ok, _ = l.allow(udp("12.0.0.1:1"), t0)
		require.True(t, ok)
	}
	ok, _ = l.allow(udp("12.0.0.2:1"), t0)
	require.False(t, ok, "the overflow bucket is shared")

	require.Nil(t, newAddrLimiter(&Config{HandshakeRate: NoLimit, HandshakeBurst: 2}))
}
