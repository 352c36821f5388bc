package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRun runs the example: the auditor sees every order event, and the
// two workers share the new orders, each handled once and both busy.
func TestRun(t *testing.T) {
	var out strings.Builder
	require.NoError(t, run(&out))
	text := out.String()
	require.Contains(t, text, "auditor saw 7 events; workers handled")
	require.Contains(t, text, "= 6 orders, each once")
	require.Contains(t, text, "worker-1 (node 2) handles order")
	require.Contains(t, text, "worker-2 (node 3) handles order")
	require.Equal(t, 6, strings.Count(text, "handles order"))
}
