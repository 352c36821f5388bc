package discovery

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStatic(t *testing.T) {
	in := []string{"a.example.org:4433", "macula://org.example.mesh/" + testNodeIDHex + "@10.0.0.1:4433"}
	s := Static(in...)
	require.Equal(t, "static", s.Name())
	got, err := s.Discover(context.Background())
	require.NoError(t, err)
	require.Equal(t, in, got)

	// Neither the caller's slice nor a result shares memory with the source.
	in[0] = "changed:1"
	got[1] = "changed:2"
	again, err := s.Discover(context.Background())
	require.NoError(t, err)
	require.Equal(t, []string{"a.example.org:4433", "macula://org.example.mesh/" + testNodeIDHex + "@10.0.0.1:4433"}, again)
}

func TestStaticEmpty(t *testing.T) {
	got, err := Static().Discover(context.Background())
	require.NoError(t, err)
	require.Empty(t, got)
}
