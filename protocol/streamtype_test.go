package protocol

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStreamType(t *testing.T) {
	tests := []struct {
		typ   StreamType
		name  string
		valid bool
	}{
		{0, "StreamType(0)", false},
		{StreamControl, "control", true},
		{StreamDHT, "dht", true},
		{StreamRPC, "rpc", true},
		{StreamEvents, "events", true},
		{StreamMembership, "membership", true},
		{6, "StreamType(6)", false},
		{255, "StreamType(255)", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.name, tt.typ.String())
			require.Equal(t, tt.valid, tt.typ.Valid())
		})
	}
}

func TestStreamTypeValues(t *testing.T) {
	// The values are on the wire; they must never change.
	require.EqualValues(t, 1, StreamControl)
	require.EqualValues(t, 2, StreamDHT)
	require.EqualValues(t, 3, StreamRPC)
	require.EqualValues(t, 4, StreamEvents)
	require.EqualValues(t, 5, StreamMembership)
}
