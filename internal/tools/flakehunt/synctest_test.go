package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSynctestTestsFollowsHelpers(t *testing.T) {
	got, err := synctestTests("testdata/pkg")
	require.NoError(t, err)
	require.Equal(t, []string{"TestDirect", "TestThroughHelper"}, got)
}

func TestVirtualTimeTestsOfThisModule(t *testing.T) {
	vt, err := virtualTimeTests("../../..")
	require.NoError(t, err)
	// routing's republish test runs in a synctest bubble; its real-UDP
	// test does not.
	require.Contains(t, vt["./../../../routing"], "TestStartRepublishesAndExpires")
	require.NotContains(t, vt["./../../../routing"], "TestDHTOverUDP")
	require.NotContains(t, vt, "./../../../internal/tools/flakehunt/testdata/pkg", "testdata is skipped")
}

func TestRepeatsFitTheBudget(t *testing.T) {
	require.Equal(t, 50, repeats(10*time.Millisecond, time.Minute, 5, 50))
	require.Equal(t, 12, repeats(5*time.Second, time.Minute, 5, 50))
	require.Equal(t, 5, repeats(20*time.Second, time.Minute, 5, 50), "at least min-count")
	require.Equal(t, 5, repeats(0, time.Minute, 5, 50), "a test that failed its timing run runs min-count times")
}
