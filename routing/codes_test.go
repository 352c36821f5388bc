package routing

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/protocol"
)

func TestErrorCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code protocol.ErrorCode
		back error
	}{
		{nil, protocol.CodeOK, nil},
		{fmt.Errorf("%w: full", ErrLimit), protocol.CodeRateLimited, ErrLimit},
		{fmt.Errorf("%w: full", ErrLimit), protocol.CodeRateLimited, ErrRateLimited},
		{fmt.Errorf("%w: slow down", ErrRateLimited), protocol.CodeRateLimited, ErrRateLimited},
		{fmt.Errorf("%w: slow down", ErrRateLimited), protocol.CodeRateLimited, ErrLimit},
		{fmt.Errorf("%w: acl: %w", ErrStoreRefused, ErrExpired), protocol.CodeACLDenied, ErrStoreRefused},
		{ErrClosed, protocol.CodeShutdown, ErrClosed},
		{fmt.Errorf("%w: x", ErrBadSignature), protocol.CodeInvalidArgument, ErrInvalidRecord},
		{fmt.Errorf("%w: x", ErrExpired), protocol.CodeInvalidArgument, ErrInvalidRecord},
		{fmt.Errorf("%w: x", ErrWrongKey), protocol.CodeInvalidArgument, ErrInvalidRecord},
		{fmt.Errorf("%w: x", ErrStale), protocol.CodeInvalidArgument, ErrInvalidRecord},
		{fmt.Errorf("%w: x", ErrInvalidRecord), protocol.CodeInvalidArgument, ErrInvalidRecord},
		{errors.New("disk on fire"), protocol.CodeInternal, nil},
	} {
		code := ErrorCode(tc.err)
		require.Equal(t, tc.code, code, "%v", tc.err)
		back := ErrorFromCode(code, "detail")
		if tc.err == nil {
			require.NoError(t, back)
			continue
		}
		require.Error(t, back)
		require.Contains(t, back.Error(), "detail")
		if tc.back != nil {
			require.ErrorIs(t, back, tc.back)
			require.True(t, isRefusal(back) || errors.Is(back, ErrClosed))
		} else {
			require.False(t, isRefusal(back))
		}
	}
}
