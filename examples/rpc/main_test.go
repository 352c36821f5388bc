package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRun runs the example: round robin reaches each provider three
// times, and the error cases come out typed.
func TestRun(t *testing.T) {
	var out strings.Builder
	require.NoError(t, run(&out))
	text := out.String()
	require.Contains(t, text, "round-robin   9 calls: provider-1=3 provider-2=3 provider-3=3")
	require.Contains(t, text, "local-first   hello from node 0 itself")
	require.Contains(t, text, "say who to greet")
	require.Contains(t, text, "deadline      timeout=true")
	require.Contains(t, text, "no provider   true")
}
