package macula_test

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/org/macula"
)

// cuttableConn is a UDP socket that can be made to crash: once cut, it
// drops everything sent and received, as a crashed host would. It exposes
// only net.PacketConn, so quic-go uses no other path around it.
type cuttableConn struct {
	conn *net.UDPConn
	cut  atomic.Bool
}

func (c *cuttableConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.conn.ReadFrom(p)
		if err != nil || !c.cut.Load() {
			return n, addr, err
		}
	}
}

func (c *cuttableConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if c.cut.Load() {
		return len(p), nil
	}
	return c.conn.WriteTo(p, addr)
}

func (c *cuttableConn) Close() error                       { return c.conn.Close() }
func (c *cuttableConn) LocalAddr() net.Addr                { return c.conn.LocalAddr() }
func (c *cuttableConn) SetDeadline(t time.Time) error      { return c.conn.SetDeadline(t) }
func (c *cuttableConn) SetReadDeadline(t time.Time) error  { return c.conn.SetReadDeadline(t) }
func (c *cuttableConn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }

// closePair starts two nodes on loopback, b joined to a, and waits until
// both see both; b runs on a cuttable socket.
func closePair(tb testing.TB) (a, b *macula.Node, bconn *cuttableConn) {
	tb.Helper()
	a, err := macula.New(macula.WithListenAddr("127.0.0.1:0"))
	if err != nil {
		tb.Fatal(err)
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	bconn = &cuttableConn{conn: udp}
	b, err = macula.New(macula.WithTransport(bconn), macula.WithBootstrap(a.Addr().String()))
	if err != nil {
		tb.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(a.Members()) != 2 || len(b.Members()) != 2 {
		if time.Now().After(deadline) {
			tb.Fatal("the two nodes did not see each other")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return a, b, bconn
}

// BenchmarkCloseTwoNodeMesh: Close of one node of a 2-node mesh on real
// loopback UDP, the other alive (ms/close is the mean).
func BenchmarkCloseTwoNodeMesh(b *testing.B) {
	var total time.Duration
	for range b.N {
		b.StopTimer()
		a, peer, _ := closePair(b)
		time.Sleep(1500 * time.Millisecond) // probes run both ways
		b.StartTimer()
		start := time.Now()
		if err := peer.Close(); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		_ = a.Close()
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/close")
}

// BenchmarkCloseAfterPeerCrash: Close of a node whose only peer crashed
// (its socket went silent) 3 s earlier, long enough for the node to be
// probing it and to suspect it.
func BenchmarkCloseAfterPeerCrash(b *testing.B) {
	var total time.Duration
	for range b.N {
		b.StopTimer()
		a, peer, conn := closePair(b)
		conn.cut.Store(true)
		time.Sleep(3 * time.Second)
		b.StartTimer()
		start := time.Now()
		if err := a.Close(); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		_ = peer.Close()
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/close")
}
