package membership

import (
	"net"
	"sync"

	"github.com/org/macula/transport"
)

// streamConn presents a QUIC stream as the net.Conn memberlist expects.
type streamConn struct {
	*transport.Stream
	closeOnce sync.Once
	closed    chan struct{}
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
		close(c.closed)
	})
	return err
}
