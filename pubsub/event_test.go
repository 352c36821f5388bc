package pubsub

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEventDecodeError(t *testing.T) {
	var n int
	err := (&Event{Data: []byte("not json"), ContentType: "application/json"}).Decode(&n)
	require.ErrorIs(t, err, ErrDecode)
	var s string
	require.NoError(t, (&Event{Data: []byte(`"ok"`), ContentType: "application/json"}).Decode(&s))
	require.Equal(t, "ok", s)
}
