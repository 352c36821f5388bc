package topic

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestErrInvalidTopic(t *testing.T) {
	require.True(t, strings.HasPrefix(ErrInvalidTopic.Error(), "macula: "))
	err := Validate("a..b")
	require.True(t, errors.Is(err, ErrInvalidTopic))
	require.Equal(t, `macula: invalid topic "a..b": empty segment 2`, err.Error())
	require.Equal(t, ErrInvalidTopic, errors.Unwrap(err))
}
