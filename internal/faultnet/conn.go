package faultnet

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/quic-go/quic-go/testutils/simnet"
)

// Conn is one node's socket on a [Net]: a net.PacketConn that applies the
// Net's faults to what it sends and stops reading while its node is
// paused. It exposes only net.PacketConn (and the buffer-size setters), so
// quic-go sends every packet through it. Close releases the socket and
// stops every goroutine of the Conn.
type Conn struct {
	n    *Net
	pc   net.PacketConn
	self netip.AddrPort
	link *simnet.SimulatedLink // simnet endpoints only
	line *delayLine            // real sockets only

	closed    chan struct{}
	closeOnce sync.Once
	closeErr  error

	mu       sync.Mutex
	deadline time.Time
	reset    chan struct{} // closed when the read deadline changes
	held     []heldPacket  // read while paused, returned after Resume
}

// heldPacket is a packet read from the socket while the node was paused.
type heldPacket struct {
	data []byte
	from net.Addr
}

func newConn(n *Net, pc net.PacketConn, self netip.AddrPort, link *simnet.SimulatedLink, real bool) *Conn {
	c := &Conn{n: n, pc: pc, self: self, link: link, closed: make(chan struct{}), reset: make(chan struct{})}
	if real {
		c.line = newDelayLine(pc)
	}
	return c
}

// ReadFrom reads the next packet. While the node is paused it blocks
// (until Resume, the read deadline or Close) and leaves what arrives in
// the socket.
func (c *Conn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		if err := c.waitResumed(); err != nil {
			return 0, nil, err
		}
		if n, from, ok := c.takeHeld(p); ok {
			return n, from, nil
		}
		n, from, err := c.pc.ReadFrom(p)
		if err != nil || c.n.resumed(c.self) == nil {
			return n, from, err
		}
		// Paused while this read waited: the packet waits for Resume too.
		c.mu.Lock()
		c.held = append(c.held, heldPacket{data: append([]byte(nil), p[:n]...), from: from})
		c.mu.Unlock()
	}
}

// waitResumed returns at once unless the node is paused, then when it is
// resumed, or with an error when the read deadline passes or the Conn is
// closed.
func (c *Conn) waitResumed() error {
	for {
		resumed := c.n.resumed(c.self)
		if resumed == nil {
			return nil
		}
		c.mu.Lock()
		deadline, reset := c.deadline, c.reset
		c.mu.Unlock()
		var expired <-chan time.Time
		var timer *time.Timer
		if !deadline.IsZero() {
			wait := time.Until(deadline)
			if wait <= 0 {
				return c.opError("read", os.ErrDeadlineExceeded)
			}
			timer = time.NewTimer(wait)
			expired = timer.C
		}
		var err error
		select {
		case <-resumed:
		case <-reset:
		case <-expired:
			err = c.opError("read", os.ErrDeadlineExceeded)
		case <-c.closed:
			err = c.opError("read", net.ErrClosed)
		}
		if timer != nil {
			timer.Stop()
		}
		if err != nil {
			return err
		}
	}
}

// takeHeld copies the oldest held packet into p.
func (c *Conn) takeHeld(p []byte) (int, net.Addr, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.held) == 0 {
		return 0, nil, false
	}
	h := c.held[0]
	c.held = c.held[1:]
	return copy(p, h.data), h.from, true
}

// WriteTo sends p to addr if the Net lets it pass, after the receiver's
// latency on a real socket. Like UDP it reports success for a packet
// that is then lost; it fails only once the Conn is closed.
func (c *Conn) WriteTo(p []byte, addr net.Addr) (int, error) {
	select {
	case <-c.closed:
		return 0, c.opError("write", net.ErrClosed)
	default:
	}
	if c.link != nil && len(p) > c.link.UplinkSettings.MTU {
		// simnet drops it at the link; it is not counted, as it never
		// reaches the network.
		return len(p), nil
	}
	delay, pass := c.n.admit(c.self, Key(addr), p, c.link != nil)
	if !pass {
		return len(p), nil
	}
	if c.line == nil || delay <= 0 {
		return c.pc.WriteTo(p, addr)
	}
	if !c.line.push(p, addr, delay) {
		c.n.lost()
	}
	return len(p), nil
}

// Close closes the socket and stops the Conn's goroutines (a real
// socket's delay line, a simnet endpoint's link); packets still held for
// their latency are dropped. It is idempotent.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		// The socket first: a simnet link's delivery may be blocked on it.
		c.closeErr = c.pc.Close()
		if c.line != nil {
			c.line.close()
		}
		if c.link != nil {
			c.n.dropLink(c.self, c.link)
			_ = c.link.Close()
		}
	})
	return c.closeErr
}

// LocalAddr returns the socket's address.
func (c *Conn) LocalAddr() net.Addr { return c.pc.LocalAddr() }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.setReadDeadline(t)
	return c.pc.SetDeadline(t)
}

// SetReadDeadline sets the read deadline; it also ends a wait for Resume.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.setReadDeadline(t)
	return c.pc.SetReadDeadline(t)
}

// SetWriteDeadline sets the write deadline of the socket.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.pc.SetWriteDeadline(t) }

// SetReadBuffer sets the socket's receive buffer, where the socket has
// one (quic-go asks for a large one).
func (c *Conn) SetReadBuffer(bytes int) error {
	if s, ok := c.pc.(interface{ SetReadBuffer(int) error }); ok {
		return s.SetReadBuffer(bytes)
	}
	return nil
}

// SetWriteBuffer sets the socket's send buffer, where the socket has one.
func (c *Conn) SetWriteBuffer(bytes int) error {
	if s, ok := c.pc.(interface{ SetWriteBuffer(int) error }); ok {
		return s.SetWriteBuffer(bytes)
	}
	return nil
}

func (c *Conn) setReadDeadline(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	close(c.reset)
	c.reset = make(chan struct{})
}

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "udp", Addr: c.pc.LocalAddr(), Err: err}
}

// delayLine holds a real socket's packets back for their latency, in the
// order they were sent, on one goroutine.
type delayLine struct {
	pc    net.PacketConn
	queue chan delayed
	stop  chan struct{}
	done  chan struct{}
}

// delayed is a packet waiting for its time.
type delayed struct {
	at   time.Time
	data []byte
	to   net.Addr
}

// delayLineSize bounds the packets in flight on one link, as a router's
// buffer would.
const delayLineSize = 4096

func newDelayLine(pc net.PacketConn) *delayLine {
	l := &delayLine{pc: pc, queue: make(chan delayed, delayLineSize), stop: make(chan struct{}), done: make(chan struct{})}
	go l.run()
	return l
}

// push queues a copy of p for sending after delay; false if the line is
// full.
func (l *delayLine) push(p []byte, to net.Addr, delay time.Duration) bool {
	select {
	case l.queue <- delayed{at: time.Now().Add(delay), data: append([]byte(nil), p...), to: to}:
		return true
	default:
		return false
	}
}

func (l *delayLine) run() {
	defer close(l.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-l.stop:
			return
		case d := <-l.queue:
			if wait := time.Until(d.at); wait > 0 {
				timer.Reset(wait)
				select {
				case <-l.stop:
					timer.Stop()
					return
				case <-timer.C:
				}
			}
			_, _ = l.pc.WriteTo(d.data, d.to)
		}
	}
}

// close stops the line's goroutine and waits for it.
func (l *delayLine) close() {
	close(l.stop)
	<-l.done
}
