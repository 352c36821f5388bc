package macula

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/routing"
	"github.com/org/macula/transport"
)

func TestWithLimits(t *testing.T) {
	apply := func(l Limits) (Limits, error) {
		c := defaultConfig()
		err := WithLimits(l)(c)
		return c.limits, err
	}
	def := DefaultLimits()
	require.Equal(t, def, defaultConfig().limits)

	got, err := apply(Limits{})
	require.NoError(t, err)
	require.Equal(t, def, got, "zero fields keep their defaults")

	got, err = apply(Limits{QueryRate: 5, QueryBurst: 6, PingRate: NoLimit, StrikeLimit: NoLimit, BanDuration: time.Hour})
	require.NoError(t, err)
	want := def
	want.QueryRate, want.QueryBurst, want.PingRate, want.StrikeLimit = 5, 6, NoLimit, NoLimit
	want.BanDuration, want.MaxBanDuration = time.Hour, time.Hour
	require.Equal(t, want, got, "set fields kept, a long ban raises the cap's default")

	for name, l := range map[string]Limits{
		"negative count":    {MaxStreams: -3},
		"negative burst":    {WatchBurst: -2},
		"negative rate":     {HandshakeRate: -0.5},
		"NaN rate":          {StoreRate: math.NaN()},
		"infinite rate":     {DatagramRate: math.Inf(1)},
		"negative window":   {StrikeWindow: -time.Second},
		"negative cap":      {MaxBanDuration: -time.Second},
		"cap below the ban": {BanDuration: time.Minute, MaxBanDuration: time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := apply(l)
			require.ErrorIs(t, err, ErrInvalidOption)
			require.Contains(t, err.Error(), "WithLimits")
		})
	}
}

// TestLimitsReachTheParts checks that every field of Limits reaches the
// transport's or the DHT's config, and that NoLimit turns a DHT rate off
// whether it is in the rate or the burst.
func TestLimitsReachTheParts(t *testing.T) {
	l := Limits{
		MaxStreams: 1, StreamRate: 2, StreamBurst: 3, FrameRate: 4, FrameBurst: 5, PingRate: 6, PingBurst: 7,
		DatagramRate: 8, DatagramBurst: 9, HandshakeRate: 10, HandshakeBurst: 11, StoreRate: 12, StoreBurst: 13,
		QueryRate: 14, QueryBurst: 15, WatchRate: 16, WatchBurst: 17, StrikeLimit: 18,
		StrikeWindow: 19 * time.Second, BanDuration: 20 * time.Second, MaxBanDuration: 21 * time.Second,
	}
	var tc transport.Config
	l.transportConfig(&tc)
	require.Equal(t, transport.Config{
		MaxStreamsPerPeer: 1, StreamRate: 2, StreamBurst: 3, FrameRate: 4, FrameBurst: 5, PingRate: 6, PingBurst: 7,
		DatagramRate: 8, DatagramBurst: 9, HandshakeRate: 10, HandshakeBurst: 11, StrikeLimit: 18,
		StrikeWindow: 19 * time.Second, BanDuration: 20 * time.Second, MaxBanDuration: 21 * time.Second,
	}, tc)
	var rc routing.Config
	l.routingConfig(&rc)
	require.Equal(t, routing.Config{StoreRate: 12, StoreBurst: 13, QueryRate: 14, QueryBurst: 15, WatchRate: 16, WatchBurst: 17}, rc)

	l.StoreBurst, l.QueryRate = NoLimit, NoLimit
	rc = routing.Config{}
	l.routingConfig(&rc)
	require.Equal(t, routing.Config{StoreRate: routing.NoLimit, QueryRate: routing.NoLimit, WatchRate: 16, WatchBurst: 17}, rc)
}
