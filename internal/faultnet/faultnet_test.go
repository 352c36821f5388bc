package faultnet

import (
	"errors"
	"net"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quic-go/quic-go/testutils/simnet"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func simAddr(i int) *net.UDPAddr {
	return &net.UDPAddr{IP: net.IPv4(10, 9, 0, byte(i)), Port: 4433}
}

// read reads one packet within d, or reports the error.
func read(c *Conn, d time.Duration) (string, net.Addr, error) {
	buf := make([]byte, 2048)
	_ = c.SetReadDeadline(time.Now().Add(d))
	n, from, err := c.ReadFrom(buf)
	return string(buf[:n]), from, err
}

// isTimeout reports a read deadline's error: simnet's own, or a
// net.Error that says Timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, simnet.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// both runs f on simnet in a bubble and on real loopback sockets; mk
// returns endpoint i of the Net.
func both(t *testing.T, f func(t *testing.T, n *Net, mk func(i int) *Conn)) {
	t.Run("simnet", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := New(Config{Seed: 1, Latency: 20 * time.Millisecond})
			f(t, n, func(i int) *Conn {
				c := n.Sim(simAddr(i))
				t.Cleanup(func() { _ = c.Close() })
				return c
			})
		})
	})
	t.Run("udp", func(t *testing.T) {
		n := New(Config{Seed: 1, Latency: 20 * time.Millisecond})
		f(t, n, func(int) *Conn {
			c, err := n.Listen("127.0.0.1:0")
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Close() })
			return c
		})
	})
}

func TestLatencyIsTheReceivers(t *testing.T) {
	both(t, func(t *testing.T, n *Net, mk func(int) *Conn) {
		a, b := mk(1), mk(2)
		start := time.Now()
		_, err := a.WriteTo([]byte("hi"), b.LocalAddr())
		require.NoError(t, err)
		got, from, err := read(b, time.Second)
		require.NoError(t, err)
		require.Equal(t, "hi", got)
		require.Equal(t, Key(a.LocalAddr()), Key(from))
		took := time.Since(start)
		require.GreaterOrEqual(t, took, 20*time.Millisecond)
		require.Less(t, took, 500*time.Millisecond)

		n.SetLatencyTo(a.LocalAddr(), 100*time.Millisecond)
		start = time.Now()
		_, err = b.WriteTo([]byte("back"), a.LocalAddr())
		require.NoError(t, err)
		got, _, err = read(a, time.Second)
		require.NoError(t, err)
		require.Equal(t, "back", got)
		require.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)

		n.SetLatencyTo(a.LocalAddr(), -1) // back to the Net's latency
		start = time.Now()
		_, err = b.WriteTo([]byte("again"), a.LocalAddr())
		require.NoError(t, err)
		got, _, err = read(a, time.Second)
		require.NoError(t, err)
		require.Equal(t, "again", got)
		require.Less(t, time.Since(start), 100*time.Millisecond)
	})
}

func TestPartitionDeadAndHeal(t *testing.T) {
	both(t, func(t *testing.T, n *Net, mk func(int) *Conn) {
		a, b, c := mk(1), mk(2), mk(3)
		n.Partition([]net.Addr{a.LocalAddr()}, []net.Addr{b.LocalAddr()})
		_, err := a.WriteTo([]byte("cut"), b.LocalAddr())
		require.NoError(t, err, "a lost packet is no error")
		_, _, err = read(b, 200*time.Millisecond)
		require.True(t, isTimeout(err), "%v", err)
		// c is in no group, and b's group is not c's.
		_, err = b.WriteTo([]byte("cut"), c.LocalAddr())
		require.NoError(t, err)
		_, _, err = read(c, 200*time.Millisecond)
		require.True(t, isTimeout(err), "%v", err)

		n.Heal()
		_, err = a.WriteTo([]byte("healed"), b.LocalAddr())
		require.NoError(t, err)
		got, _, err := read(b, time.Second)
		require.NoError(t, err)
		require.Equal(t, "healed", got)

		n.SetDead(b.LocalAddr(), true)
		_, _ = a.WriteTo([]byte("to the dead"), b.LocalAddr())
		_, _ = b.WriteTo([]byte("from the dead"), a.LocalAddr())
		_, _, err = read(b, 200*time.Millisecond)
		require.True(t, isTimeout(err), "%v", err)
		_, _, err = read(a, 200*time.Millisecond)
		require.True(t, isTimeout(err), "%v", err)
		n.SetDead(b.LocalAddr(), false)
		_, _ = b.WriteTo([]byte("alive"), a.LocalAddr())
		got, _, err = read(a, time.Second)
		require.NoError(t, err)
		require.Equal(t, "alive", got)

		s := n.Stats()
		require.Equal(t, uint64(6), s.Sent)
		require.Equal(t, uint64(4), s.Blocked)
		require.Zero(t, s.Lost)
	})
}

func TestPauseHoldsWhatArrivesUntilResume(t *testing.T) {
	both(t, func(t *testing.T, n *Net, mk func(int) *Conn) {
		a, b := mk(1), mk(2)
		n.Pause(b.LocalAddr())
		for _, s := range []string{"1", "2", "3"} {
			_, err := a.WriteTo([]byte(s), b.LocalAddr())
			require.NoError(t, err)
		}
		_, err := b.WriteTo([]byte("from a stopped process"), a.LocalAddr())
		require.NoError(t, err)
		_, _, err = read(b, 300*time.Millisecond)
		require.True(t, isTimeout(err), "a paused node reads nothing: %v", err)
		_, _, err = read(a, 300*time.Millisecond)
		require.True(t, isTimeout(err), "and sends nothing: %v", err)

		n.Resume(b.LocalAddr())
		for _, want := range []string{"1", "2", "3"} {
			got, _, err := read(b, time.Second)
			require.NoError(t, err)
			require.Equal(t, want, got, "what arrived meanwhile is read after Resume, in order")
		}
		_, err = b.WriteTo([]byte("running"), a.LocalAddr())
		require.NoError(t, err)
		got, _, err := read(a, time.Second)
		require.NoError(t, err)
		require.Equal(t, "running", got)
	})
}

func TestPausedReadEndsAtClose(t *testing.T) {
	both(t, func(t *testing.T, n *Net, mk func(int) *Conn) {
		a := mk(1)
		n.Pause(a.LocalAddr())
		errs := make(chan error, 1)
		go func() {
			_, _, err := a.ReadFrom(make([]byte, 10))
			errs <- err
		}()
		time.Sleep(50 * time.Millisecond)
		require.NoError(t, a.Close())
		err := <-errs
		require.ErrorIs(t, err, net.ErrClosed)
		_, err = a.WriteTo([]byte("x"), simAddr(2))
		require.ErrorIs(t, err, net.ErrClosed)
	})
}

func TestPausedReadEndsAtTheReadDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(Config{})
		a := n.Sim(simAddr(1))
		defer a.Close()
		n.Pause(a.LocalAddr())
		errs := make(chan error, 1)
		go func() {
			_, _, err := a.ReadFrom(make([]byte, 10))
			errs <- err
		}()
		synctest.Wait()
		start := time.Now()
		// quic-go ends its read loop this way when it closes.
		require.NoError(t, a.SetReadDeadline(start.Add(time.Second)))
		err := <-errs
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		require.Equal(t, time.Second, time.Since(start))
	})
}

func TestLossIsSeeded(t *testing.T) {
	run := func(seed uint64) (Stats, []string) {
		var s Stats
		var got []string
		synctest.Test(t, func(t *testing.T) {
			n := New(Config{Seed: seed})
			a, b := n.Sim(simAddr(1)), n.Sim(simAddr(2))
			defer a.Close()
			defer b.Close()
			n.SetLoss(0.3)
			for i := range 200 {
				_, err := a.WriteTo([]byte{'a' + byte(i%26)}, b.LocalAddr())
				require.NoError(t, err)
			}
			n.SetLoss(0)
			_, _ = a.WriteTo([]byte("end"), b.LocalAddr())
			for {
				p, _, err := read(b, time.Second)
				require.NoError(t, err)
				if p == "end" {
					break
				}
				got = append(got, p)
			}
			s = n.Stats()
		})
		return s, got
	}
	s1, got1 := run(7)
	s2, got2 := run(7)
	s3, _ := run(8)
	require.Equal(t, s1, s2, "the same seed loses the same packets")
	require.Equal(t, got1, got2)
	require.Equal(t, uint64(201), s1.Sent)
	require.Equal(t, int(s1.Sent-s1.Lost), len(got1)+1)
	require.InDelta(t, 60, float64(s1.Lost), 25)
	require.NotEqual(t, s1.Lost, s3.Lost, "another seed, another sample (true for seeds 7 and 8)")
}

func TestAnAddressCanBeBoundAgain(t *testing.T) {
	t.Run("simnet", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := New(Config{})
			a, b := n.Sim(simAddr(1)), n.Sim(simAddr(2))
			defer a.Close()
			require.NoError(t, b.Close())
			_, _ = a.WriteTo([]byte("gone"), simAddr(2))
			require.Equal(t, uint64(1), n.Stats().Blocked, "no link, no delivery")
			b = n.Sim(simAddr(2))
			defer b.Close()
			_, _ = a.WriteTo([]byte("back"), simAddr(2))
			got, _, err := read(b, time.Second)
			require.NoError(t, err)
			require.Equal(t, "back", got)
		})
	})
	t.Run("udp", func(t *testing.T) {
		n := New(Config{})
		a, err := n.Listen("127.0.0.1:0")
		require.NoError(t, err)
		defer a.Close()
		b, err := n.Listen("127.0.0.1:0")
		require.NoError(t, err)
		addr := b.LocalAddr().String()
		require.NoError(t, b.Close())
		b, err = n.Listen(addr)
		require.NoError(t, err)
		defer b.Close()
		_, _ = a.WriteTo([]byte("back"), b.LocalAddr())
		got, _, err := read(b, time.Second)
		require.NoError(t, err)
		require.Equal(t, "back", got)
	})
}

func TestNonQUICPacketsAreCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(Config{})
		a, b := n.Sim(simAddr(1)), n.Sim(simAddr(2))
		defer a.Close()
		defer b.Close()
		_, _ = a.WriteTo([]byte{0x01, 'x'}, b.LocalAddr()) // SWIM's first byte
		_, _ = a.WriteTo([]byte{0xc0, 'x'}, b.LocalAddr()) // a QUIC long header
		require.Equal(t, uint64(1), n.Stats().NonQUIC)
	})
}

func TestMTU(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(Config{MTU: 100})
		a, b := n.Sim(simAddr(1)), n.Sim(simAddr(2))
		defer a.Close()
		defer b.Close()
		_, _ = a.WriteTo(make([]byte, 101), b.LocalAddr())
		_, _ = a.WriteTo(make([]byte, 100), b.LocalAddr())
		got, _, err := read(b, time.Second)
		require.NoError(t, err)
		require.Len(t, got, 100, "the larger packet vanished")
		require.Equal(t, uint64(1), n.Stats().Sent, "before it was counted")
	})
}
