package rpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
	"github.com/org/macula/topic"
)

func TestRemoteError(t *testing.T) {
	err := Errorf(protocol.CodeInvalidArgument, "amount %d must be positive", -3)
	require.EqualError(t, err, "macula: rpc error INVALID_ARGUMENT: amount -3 must be positive")
	id := security.NodeID{0x1a, 0x2b, 0x3c, 0x4d}
	re := &RemoteError{Code: protocol.CodeNoProvider, Provider: id}
	require.EqualError(t, re, "macula: rpc error NO_PROVIDER from 1a2b3c4d")

	require.ErrorIs(t, re, ErrNoProvider)
	require.ErrorIs(t, re, &RemoteError{Code: protocol.CodeNoProvider})
	require.ErrorIs(t, re, &protocol.CodeError{Code: protocol.CodeNoProvider})
	require.NotErrorIs(t, re, &RemoteError{Code: protocol.CodeInternal})
	require.NotErrorIs(t, re, ErrTimeout)
	require.ErrorIs(t, &RemoteError{Code: protocol.CodeTimeout}, ErrTimeout)
	require.ErrorIs(t, &RemoteError{Code: protocol.CodeFrameTooLarge}, ErrMessageTooLarge)
	require.NotErrorIs(t, &RemoteError{Code: protocol.CodeInternal}, ErrNoProvider)
}

func TestCallError(t *testing.T) {
	a, b := security.NodeID{0xaa}, security.NodeID{0xbb}
	err := error(&CallError{Procedure: "svc.add", Tried: []security.NodeID{a, b}, Err: fmt.Errorf("%w: boom", ErrUnavailable)})
	require.EqualError(t, err, "macula: call svc.add (tried [aa000000 bb000000]): macula: no provider took the call: boom")
	require.ErrorIs(t, err, ErrUnavailable)
	var re *RemoteError
	require.False(t, errors.As(err, &re))
	err = &CallError{Procedure: "svc.add", Err: &RemoteError{Code: protocol.CodeInvalidArgument}}
	require.ErrorAs(t, err, &re)
	require.Equal(t, protocol.CodeInvalidArgument, re.Code)
}

func TestSentinels(t *testing.T) {
	require.ErrorIs(t, ErrClosed, net.ErrClosed)
	require.ErrorIs(t, ErrInvalidProcedure, topic.ErrInvalidTopic)
	require.ErrorIs(t, ErrMessageTooLarge, protocol.ErrFrameTooLarge)
	var ne net.Error
	timeout := fmt.Errorf("%w: %w", ErrTimeout, context.DeadlineExceeded)
	require.ErrorAs(t, timeout, &ne)
	require.True(t, ne.Timeout())
	require.ErrorIs(t, timeout, context.DeadlineExceeded)
}

func TestRemoteErrorFromHandlerError(t *testing.T) {
	s, _, _ := localService(t, nil)
	for _, tc := range []struct {
		err  error
		code protocol.ErrorCode
		msg  string
	}{
		{errors.New("disk full"), protocol.CodeInternal, "disk full"},
		{Errorf(protocol.CodeNotFound, "no account %d", 7), protocol.CodeNotFound, "no account 7"},
		{fmt.Errorf("charging: %w", Errorf(protocol.CodeACLDenied, "no")), protocol.CodeACLDenied, "no"},
		{Errorf(protocol.CodeOK, "odd"), protocol.CodeInternal, "odd"},
		{fmt.Errorf("slow: %w", context.DeadlineExceeded), protocol.CodeTimeout, "slow: context deadline exceeded"},
		{context.Canceled, protocol.CodeCancelled, "context canceled"},
	} {
		re := s.remoteError(tc.err)
		require.Equal(t, tc.code, re.Code, "%v", tc.err)
		require.Equal(t, tc.msg, re.Message)
		require.Equal(t, s.cfg.Self, re.Provider)
	}
}

func TestPayloadErrors(t *testing.T) {
	var n int
	err := (&Reply{Data: []byte("not json"), ContentType: "application/json"}).Decode(&n)
	require.ErrorIs(t, err, ErrDecode)
	err = (&Invocation{Args: []byte(`"text"`), ContentType: "application/json"}).Decode(&n)
	require.ErrorIs(t, err, ErrDecode)
}
