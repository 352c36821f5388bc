package transport

import (
	"errors"
	"fmt"
	"net"

	"go.uber.org/zap"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
)

// ViolationEvent reports a peer that broke the protocol on one of its
// streams; see [Config.OnViolation].
type ViolationEvent struct {
	// Peer is the node that broke the protocol.
	Peer security.NodeID
	// RemoteAddr is the address of its connection.
	RemoteAddr net.Addr
	// Err says what it did; it matches protocol.ErrMalformedFrame,
	// protocol.ErrFrameTooLarge, protocol.ErrUnknownMessage or
	// ErrUnknownStreamType with errors.Is.
	Err error
	// Count is how many violations of this kind on this peer's
	// connection went unreported since the previous event of the kind,
	// this one included.
	Count uint64
}

// Kinds of violation, each throttled on its own.
const (
	violationMalformed = iota
	violationTooLarge
	violationUnknownMessage
	violationUnknownStreamType
	numViolations
)

// violationKind sorts err into one of the kinds above.
func violationKind(err error) int {
	switch {
	case errors.Is(err, protocol.ErrFrameTooLarge):
		return violationTooLarge
	case errors.Is(err, protocol.ErrUnknownMessage):
		return violationUnknownMessage
	case errors.Is(err, ErrUnknownStreamType):
		return violationUnknownStreamType
	}
	return violationMalformed
}

// violation reports one protocol violation by the peer: the stream has
// been aborted already. Reports are throttled like the limits' (at most
// one per limitReportInterval per connection and kind of violation), so
// that a peer sending garbage in a loop cannot flood the log.
func (pc *peerConn) violation(err error) {
	n := pc.limits.violations[violationKind(err)].note(pc.limits.now())
	if n == 0 {
		return
	}
	remote := pc.conn.RemoteAddr()
	pc.t.log.Warn("peer broke the protocol, its stream was aborted", zap.Stringer("peer", pc.id),
		zap.Stringer("addr", addrStringer{remote}), zap.Uint64("count", n), zap.Error(err))
	if pc.t.cfg.OnViolation != nil {
		pc.t.cfg.OnViolation(ViolationEvent{Peer: pc.id, RemoteAddr: remote, Err: err, Count: n})
	}
}

// unknownStreamType is the violation of a stream that began with typ.
func unknownStreamType(typ byte) error {
	return fmt.Errorf("%w: %d", ErrUnknownStreamType, typ)
}
