package membership

import (
	"net"
	"sync"

	"github.com/org/macula/protocol"
	"github.com/org/macula/transport"
)

// streamConn presents a QUIC stream as the net.Conn memberlist expects.
type streamConn struct {
	*transport.Stream
	closeOnce sync.Once
	closed    chan struct{}
	onClose   func() // if set, run once when closed
}

var _ net.Conn = (*streamConn)(nil)

func newStreamConn(s *transport.Stream) *streamConn {
	return &streamConn{Stream: s, closed: make(chan struct{})}
}

// Close ends the stream in both directions; it is idempotent.
func (c *streamConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		err = c.Stream.Close()
		c.done()
	})
	return err
}

// abort ends the stream at once in both directions (at Shutdown); it is
// idempotent, and a later Close does nothing.
func (c *streamConn) abort() {
	c.closeOnce.Do(func() {
		c.Stream.Abort(protocol.CodeShutdown)
		c.done()
	})
}

func (c *streamConn) done() {
	close(c.closed)
	if c.onClose != nil {
		c.onClose()
	}
}
