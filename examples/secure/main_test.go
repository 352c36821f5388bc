package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRun runs the example: the realm works for each role as acl.yaml
// says, and refuses the intruder and the actions outside the roles.
func TestRun(t *testing.T) {
	var out strings.Builder
	require.NoError(t, run(&out))
	text := out.String()
	for _, want := range []string{
		"intruder joins: refused=true",
		"operator got readings.pressure = 4.2",
		"operator called control.valve.open: valve open",
		"operator publishes a reading: denied=true",
		"sensor calls the valve: denied=true",
	} {
		require.Contains(t, text, want)
	}
}
