package protocol

import (
	"fmt"
	"strconv"
	"strings"
)

// Readable names for the [ErrorCode] values generated from macula.proto.
const (
	// CodeOK means no error; it is the code of a normal close.
	CodeOK = ErrorCode_OK
	// CodeProtocol means the peer broke the protocol (bad message order,
	// malformed frame).
	CodeProtocol = ErrorCode_PROTOCOL
	// CodeFrameTooLarge means a frame exceeded the receiver's maximum frame
	// size.
	CodeFrameTooLarge = ErrorCode_FRAME_TOO_LARGE
	// CodeVersionMismatch means the peer speaks another major protocol
	// version.
	CodeVersionMismatch = ErrorCode_VERSION_MISMATCH
	// CodeRealmMismatch means the peer belongs to another realm.
	CodeRealmMismatch = ErrorCode_REALM_MISMATCH
	// CodeIdentityMismatch means the peer's claimed node ID does not match
	// its certificate.
	CodeIdentityMismatch = ErrorCode_IDENTITY_MISMATCH
	// CodeDuplicateConnection means a second connection to the same peer
	// lost the tie-break and is being closed.
	CodeDuplicateConnection = ErrorCode_DUPLICATE_CONNECTION
	// CodeShutdown means the sender is shutting down.
	CodeShutdown = ErrorCode_SHUTDOWN
	// CodeUnknownStreamType means a stream began with a [StreamType] the
	// receiver does not know.
	CodeUnknownStreamType = ErrorCode_UNKNOWN_STREAM_TYPE
	// CodeInternal means an unexpected failure inside the sender.
	CodeInternal = ErrorCode_INTERNAL
	// CodeTimeout means a deadline passed.
	CodeTimeout = ErrorCode_TIMEOUT
	// CodeCancelled means the caller cancelled the request.
	CodeCancelled = ErrorCode_CANCELLED
	// CodeNotFound means the requested key, record or procedure does not
	// exist.
	CodeNotFound = ErrorCode_NOT_FOUND
	// CodeNoProvider means no node provides the requested procedure.
	CodeNoProvider = ErrorCode_NO_PROVIDER
	// CodeACLDenied means an access-control rule denied the action.
	CodeACLDenied = ErrorCode_ACL_DENIED
	// CodeInvalidTopic means a topic or topic pattern is not valid.
	CodeInvalidTopic = ErrorCode_INVALID_TOPIC
	// CodeInvalidArgument means a request field is not valid.
	CodeInvalidArgument = ErrorCode_INVALID_ARGUMENT
	// CodeRateLimited means the sender refused work because a rate limit
	// was hit.
	CodeRateLimited = ErrorCode_RATE_LIMITED
	// CodeUnknownMessage means an [Envelope] carried no body the receiver
	// knows.
	CodeUnknownMessage = ErrorCode_UNKNOWN_MESSAGE
	// CodeUntrustedCertificate means the peer's certificate is not trusted
	// by the realm.
	CodeUntrustedCertificate = ErrorCode_UNTRUSTED_CERTIFICATE
)

// CodeName returns the code's name as every error message shows it, e.g.
// "FRAME_TOO_LARGE" (the same as c.String()); a code unknown to this
// version (sent by a newer peer) reads "CODE_42" rather than a bare number.
func CodeName(c ErrorCode) string {
	if name, ok := ErrorCode_name[int32(c)]; ok {
		return name
	}
	return "CODE_" + strconv.FormatInt(int64(c), 10)
}

// CodeError is an error that carries an [ErrorCode], so its meaning
// survives a trip across the network: a node sends Code and Message in an
// [Error], [Close], [RpcError] or [StoreResponse], and the receiver rebuilds
// a CodeError with Remote set.
//
// Two CodeErrors match under [errors.Is] when their codes are equal,
// whatever their messages and origin:
//
//	errors.Is(err, &protocol.CodeError{Code: protocol.CodeTimeout})
type CodeError struct {
	// Code says what failed.
	Code ErrorCode
	// Message is human-readable detail; it may be empty.
	Message string
	// Remote is true when the error was reported by a peer rather than
	// raised locally.
	Remote bool
}

// NewCodeError returns a local (Remote false) CodeError whose message is
// formatted as by [fmt.Sprintf].
func NewCodeError(code ErrorCode, format string, args ...any) *CodeError {
	return &CodeError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Error returns, e.g., "macula: remote error FRAME_TOO_LARGE: frame of 5
// MiB" for a remote error and "macula: error TIMEOUT: ..." for a local one.
func (e *CodeError) Error() string {
	var b strings.Builder
	b.WriteString("macula: ")
	if e.Remote {
		b.WriteString("remote ")
	}
	b.WriteString("error ")
	b.WriteString(CodeName(e.Code))
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Is reports whether target is a *CodeError with the same Code. Message and
// Remote are ignored.
func (e *CodeError) Is(target error) bool {
	t, ok := target.(*CodeError)
	return ok && t != nil && t.Code == e.Code
}
