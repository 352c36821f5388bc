package pubsub

import (
	"errors"
	"fmt"
	"strings"

	"github.com/org/macula/internal/codec"
	"github.com/org/macula/internal/sentinel"
	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
	"github.com/org/macula/topic"
	"github.com/org/macula/transport"
)

var (
	// ErrClosed is returned by operations on a closed Service. It is
	// transport.ErrClosed, so it also matches net.ErrClosed.
	ErrClosed = transport.ErrClosed
	// ErrInvalidTopic is returned for an invalid topic or pattern, or a
	// reserved one where it is not allowed; it is topic.ErrInvalidTopic.
	ErrInvalidTopic = topic.ErrInvalidTopic
	// ErrEncode is wrapped by the error for a payload that cannot be
	// encoded (for example a channel or a function given to JSON). It is
	// shared by rpc and pubsub, which follow the same payload rule.
	ErrEncode = codec.ErrEncode
	// ErrDecode is wrapped by the errors of the Decode methods: the bytes
	// do not fit the target, or the target cannot take them. It is shared
	// by rpc and pubsub.
	ErrDecode = codec.ErrDecode
	// ErrMessageTooLarge is returned by Publish for a payload over the
	// maximum, before anything is sent.
	// It is protocol.ErrFrameTooLarge, as for frames.
	ErrMessageTooLarge = protocol.ErrFrameTooLarge
	// ErrNotAcknowledged is wrapped by the *PublishError of an
	// at-least-once Publish that some subscriber nodes did not
	// acknowledge.
	ErrNotAcknowledged = errors.New("macula: event not acknowledged")
	// ErrInvalidHandler is returned by Subscribe for a nil handler. It
	// matches macula.ErrInvalidHandler, as rpc's nil-handler error does.
	ErrInvalidHandler = sentinel.Narrow(sentinel.ErrInvalidHandler, "macula: nil pubsub handler")
	// ErrNilHandler is the old name of ErrInvalidHandler.
	//
	// Deprecated: use ErrInvalidHandler.
	ErrNilHandler = ErrInvalidHandler
	// ErrInvalidOption wraps every invalid [PublishOption] or
	// [SubscribeOption], with the option's name and the cause. It matches
	// macula.ErrInvalidOption, as every option error does.
	ErrInvalidOption = sentinel.Narrow(sentinel.ErrInvalidOption, "macula: invalid pubsub option")
	// ErrBadSignature is reported (Config.OnRefused) for an event whose
	// signature does not verify; it is protocol.ErrBadSignature.
	ErrBadSignature = protocol.ErrBadSignature
	// ErrUnsigned is reported for an unsigned event refused because
	// Config.RequireSignatures is set; it is protocol.ErrUnsigned.
	ErrUnsigned = protocol.ErrUnsigned
	// ErrForgedPublisher is reported for an unsigned event that names a
	// publisher other than the node that sent it.
	ErrForgedPublisher = errors.New("macula: event names another publisher without its signature")
	// ErrInvalidConfig is wrapped by New's errors.
	// It matches macula.ErrInvalidConfig, as every package's config
	// error does.
	ErrInvalidConfig = sentinel.Narrow(sentinel.ErrInvalidConfig, "macula: invalid pubsub config")
)

// PublishError reports the subscriber nodes that did not acknowledge an
// at-least-once event before Publish's context ended. It matches
// ErrNotAcknowledged and the context's error with errors.Is.
type PublishError struct {
	// Topic is the event's topic.
	Topic string
	// Seq is the event's sequence number.
	Seq uint64
	// Missing lists the nodes that did not acknowledge, sorted.
	Missing []security.NodeID
	// Err is why Publish stopped waiting (the context's error).
	Err error
}

// Error names the nodes that did not acknowledge.
func (e *PublishError) Error() string {
	names := make([]string, len(e.Missing))
	for i, id := range e.Missing {
		names[i] = id.Short()
	}
	return fmt.Sprintf("macula: event %d on %s not acknowledged by %d node(s) [%s]: %v",
		e.Seq, e.Topic, len(e.Missing), strings.Join(names, " "), e.Err)
}

// Unwrap returns ErrNotAcknowledged and the context's error.
func (e *PublishError) Unwrap() []error { return []error{ErrNotAcknowledged, e.Err} }
