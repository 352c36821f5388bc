package protocol

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCodeConstantsCoverEnum(t *testing.T) {
	named := []ErrorCode{
		CodeOK, CodeProtocol, CodeFrameTooLarge, CodeVersionMismatch, CodeRealmMismatch,
		CodeIdentityMismatch, CodeDuplicateConnection, CodeShutdown, CodeUnknownStreamType,
		CodeInternal, CodeTimeout, CodeCancelled, CodeNotFound, CodeNoProvider, CodeACLDenied,
		CodeInvalidTopic, CodeInvalidArgument, CodeRateLimited, CodeUnknownMessage,
		CodeUntrustedCertificate,
	}
	require.Len(t, named, len(ErrorCode_name), "every enum value needs a Code constant")
	for i, c := range named {
		require.Equal(t, ErrorCode(i), c, "constants are listed in enum order")
	}
}

// TestCodeNamesAreShort: logs and error messages show ACL_DENIED, not
// ERROR_CODE_ACL_DENIED, whether they print the code itself or an error
// carrying it; a code from a newer peer reads CODE_n.
func TestCodeNamesAreShort(t *testing.T) {
	require.Equal(t, "ACL_DENIED", CodeACLDenied.String())
	require.Equal(t, "ACL_DENIED", fmt.Sprint(CodeACLDenied))
	for n := range ErrorCode_name {
		c := ErrorCode(n)
		require.NotContains(t, c.String(), "ERROR_CODE", "code %d", n)
		require.Equal(t, c.String(), CodeName(c))
		require.Contains(t, (&CodeError{Code: c}).Error(), c.String())
	}
	require.Equal(t, "CODE_42", CodeName(ErrorCode(42)))
}

func TestCodeErrorError(t *testing.T) {
	tests := []struct {
		name string
		err  *CodeError
		want string
	}{
		{"remote", &CodeError{Code: CodeFrameTooLarge, Message: "5 MiB", Remote: true}, "macula: remote error FRAME_TOO_LARGE: 5 MiB"},
		{"local", &CodeError{Code: CodeTimeout, Message: "call rpc.echo"}, "macula: error TIMEOUT: call rpc.echo"},
		{"no message", &CodeError{Code: CodeACLDenied, Remote: true}, "macula: remote error ACL_DENIED"},
		{"ok", &CodeError{Code: CodeOK}, "macula: error OK"},
		{"unknown code from newer peer", &CodeError{Code: 42, Message: "x", Remote: true}, "macula: remote error CODE_42: x"},
		{"new", NewCodeError(CodeNotFound, "key %x", []byte{0xab}), "macula: error NOT_FOUND: key ab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tt.err.Error())
		})
	}
}

func TestCodeErrorIs(t *testing.T) {
	remote := &CodeError{Code: CodeTimeout, Message: "handler took too long", Remote: true}
	wrapped := fmt.Errorf("call rpc.echo: %w", remote)

	tests := []struct {
		name   string
		err    error
		target error
		want   bool
	}{
		{"same code", remote, &CodeError{Code: CodeTimeout}, true},
		{"wrapped", wrapped, &CodeError{Code: CodeTimeout}, true},
		{"message and origin ignored", wrapped, NewCodeError(CodeTimeout, "other"), true},
		{"other code", wrapped, &CodeError{Code: CodeCancelled}, false},
		{"not a CodeError", wrapped, context.DeadlineExceeded, false},
		{"nil target pointer", wrapped, (*CodeError)(nil), false},
		{"sentinel is not a code", &CodeError{Code: CodeFrameTooLarge}, ErrFrameTooLarge, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, errors.Is(tt.err, tt.target))
		})
	}
}

func TestCodeErrorAs(t *testing.T) {
	err := fmt.Errorf("store: %w", &CodeError{Code: CodeRateLimited, Message: "slow down", Remote: true})
	var ce *CodeError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, CodeRateLimited, ce.Code)
	require.Equal(t, "slow down", ce.Message)
	require.True(t, ce.Remote)
}

func TestCodeOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want ErrorCode
	}{
		{"nil", nil, CodeOK},
		{"code error", &CodeError{Code: CodeNoProvider}, CodeNoProvider},
		{"wrapped code error", fmt.Errorf("a: %w", &CodeError{Code: CodeACLDenied}), CodeACLDenied},
		{"code error wins over sentinel", fmt.Errorf("%w: %w", &CodeError{Code: CodeShutdown}, ErrFrameTooLarge), CodeShutdown},
		{"nil code error", (*CodeError)(nil), CodeInternal},
		{"frame too large", fmt.Errorf("%w: 5 MiB", ErrFrameTooLarge), CodeFrameTooLarge},
		{"malformed", fmt.Errorf("%w: bad varint", ErrMalformedFrame), CodeProtocol},
		{"unknown message", ErrUnknownMessage, CodeUnknownMessage},
		{"version", CheckVersion(&Hello{VersionMajor: 2}), CodeVersionMismatch},
		{"deadline", fmt.Errorf("call: %w", context.DeadlineExceeded), CodeTimeout},
		{"cancelled", context.Canceled, CodeCancelled},
		{"other", io.ErrUnexpectedEOF, CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, CodeOf(tt.err))
		})
	}
}

func TestSentinelMessages(t *testing.T) {
	for _, err := range []error{ErrFrameTooLarge, ErrMalformedFrame, ErrUnknownMessage, ErrVersionMismatch} {
		require.Regexp(t, `^macula: `, err.Error())
	}
}
