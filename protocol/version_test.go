package protocol

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckVersion(t *testing.T) {
	tests := []struct {
		name  string
		hello *Hello
		ok    bool
	}{
		{"same", &Hello{VersionMajor: VersionMajor, VersionMinor: VersionMinor}, true},
		{"newer minor", &Hello{VersionMajor: VersionMajor, VersionMinor: VersionMinor + 3}, true},
		{"newer major", &Hello{VersionMajor: VersionMajor + 1}, false},
		{"zero", &Hello{}, false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckVersion(tt.hello)
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrVersionMismatch)
		})
	}
}

func TestCheckVersionMessage(t *testing.T) {
	err := CheckVersion(&Hello{VersionMajor: 2, VersionMinor: 5})
	require.EqualError(t, err, "macula: protocol version mismatch: peer speaks 2.5, we speak 1.0")
}

func TestALPNNamesMajorVersion(t *testing.T) {
	require.Equal(t, "macula/1", ALPN)
	require.EqualValues(t, 1, VersionMajor)
}
