package transport

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
)

// Stream is a bidirectional QUIC stream carrying length-delimited Envelope
// frames, after its stream-type byte. It is not safe for concurrent writes
// or concurrent reads; one reader and one writer may run at once.
type Stream struct {
	pc       *peerConn
	raw      *quic.Stream
	reader   *protocol.FrameReader
	maxFrame int
	peer     security.NodeID
	typ      protocol.StreamType
	local    net.Addr
	remote   net.Addr
	// finished is set on streams this node opened: the first Close or
	// Abort ends the stream's count on its connection.
	finished *atomic.Bool
}

// finish ends the count of a stream this node opened.
func (s *Stream) finish() {
	if s.finished != nil && s.finished.CompareAndSwap(false, true) {
		s.pc.release()
	}
}

func newStream(pc *peerConn, raw *quic.Stream, typ protocol.StreamType) *Stream {
	return &Stream{
		pc: pc, raw: raw, reader: protocol.NewFrameReader(raw, pc.t.cfg.MaxFrameSize), maxFrame: pc.t.cfg.MaxFrameSize,
		peer: pc.id, typ: typ, local: pc.conn.LocalAddr(), remote: pc.conn.RemoteAddr(),
	}
}

// Peer is the node at the other end of the stream.
func (s *Stream) Peer() security.NodeID { return s.peer }

// Type is the stream's type.
func (s *Stream) Type() protocol.StreamType { return s.typ }

// ReadFrame reads the next frame into env. A frame that is malformed, too
// large or of an unknown message type aborts the whole stream with the
// matching protocol error code, and the error is returned (errors.Is-able
// against protocol.ErrMalformedFrame, ErrFrameTooLarge, ErrUnknownMessage).
// A frame over the peer's frame rate ([Config.FrameRate]) is dropped and
// aborts the stream with protocol.CodeRateLimited; the error wraps
// ErrRateLimited, as does the error of a stream the peer refused or aborted
// for one of its limits. io.EOF means the peer closed its side cleanly
// between frames.
func (s *Stream) ReadFrame(env *protocol.Envelope) error {
	if err := s.reader.ReadFrame(env); err != nil {
		return s.readErr(err)
	}
	return s.admitFrame()
}

// readErr handles a failed frame read: a framing error is the peer's
// violation, which aborts the stream and is reported.
func (s *Stream) readErr(err error) error {
	if isFrameError(err) {
		s.Violation(err)
	}
	return streamErr(err)
}

// admitFrame takes a frame from the peer's frame-rate bucket, or refuses
// it: the stream is aborted with CodeRateLimited.
func (s *Stream) admitFrame() error {
	if !s.pc.allowFrame() {
		s.Abort(protocol.CodeRateLimited)
		s.pc.limitExceeded(LimitFrameRate)
		return fmt.Errorf("%w: %s sends frames faster than %g/s (burst %d)",
			ErrRateLimited, s.peer.Short(), s.pc.t.cfg.FrameRate, s.pc.t.cfg.FrameBurst)
	}
	return nil
}

// ReadRawFrame is ReadFrame without the decoding: it returns the frame's
// encoded Envelope, valid until the next read on the stream, for a reader
// that decodes its busiest messages itself (see protocol.EventDecoder).
// Framing errors (too large, bad length prefix) abort the stream and are
// reported as in ReadFrame, and the frame counts against the peer's frame
// rate. A body the caller cannot decode, or of a type it does not expect,
// is the caller's to refuse with Violation.
func (s *Stream) ReadRawFrame() ([]byte, error) {
	b, err := s.reader.ReadRawFrame()
	if err != nil {
		return nil, s.readErr(err)
	}
	if err := s.admitFrame(); err != nil {
		return nil, err
	}
	return b, nil
}

// Violation aborts the stream for a frame that breaks the protocol, with
// the code of err (errors.Is-able against protocol.ErrMalformedFrame,
// ErrUnknownMessage, ...), and reports the peer as ReadFrame does for the
// frames it decodes (Config.OnViolation). For callers of ReadRawFrame.
func (s *Stream) Violation(err error) {
	s.Abort(protocol.CodeOf(err))
	s.pc.violation(err)
}

// WriteFrame writes one frame. A frame over the maximum frame size returns an
// error wrapping protocol.ErrFrameTooLarge and writes nothing.
func (s *Stream) WriteFrame(env *protocol.Envelope) error {
	return streamErr(protocol.WriteFrame(s.raw, env, s.maxFrame))
}

// Write writes raw bytes. It is meant for tests and for protocols that frame
// their own data.
func (s *Stream) Write(p []byte) (int, error) {
	n, err := s.raw.Write(p)
	return n, streamErr(err)
}

// Read reads raw bytes that were not consumed by ReadFrame's buffering. Use
// either Read or ReadFrame on one stream, not both. Read is not counted
// against the peer's frame rate.
func (s *Stream) Read(p []byte) (int, error) {
	n, err := s.raw.Read(p)
	return n, streamErr(err)
}

// CloseWrite closes the sending side cleanly: the peer reads io.EOF after the
// last frame. The receiving side stays open.
func (s *Stream) CloseWrite() error { return s.raw.Close() }

// Abort ends both directions at once with code, discarding unsent data.
func (s *Stream) Abort(code protocol.ErrorCode) {
	s.raw.CancelRead(quic.StreamErrorCode(code))
	s.raw.CancelWrite(quic.StreamErrorCode(code))
	s.finish()
}

// Close ends the stream in both directions: it stops receiving and closes
// the sending side cleanly after any data already written.
func (s *Stream) Close() error {
	s.raw.CancelRead(quic.StreamErrorCode(protocol.CodeOK))
	err := s.raw.Close()
	s.finish()
	return err
}

// SetDeadline sets the read and write deadline; zero clears it.
func (s *Stream) SetDeadline(t time.Time) error { return s.raw.SetDeadline(t) }

// SetReadDeadline sets the read deadline; zero clears it.
func (s *Stream) SetReadDeadline(t time.Time) error { return s.raw.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline; zero clears it.
func (s *Stream) SetWriteDeadline(t time.Time) error { return s.raw.SetWriteDeadline(t) }

// LocalAddr is the local address of the stream's connection.
func (s *Stream) LocalAddr() net.Addr { return s.local }

// RemoteAddr is the peer's address on the stream's connection.
func (s *Stream) RemoteAddr() net.Addr { return s.remote }

// isFrameError reports whether err is the peer's fault at the framing level.
func isFrameError(err error) bool {
	return errors.Is(err, protocol.ErrMalformedFrame) ||
		errors.Is(err, protocol.ErrFrameTooLarge) ||
		errors.Is(err, protocol.ErrUnknownMessage)
}

// StreamCode returns the protocol code a QUIC stream or connection error
// carries, and whether err carried one.
func StreamCode(err error) (protocol.ErrorCode, bool) {
	var se *quic.StreamError
	if errors.As(err, &se) {
		return protocol.ErrorCode(se.ErrorCode), true
	}
	var ae *quic.ApplicationError
	if errors.As(err, &ae) {
		return protocol.ErrorCode(ae.ErrorCode), true
	}
	return 0, false
}

// ClosedByPeer returns the code a peer closed the connection with, and
// whether err is such a close (as opposed to a local close or a timeout).
func ClosedByPeer(err error) (protocol.ErrorCode, bool) {
	var ae *quic.ApplicationError
	if errors.As(err, &ae) && ae.Remote {
		return protocol.ErrorCode(ae.ErrorCode), true
	}
	return 0, false
}
