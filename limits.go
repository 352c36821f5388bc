package macula

import (
	"math"
	"time"

	"github.com/org/macula/routing"
	"github.com/org/macula/transport"
)

// NoLimit, in a count, rate or burst of [Limits], turns that limit off
// (in StrikeLimit: banning).
const NoLimit = transport.NoLimit

// Limits are the per-peer limits on what other nodes may ask of this
// node, and when a node that keeps going over them is banned (see
// [WithLimits]). Each limit is a token bucket: a rate per second in the
// long run and a burst at once, kept per peer connection (streams,
// frames, pings, datagrams), per sending node (DHT requests) or per
// source address (handshakes). What goes over a limit is refused at
// once, counted ([Node.AbuseStats]) and audited at most once a second per
// peer and limit ([WithAuditLog]); the node keeps serving everyone else.
//
// A zero field means its default, the value in [DefaultLimits]; NoLimit
// in a count, rate or burst turns that limit off. Other negative values,
// NaN and infinities are invalid.
//
// The defaults sit far above what honest nodes send, so that they never
// meet a limit in normal work: a limit is there to bound what one peer
// can cost the node, and each refusal counts toward a ban. The reasons
// for each value are in docs/ARCHITECTURE.md (Security enforcement).
type Limits struct {
	// MaxStreams is how many of one peer's streams may be in their
	// handlers at once; the excess is refused (default 512).
	MaxStreams int
	// StreamRate is how many streams per second a peer may open on its
	// connection, StreamBurst how many at once (50,000/s, 5,000).
	StreamRate float64
	// StreamBurst: see StreamRate.
	StreamBurst int
	// FrameRate is how many frames per second the node reads from one
	// connection, FrameBurst how many at once (4,000,000/s, 400,000);
	// the frame over it aborts its stream.
	FrameRate float64
	// FrameBurst: see FrameRate.
	FrameBurst int
	// PingRate is how many pings per second a peer may send on its
	// connection, PingBurst how many at once (100/s, 500); a ping over
	// it is not answered.
	PingRate float64
	// PingBurst: see PingRate.
	PingBurst int
	// DatagramRate is how many datagrams per second a peer may send on
	// its connection, DatagramBurst how many at once (10,000/s, 1,000);
	// the excess is dropped.
	DatagramRate float64
	// DatagramBurst: see DatagramRate.
	DatagramBurst int
	// HandshakeRate is how many connections per second one source IP
	// address (for IPv6, one /64) may open to the node, HandshakeBurst
	// how many at once (200/s, 1,000). Checked before any TLS work, so
	// nodes behind one address share the bucket.
	HandshakeRate float64
	// HandshakeBurst: see HandshakeRate.
	HandshakeBurst int
	// StoreRate is how many DHT STOREs per second the node accepts from
	// one sending node, StoreBurst how many at once (200/s, 2,000).
	StoreRate float64
	// StoreBurst: see StoreRate.
	StoreBurst int
	// QueryRate is how many DHT queries (FIND_NODE, FIND_VALUE) per
	// second the node answers for one sending node, QueryBurst how many
	// at once (500/s, 5,000).
	QueryRate float64
	// QueryBurst: see QueryRate.
	QueryBurst int
	// WatchRate is how many DHT watches per second the node accepts from
	// one sending node, WatchBurst how many at once (50/s, 1,024).
	WatchRate float64
	// WatchBurst: see WatchRate.
	WatchBurst int
	// StrikeLimit and StrikeWindow decide when a peer is banned: every
	// request refused by a limit above is a strike against its node, and
	// a node with more than StrikeLimit strikes within StrikeWindow is
	// banned (default 1,000 within 10 s). NoLimit turns banning off.
	StrikeLimit int
	// StrikeWindow: see StrikeLimit.
	StrikeWindow time.Duration
	// BanDuration is how long a first ban lasts (default 30 s): the
	// peer's connection is closed with protocol.CodeRateLimited, its
	// handshakes are refused and the node does not dial it (see
	// [ErrBanned] for the errors either side's dials see). Each further
	// ban of the same node doubles it, up to MaxBanDuration (default
	// 30 min, or BanDuration if longer); a node not banned again for
	// MaxBanDuration after its last ban starts again from BanDuration.
	BanDuration time.Duration
	// MaxBanDuration: see BanDuration.
	MaxBanDuration time.Duration
}

// DefaultLimits returns the limits a node has without [WithLimits]:
// every field set to its default.
func DefaultLimits() Limits {
	return Limits{
		MaxStreams:     transport.DefaultMaxStreamsPerPeer,
		StreamRate:     transport.DefaultStreamRate,
		StreamBurst:    transport.DefaultStreamBurst,
		FrameRate:      transport.DefaultFrameRate,
		FrameBurst:     transport.DefaultFrameBurst,
		PingRate:       transport.DefaultPingRate,
		PingBurst:      transport.DefaultPingBurst,
		DatagramRate:   transport.DefaultDatagramRate,
		DatagramBurst:  transport.DefaultDatagramBurst,
		HandshakeRate:  transport.DefaultHandshakeRate,
		HandshakeBurst: transport.DefaultHandshakeBurst,
		StoreRate:      routing.DefaultStoreRate,
		StoreBurst:     routing.DefaultStoreBurst,
		QueryRate:      routing.DefaultQueryRate,
		QueryBurst:     routing.DefaultQueryBurst,
		WatchRate:      routing.DefaultWatchRate,
		WatchBurst:     routing.DefaultWatchBurst,
		StrikeLimit:    transport.DefaultStrikeLimit,
		StrikeWindow:   transport.DefaultStrikeWindow,
		BanDuration:    transport.DefaultBanDuration,
		MaxBanDuration: transport.DefaultMaxBanDuration,
	}
}

// WithLimits sets the per-peer limits and the bans of peers that keep
// going over them (see [Limits]; zero fields keep their defaults, NoLimit
// turns a limit off). A negative value other than NoLimit, NaN, an
// infinity, a negative duration, or a MaxBanDuration below BanDuration is
// invalid. Default: [DefaultLimits].
func WithLimits(l Limits) Option {
	return func(c *config) error {
		filled, err := l.withDefaults()
		if err != nil {
			return err
		}
		c.limits = filled
		return nil
	}
}

// withDefaults checks l and returns it with its zero fields set to the
// defaults.
func (l Limits) withDefaults() (Limits, error) {
	def := DefaultLimits()
	counts := []struct {
		name    string
		v, dflt *int
	}{
		{"MaxStreams", &l.MaxStreams, &def.MaxStreams},
		{"StreamBurst", &l.StreamBurst, &def.StreamBurst},
		{"FrameBurst", &l.FrameBurst, &def.FrameBurst},
		{"PingBurst", &l.PingBurst, &def.PingBurst},
		{"DatagramBurst", &l.DatagramBurst, &def.DatagramBurst},
		{"HandshakeBurst", &l.HandshakeBurst, &def.HandshakeBurst},
		{"StoreBurst", &l.StoreBurst, &def.StoreBurst},
		{"QueryBurst", &l.QueryBurst, &def.QueryBurst},
		{"WatchBurst", &l.WatchBurst, &def.WatchBurst},
		{"StrikeLimit", &l.StrikeLimit, &def.StrikeLimit},
	}
	for _, f := range counts {
		switch {
		case *f.v == 0:
			*f.v = *f.dflt
		case *f.v < 0 && *f.v != NoLimit:
			return l, invalid("WithLimits", "%s is %d; use a positive value, zero for the default or NoLimit", f.name, *f.v)
		}
	}
	rates := []struct {
		name    string
		v, dflt *float64
	}{
		{"StreamRate", &l.StreamRate, &def.StreamRate},
		{"FrameRate", &l.FrameRate, &def.FrameRate},
		{"PingRate", &l.PingRate, &def.PingRate},
		{"DatagramRate", &l.DatagramRate, &def.DatagramRate},
		{"HandshakeRate", &l.HandshakeRate, &def.HandshakeRate},
		{"StoreRate", &l.StoreRate, &def.StoreRate},
		{"QueryRate", &l.QueryRate, &def.QueryRate},
		{"WatchRate", &l.WatchRate, &def.WatchRate},
	}
	for _, f := range rates {
		switch {
		case *f.v == 0:
			*f.v = *f.dflt
		case math.IsNaN(*f.v) || math.IsInf(*f.v, 0) || (*f.v < 0 && *f.v != NoLimit):
			return l, invalid("WithLimits", "%s is %v; use a positive value, zero for the default or NoLimit", f.name, *f.v)
		}
	}
	if l.StrikeWindow < 0 || l.BanDuration < 0 || l.MaxBanDuration < 0 {
		return l, invalid("WithLimits", "StrikeWindow, BanDuration and MaxBanDuration must not be negative")
	}
	if l.StrikeWindow == 0 {
		l.StrikeWindow = def.StrikeWindow
	}
	if l.BanDuration == 0 {
		l.BanDuration = def.BanDuration
	}
	if l.MaxBanDuration == 0 {
		l.MaxBanDuration = max(def.MaxBanDuration, l.BanDuration)
	}
	if l.MaxBanDuration < l.BanDuration {
		return l, invalid("WithLimits", "MaxBanDuration %v is below BanDuration %v", l.MaxBanDuration, l.BanDuration)
	}
	return l, nil
}

// transportConfig sets the transport's per-peer limits from l.
func (l Limits) transportConfig(c *transport.Config) {
	c.MaxStreamsPerPeer = l.MaxStreams
	c.StreamRate, c.StreamBurst = l.StreamRate, l.StreamBurst
	c.FrameRate, c.FrameBurst = l.FrameRate, l.FrameBurst
	c.PingRate, c.PingBurst = l.PingRate, l.PingBurst
	c.DatagramRate, c.DatagramBurst = l.DatagramRate, l.DatagramBurst
	c.HandshakeRate, c.HandshakeBurst = l.HandshakeRate, l.HandshakeBurst
	c.StrikeLimit, c.StrikeWindow = l.StrikeLimit, l.StrikeWindow
	c.BanDuration, c.MaxBanDuration = l.BanDuration, l.MaxBanDuration
}

// routingConfig sets the DHT's per-sender rates from l. The DHT turns a
// rate off with its rate only, so NoLimit in a burst becomes NoLimit in
// the rate.
func (l Limits) routingConfig(c *routing.Config) {
	rate := func(r float64, burst int) (float64, int) {
		if r == NoLimit || burst == NoLimit {
			return routing.NoLimit, 0
		}
		return r, burst
	}
	c.StoreRate, c.StoreBurst = rate(l.StoreRate, l.StoreBurst)
	c.QueryRate, c.QueryBurst = rate(l.QueryRate, l.QueryBurst)
	c.WatchRate, c.WatchBurst = rate(l.WatchRate, l.WatchBurst)
}
