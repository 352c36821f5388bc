package main

import (
	"fmt"
	"regexp"
	"strings"
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
	require.Equal(t, 50, repeats(10*time.Millisecond, true, time.Minute, 5, 50))
	require.Equal(t, 50, repeats(0, true, time.Minute, 5, 50), "a test too fast to time")
	require.Equal(t, 12, repeats(5*time.Second, true, time.Minute, 5, 50))
	require.Equal(t, 5, repeats(20*time.Second, true, time.Minute, 5, 50), "at least min-count")
	require.Equal(t, 5, repeats(time.Second, false, time.Minute, 5, 50), "a test that failed its timing run runs min-count times")
}

func TestReadRecordsFailuresWithTheirOutput(t *testing.T) {
	events := strings.Join([]string{
		`{"Action":"run","Package":"p","Test":"TestOK"}`,
		`{"Action":"output","Package":"p","Test":"TestOK","Output":"fine\n"}`,
		`{"Action":"pass","Package":"p","Test":"TestOK","Elapsed":0.5}`,
		`{"Action":"output","Package":"p","Test":"TestBad","Output":"expected 4, got 5\n"}`,
		`{"Action":"fail","Package":"p","Test":"TestBad","Elapsed":1}`,
		`{"Action":"fail","Package":"p"}`,
		`{"Action":"output","Package":"q","Test":"TestCrash","Output":"SIGSEGV\n"}`,
		`{"Action":"fail","Package":"q"}`,
	}, "\n")
	h := &hunt{failures: map[string]*failure{}}
	failed, took := h.read("round", strings.NewReader(events))
	require.Equal(t, 2, failed, "TestBad, and package q; p's own fail adds nothing")
	require.Equal(t, map[string]time.Duration{"TestOK": 500 * time.Millisecond}, took)
	require.Contains(t, h.failures["p TestBad"].output, "expected 4, got 5")
	require.NotContains(t, h.failures["p TestBad"].output, "fine")
	require.Contains(t, h.failures["q "].output, "[TestCrash, unfinished]")
	require.Contains(t, h.failures["q "].output, "SIGSEGV")
	h.forget("round")
	require.Empty(t, h.failures)
}

func TestExcerptKeepsHeadAndTail(t *testing.T) {
	var lines []string
	for i := range 100 {
		lines = append(lines, fmt.Sprint("line ", i))
	}
	got := strings.Split(excerpt(strings.Join(lines, "\n"), 3, 2), "\n")
	want := []string{"line 0", "line 1", "line 2", "[... 95 lines ...]", "line 98", "line 99"}
	require.Equal(t, want, got)
	require.Equal(t, "a\nb", excerpt("a\nb", 3, 2), "a short output is kept whole")
}

func TestSplitByRaceFollowsTheNoRacePattern(t *testing.T) {
	names := []string{"TestSWIMConvergenceAtScale", "TestLeaveNotice", "TestPartitionHealsIntoOneView"}
	raced, unraced := splitByRace(names, regexp.MustCompile("AtScale|TestPartitionHealsIntoOneView"))
	require.Equal(t, []string{"TestLeaveNotice"}, raced)
	require.Equal(t, []string{"TestSWIMConvergenceAtScale", "TestPartitionHealsIntoOneView"}, unraced)
	raced, unraced = splitByRace(names, nil)
	require.Equal(t, names, raced, "no pattern: every test runs with -race")
	require.Empty(t, unraced)
}
