package security

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// The pattern helpers are checked against brute force: patterns use the
// literals "a" and "b", and the topics enumerated use "a", "b" and "c", the
// last standing for every literal neither pattern mentions. Topics up to one
// segment deeper than the deepest pattern are enough: beyond that depth a
// topic is matched exactly when its truncation is (only a final "#" can
// match it, and "#" does not care how many segments it takes).

// refMatchSegs is an independent reference for topic.Match on split
// segments.
func refMatchSegs(pattern, topic []string) bool {
	for i, p := range pattern {
		if p == "#" {
			return len(topic) > i
		}
		if i >= len(topic) || (p != "*" && p != topic[i]) {
			return false
		}
	}
	return len(pattern) == len(topic)
}

// enumTopics returns every topic over {a, b, c} of 1 to depth segments.
func enumTopics(depth int) [][]string {
	var out [][]string
	level := [][]string{{}}
	for d := 1; d <= depth; d++ {
		var next [][]string
		for _, prefix := range level {
			for _, s := range []string{"a", "b", "c"} {
				next = append(next, append(append([]string(nil), prefix...), s))
			}
		}
		out = append(out, next...)
		level = next
	}
	return out
}

// enumPatterns returns every pattern over {a, b, *} of 1 to depth segments,
// each also with a final "#", and "#" itself.
func enumPatterns(depth int) [][]string {
	out := [][]string{{"#"}}
	level := [][]string{{}}
	for d := 1; d <= depth; d++ {
		var next [][]string
		for _, prefix := range level {
			for _, s := range []string{"a", "b", "*"} {
				p := append(append([]string(nil), prefix...), s)
				next = append(next, p)
				out = append(out, p, append(append([]string(nil), p...), "#"))
			}
		}
		level = next
	}
	return out
}

// language returns the topics of topics that pattern matches, as a set of
// joined topics.
func language(pattern []string, topics [][]string) map[string]bool {
	set := make(map[string]bool)
	for _, t := range topics {
		if refMatchSegs(pattern, t) {
			set[strings.Join(t, ".")] = true
		}
	}
	return set
}

// checkPatternOps checks covers, overlaps and intersect on a and b against
// their enumerated languages.
func checkPatternOps(t require.TestingT, a, b []string, topics [][]string) {
	la, lb := language(a, topics), language(b, topics)
	subset, common := true, map[string]bool{}
	for topic := range lb {
		if la[topic] {
			common[topic] = true
		} else {
			subset = false
		}
	}
	pa, pb := strings.Join(a, "."), strings.Join(b, ".")
	require.Equal(t, subset, patternCovers(a, b), "covers(%s, %s)", pa, pb)
	require.Equal(t, len(common) > 0, patternOverlaps(a, b), "overlaps(%s, %s)", pa, pb)
	require.Equal(t, patternOverlaps(a, b), patternOverlaps(b, a), "overlaps is symmetric: %s, %s", pa, pb)
	if len(common) > 0 {
		in := patternIntersect(a, b)
		require.Equal(t, common, language(in, topics), "intersect(%s, %s) = %s", pa, pb, strings.Join(in, "."))
	}
}

func TestPatternOpsExhaustive(t *testing.T) {
	// Every pair of patterns up to three segments (plus "#"): 79 patterns,
	// 6241 pairs, against every topic up to four segments.
	patterns := enumPatterns(3)
	require.Len(t, patterns, 79)
	topics := enumTopics(4)
	for _, a := range patterns {
		for _, b := range patterns {
			checkPatternOps(t, a, b, topics)
		}
	}
}

// patternSegsGen draws a pattern of up to maxDepth segments over {a, b, *}
// with an optional final "#".
func patternSegsGen(maxDepth int) *rapid.Generator[[]string] {
	return rapid.Custom(func(t *rapid.T) []string {
		segs := rapid.SliceOfN(rapid.SampledFrom([]string{"a", "b", "*"}), 0, maxDepth).Draw(t, "segments")
		if len(segs) == 0 || rapid.Bool().Draw(t, "hash") {
			segs = append(segs, "#")
		}
		return segs
	})
}

func TestPatternOpsProperty(t *testing.T) {
	// Deeper patterns than the exhaustive test, sampled.
	topics := enumTopics(6)
	rapid.Check(t, func(t *rapid.T) {
		a := patternSegsGen(5).Draw(t, "a")
		b := patternSegsGen(5).Draw(t, "b")
		checkPatternOps(t, a, b, topics)
	})
}

func TestPatternOpsExamples(t *testing.T) {
	cases := []struct {
		a, b            string
		covers, overlap bool
		intersect       string
	}{
		{"sensors.#", "sensors.*", true, true, "sensors.*"},
		{"sensors.*", "sensors.#", false, true, "sensors.*"},
		{"sensors.secret", "sensors.#", false, true, "sensors.secret"},
		{"sensors.secret", "#", false, true, "sensors.secret"},
		{"sensors.secret", "sensors.*", false, true, "sensors.secret"},
		{"sensors.secret", "sensors.public", false, false, ""},
		{"sensors.secret", "sensors", false, false, ""},
		{"#", "a.*.#", true, true, "a.*.#"},
		{"a.#", "*.b.#", false, true, "a.b.#"},
		{"a.*", "*.b", false, true, "a.b"},
		{"*.#", "#", false, true, "*.#"},
		{"#", "*.#", true, true, "*.#"},
		{"a", "a", true, true, "a"},
		{"a.b", "a.b.#", false, false, ""},
		{"a.*.c", "a.b.*", false, true, "a.b.c"},
	}
	for _, c := range cases {
		a, b := splitPattern(c.a), splitPattern(c.b)
		require.Equal(t, c.covers, patternCovers(a, b), "covers(%s, %s)", c.a, c.b)
		require.Equal(t, c.overlap, patternOverlaps(a, b), "overlaps(%s, %s)", c.a, c.b)
		if c.overlap {
			require.Equal(t, c.intersect, strings.Join(patternIntersect(a, b), "."), "intersect(%s, %s)", c.a, c.b)
		}
	}
}
