package transport

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/protocol"
)

// holdStreams serves StreamRPC by holding each stream until ctx ends.
func holdStreams(tr *Transport) {
	tr.Handle(protocol.StreamRPC, func(ctx context.Context, s *Stream) {
		_, _ = s.Read(make([]byte, 1)) // until the opener closes or aborts
	})
}

func TestIdleConnectionsAreClosedUnlessProtectedOrBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := network{t: t, sim: true}
		conns := nw.conns(4)
		idle := 5 * time.Second
		hub := newNode(t, conns[0], func(c *Config) { c.ConnIdleTimeout = idle })
		// The spokes' own managers are off: only the hub's decides here.
		off := func(c *Config) { c.ConnIdleTimeout = NoLimitDuration }
		spokes := []*Transport{newNode(t, conns[1], off), newNode(t, conns[2], off), newNode(t, conns[3], off)}
		for _, s := range spokes {
			holdStreams(s)
			dial(t, hub, s)
		}
		protected, busy, onDemand := spokes[0].ID(), spokes[1].ID(), spokes[2].ID()
		hub.Protect(protected, "overlay")
		st, err := hub.OpenStream(context.Background(), busy, protocol.StreamRPC)
		require.NoError(t, err)

		info, _ := hub.Peer(busy)
		require.Equal(t, 1, info.Streams)
		time.Sleep(idle - time.Second)
		synctest.Wait()
		require.Len(t, hub.Peers(), 3, "nothing closed before the idle timeout")
		info, _ = hub.Peer(onDemand)
		require.Equal(t, idle-time.Second, info.Idle)
		require.Empty(t, info.Protected)

		time.Sleep(2 * time.Second)
		synctest.Wait()
		_, ok := hub.Peer(onDemand)
		require.False(t, ok, "the idle on-demand connection was closed")
		info, ok = hub.Peer(protected)
		require.True(t, ok, "the protected connection stays")
		require.Equal(t, []string{"overlay"}, info.Protected)
		_, ok = hub.Peer(busy)
		require.True(t, ok, "the connection with a stream in flight stays")

		// Once its stream ends, the busy connection idles out too; the
		// protected one stays until unprotected.
		require.NoError(t, st.Close())
		require.NoError(t, st.Close(), "a second Close counts nothing twice")
		time.Sleep(idle + 2*time.Second)
		synctest.Wait()
		_, ok = hub.Peer(busy)
		require.False(t, ok)
		_, ok = hub.Peer(protected)
		require.True(t, ok)
		hub.Unprotect(protected, "overlay")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		require.Empty(t, hub.Peers())

		// The peer is told, and a new dial makes a new connection.
		require.Empty(t, spokes[2].Peers())
		dial(t, hub, spokes[2])
		_, err = hub.Ping(context.Background(), onDemand)
		require.NoError(t, err)
	})
}

func TestWatermarksCloseLeastRecentlyUsedFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := network{t: t, sim: true}
		conns := nw.conns(7)
		hub := newNode(t, conns[0], func(c *Config) {
			c.ConnLowWater, c.ConnHighWater = 2, 4
			c.ConnIdleTimeout = NoLimitDuration
			c.ConnGracePeriod = time.Second
		})
		var spokes []*Transport
		for _, c := range conns[1:] {
			s := newNode(t, c, func(c *Config) { c.ConnIdleTimeout = NoLimitDuration })
			holdStreams(s)
			dial(t, hub, s)
			spokes = append(spokes, s)
			time.Sleep(10 * time.Millisecond) // a distinct last use each
		}
		// Use spokes 4 and 5 last, so 0-3 are the least recently used.
		for _, s := range spokes[4:] {
			st, err := hub.OpenStream(context.Background(), s.ID(), protocol.StreamRPC)
			require.NoError(t, err)
			require.NoError(t, st.Close())
		}
		time.Sleep(2500 * time.Millisecond) // past the grace period, at a manager tick
		synctest.Wait()
		peers := hub.Peers()
		require.Len(t, peers, 2, "trimmed from 6 (over the high mark 4) down to the low mark 2")
		kept := map[string]bool{}
		for _, p := range peers {
			kept[p.ID.String()] = true
		}
		require.True(t, kept[spokes[4].ID().String()] && kept[spokes[5].ID().String()], "the most recently used stay")

		// Below the high mark nothing more is closed, however idle.
		time.Sleep(time.Minute)
		synctest.Wait()
		require.Len(t, hub.Peers(), 2)
	})
}

func TestRetiredConnectionRefusesNewStreams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := network{t: t, sim: true}
		conns := nw.conns(2)
		a := newNode(t, conns[0], func(c *Config) { c.ConnIdleTimeout = NoLimitDuration; c.ConnHighWater = NoLimit })
		b := newNode(t, conns[1])
		holdStreams(b)
		p := dial(t, a, b)
		pc := a.peers.get(p.ID)
		require.True(t, pc.retire())
		_, err := a.OpenStream(context.Background(), p.ID, protocol.StreamRPC)
		require.True(t, errors.Is(err, ErrNotConnected), "got %v", err)
		require.False(t, pc.retire(), "retired once")
	})
}

func TestConnManagerConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"high below low", func(c *Config) { c.ConnLowWater, c.ConnHighWater = 10, 5 }},
		{"negative low", func(c *Config) { c.ConnLowWater = -2 }},
		{"negative idle", func(c *Config) { c.ConnIdleTimeout = -2 * time.Second }},
		{"negative grace", func(c *Config) { c.ConnGracePeriod = -time.Second }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{}
			tc.edit(&c)
			require.ErrorIs(t, c.connDefaults(), ErrInvalidConfig)
		})
	}
	c := Config{}
	require.NoError(t, c.connDefaults())
	require.Equal(t, DefaultConnLowWater, c.ConnLowWater)
	require.Equal(t, DefaultConnHighWater, c.ConnHighWater)
	require.Equal(t, DefaultConnIdleTimeout, c.ConnIdleTimeout)
	require.Equal(t, DefaultConnGracePeriod, c.ConnGracePeriod)
}

// TestConcurrentConnectsShareOneDial has 20 goroutines connect to one peer
// at once: they share one dial, so there is one connection and no
// duplicate to close under streams already opened on it.
func TestConcurrentConnectsShareOneDial(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := network{t: t, sim: true}
		conns := nw.conns(2)
		var connected, lost atomic.Int64
		a := newNode(t, conns[0], func(c *Config) {
			c.OnPeerChange = func(ev PeerEvent) {
				if ev.Connected {
					connected.Add(1)
				} else {
					lost.Add(1)
				}
			}
		})
		b := newNode(t, conns[1])
		holdStreams(b)
		errs := make(chan error, 20)
		for i := range 20 {
			go func() {
				time.Sleep(time.Duration(i) * time.Millisecond) // dials overlap, not in step
				_, err := a.Connect(context.Background(), b.ID(), []string{b.Addr().String()})
				if err == nil {
					var s *Stream
					s, err = a.OpenStream(context.Background(), b.ID(), protocol.StreamRPC)
					if err == nil {
						_, err = s.Write([]byte{1})
						time.Sleep(50 * time.Millisecond) // the stream lives on
						_ = s.Close()
					}
				}
				errs <- err
			}()
		}
		for range 20 {
			require.NoError(t, <-errs)
		}
		require.Len(t, a.Peers(), 1)
		require.EqualValues(t, 1, connected.Load(), "one dial, one connection")
		require.Zero(t, lost.Load(), "no connection was lost")
	})
}
