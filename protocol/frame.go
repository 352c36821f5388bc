package protocol

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// DefaultMaxFrameSize is the default limit, in bytes, on the encoded
// Envelope of one frame (the length prefix is not counted): 4 MiB.
const DefaultMaxFrameSize = 4 << 20

const (
	// readBufferSize is the FrameReader's buffer. Frames that fit in it are
	// decoded in place; larger ones are read into a buffer of their own.
	readBufferSize = 4 << 10
	// maxPooledBuffer bounds the write buffers kept for reuse, so one huge
	// frame does not pin its memory.
	maxPooledBuffer = 64 << 10
)

// writeBuffers holds reusable WriteFrame buffers.
var writeBuffers = sync.Pool{New: func() any { return new([]byte) }}

// frameLimit returns maxSize, or DefaultMaxFrameSize if maxSize <= 0.
func frameLimit(maxSize int) int {
	if maxSize <= 0 {
		return DefaultMaxFrameSize
	}
	return maxSize
}

// WriteFrame writes env to w as one frame: the encoded Envelope's length
// as a protobuf varint, then the encoded Envelope. The frame is written
// with a single call to w.Write, so concurrent writers need only serialize
// their WriteFrame calls to keep frames whole.
//
// maxSize limits the encoded Envelope; 0 or less means
// [DefaultMaxFrameSize]. If env encodes to more than maxSize bytes,
// WriteFrame writes nothing and returns an error wrapping
// [ErrFrameTooLarge]. An env with no body set is refused with an error
// wrapping [ErrUnknownMessage], since the peer could not act on it. Errors
// from w are returned unchanged.
func WriteFrame(w io.Writer, env *Envelope, maxSize int) error {
	bp := writeBuffers.Get().(*[]byte)
	b, err := AppendFrame((*bp)[:0], env, maxSize)
	if err == nil {
		_, err = w.Write(b)
	}
	if cap(b) <= maxPooledBuffer {
		*bp = b
		writeBuffers.Put(bp)
	}
	return err
}

// AppendFrame appends env to b as one frame, encoded as by [WriteFrame],
// and returns the extended slice. Appending several frames to one buffer
// and writing it once batches them. On error b is returned unchanged.
func AppendFrame(b []byte, env *Envelope, maxSize int) ([]byte, error) {
	maxSize = frameLimit(maxSize)
	if env.GetBody() == nil {
		return b, fmt.Errorf("%w: envelope has no body", ErrUnknownMessage)
	}
	n := proto.Size(env)
	if n > maxSize {
		return b, fmt.Errorf("%w: envelope of %d bytes, limit %d", ErrFrameTooLarge, n, maxSize)
	}
	start := len(b)
	out := protowire.AppendVarint(b, uint64(n))
	out, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(out, env)
	if err != nil {
		return b[:start], fmt.Errorf("macula: encode envelope: %w", err)
	}
	if got := len(out) - start - protowire.SizeVarint(uint64(n)); got != n {
		// Only possible if env was modified while being encoded.
		return b[:start], fmt.Errorf("macula: encode envelope: size changed from %d to %d bytes", n, got)
	}
	return out, nil
}

// FrameReader reads frames written by [WriteFrame] or [AppendFrame]. It
// buffers its reader, so it may read past the last frame it returns. A
// FrameReader is not safe for concurrent use.
type FrameReader struct {
	br      *bufio.Reader
	opts    protodelim.UnmarshalOptions
	maxSize int
	pending int   // bytes of the last raw frame, still in br, to discard
	err     error // sticky: once set, every ReadFrame returns it
}

// NewFrameReader returns a FrameReader reading frames from r whose encoded
// Envelope is at most maxSize bytes; 0 or less means
// [DefaultMaxFrameSize].
func NewFrameReader(r io.Reader, maxSize int) *FrameReader {
	return &FrameReader{
		br:      bufio.NewReaderSize(r, readBufferSize),
		maxSize: frameLimit(maxSize),
		opts: protodelim.UnmarshalOptions{
			// ReadFrame resets env itself, so that env is empty on error.
			UnmarshalOptions: proto.UnmarshalOptions{Merge: true},
			MaxSize:          int64(frameLimit(maxSize)),
		},
	}
}

// ReadFrame reads the next frame into env, which it resets first; reusing
// one env across calls saves allocating it for every frame.
//
// It returns:
//   - nil when env holds a message;
//   - [io.EOF] when the stream ended cleanly between frames;
//   - [io.ErrUnexpectedEOF] when the stream ended inside a frame;
//   - an error wrapping [ErrFrameTooLarge] when the length prefix exceeds
//     the limit; the body is neither read nor allocated;
//   - an error wrapping [ErrMalformedFrame] when the length prefix is not a
//     valid varint or the body is not a valid Envelope;
//   - an error wrapping [ErrUnknownMessage] when the frame is a valid
//     Envelope without a body this version knows (a message type from a
//     newer peer); env then holds the frame's unknown fields;
//   - any other error from the underlying reader, unchanged.
//
// [ErrUnknownMessage] consumes the frame and reading may go on. After any
// other error the stream can no longer be framed: env is left empty and
// every later call returns the same error.
func (fr *FrameReader) ReadFrame(env *Envelope) error {
	proto.Reset(env)
	fr.discardPending()
	if fr.err != nil {
		return fr.err
	}
	if err := fr.opts.UnmarshalFrom(fr.br, env); err != nil {
		proto.Reset(env)
		fr.err = fr.classify(err)
		return fr.err
	}
	if env.GetBody() == nil {
		return unknownMessage(env)
	}
	return nil
}

// ReadRawFrame reads the next frame without decoding it and returns the
// encoded Envelope. The bytes stay valid until the next call to ReadFrame
// or ReadRawFrame; a frame that fits the read buffer is not copied. It
// returns the errors of ReadFrame that need no decoding: [io.EOF],
// [io.ErrUnexpectedEOF], [ErrFrameTooLarge], [ErrMalformedFrame] for a
// bad length prefix, and the underlying reader's errors; after one, every
// later call returns it. Decoding, and so ErrMalformedFrame for a bad body
// and [ErrUnknownMessage], is the caller's: see [EventDecoder].
func (fr *FrameReader) ReadRawFrame() ([]byte, error) {
	fr.discardPending()
	if fr.err != nil {
		return nil, fr.err
	}
	size, err := fr.readLength()
	if err != nil {
		fr.err = err
		return nil, err
	}
	if size <= uint64(fr.br.Size()) {
		b, err := fr.br.Peek(int(size))
		if err != nil {
			fr.err = eofInFrame(err)
			return nil, fr.err
		}
		fr.pending = int(size)
		return b, nil
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(fr.br, b); err != nil {
		fr.err = eofInFrame(err)
		return nil, fr.err
	}
	return b, nil
}

// readLength reads a frame's length prefix and checks it against the
// limit.
func (fr *FrameReader) readLength() (uint64, error) {
	var size uint64
	for i := range binary.MaxVarintLen64 {
		c, err := fr.br.ReadByte()
		if err != nil {
			if i == 0 {
				return 0, err // io.EOF between frames is a clean end
			}
			return 0, eofInFrame(err)
		}
		if i == binary.MaxVarintLen64-1 && c > 1 {
			break
		}
		size |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if size > uint64(fr.maxSize) {
				return 0, fmt.Errorf("%w: length prefix %d, limit %d", ErrFrameTooLarge, size, fr.maxSize)
			}
			return size, nil
		}
	}
	return 0, fmt.Errorf("%w: length prefix overflows 64 bits", ErrMalformedFrame)
}

// discardPending drops the last raw frame from the read buffer.
func (fr *FrameReader) discardPending() {
	if fr.pending > 0 {
		_, _ = fr.br.Discard(fr.pending)
		fr.pending = 0
	}
}

// eofInFrame turns an io.EOF inside a frame into io.ErrUnexpectedEOF.
func eofInFrame(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// classify maps an error from protodelim to this package's errors.
func (fr *FrameReader) classify(err error) error {
	if tooLarge, ok := errors.AsType[*protodelim.SizeTooLargeError](err); ok {
		return fmt.Errorf("%w: length prefix %d, limit %d", ErrFrameTooLarge, tooLarge.Size, tooLarge.MaxSize)
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	if errors.Is(err, proto.Error) {
		// A bad varint or an undecodable body; errors from the underlying
		// reader never match proto.Error.
		return fmt.Errorf("%w: %w", ErrMalformedFrame, err)
	}
	return err
}

// unknownMessage returns an ErrUnknownMessage naming the first unknown
// Envelope field, if any.
func unknownMessage(env *Envelope) error {
	if num, _, n := protowire.ConsumeTag(env.ProtoReflect().GetUnknown()); n > 0 {
		return fmt.Errorf("%w: envelope field %d", ErrUnknownMessage, num)
	}
	return fmt.Errorf("%w: envelope has no body", ErrUnknownMessage)
}
