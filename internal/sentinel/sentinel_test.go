package sentinel

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNarrowMatchesItsBase(t *testing.T) {
	a := Narrow(ErrInvalidConfig, "macula: invalid a config")
	b := Narrow(ErrInvalidConfig, "macula: invalid b config")
	require.ErrorIs(t, a, ErrInvalidConfig)
	require.NotErrorIs(t, a, b)
	require.NotErrorIs(t, ErrInvalidConfig, a)
	require.Equal(t, "macula: invalid a config", a.Error())
}

func TestOptionKeepsKindAndCause(t *testing.T) {
	cause := errors.New("boom")
	kind := Narrow(ErrInvalidOption, "macula: invalid x option")
	err := Option(kind, "WithX", "value %d: %w", 3, cause)
	require.ErrorIs(t, err, kind)
	require.ErrorIs(t, err, ErrInvalidOption)
	require.ErrorIs(t, err, cause)
	require.Equal(t, "macula: invalid x option: WithX: value 3: boom", err.Error())
}
