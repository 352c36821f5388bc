package topic

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"pgregory.net/rapid"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The reference implementations below are deliberately naive and written
// independently of the package code, so that tests and fuzz targets can
// compare the two.

var (
	refTopicRE   = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)
	refPatternRE = regexp.MustCompile(`^([A-Za-z0-9_-]+|\*)(\.([A-Za-z0-9_-]+|\*))*(\.#)?$|^#$`)
)

// refValid is the reference for Validate and ValidatePattern.
func refValid(s string, wildcards bool) bool {
	if len(s) > MaxLength || strings.Count(s, ".")+1 > MaxDepth {
		return false
	}
	if wildcards {
		return refPatternRE.MatchString(s)
	}
	return refTopicRE.MatchString(s)
}

// refMatch is the reference for Match.
func refMatch(pattern, topic string) bool {
	if !refValid(pattern, true) || !refValid(topic, false) {
		return false
	}
	ps, ts := strings.Split(pattern, "."), strings.Split(topic, ".")
	for i, p := range ps {
		if p == "#" {
			return len(ts) > i
		}
		if i >= len(ts) || (p != "*" && p != ts[i]) {
			return false
		}
	}
	return len(ps) == len(ts)
}

// refAnchors is the reference for Anchors on a valid topic.
func refAnchors(topic string) []string {
	segs := strings.Split(topic, ".")
	anchors := []string{""}
	for i := range segs {
		anchors = append(anchors, strings.Join(segs[:i+1], "."))
	}
	return anchors
}

// Generators. Segments come mostly from a tiny alphabet so that generated
// patterns and topics often match.

func segmentGen() *rapid.Generator[string] {
	return rapid.OneOf(
		rapid.SampledFrom([]string{"a", "b", "c", "_", "-", "a1", "B_c-9"}),
		rapid.StringMatching(`[A-Za-z0-9_-]{1,8}`),
	)
}

func topicGen() *rapid.Generator[string] {
	return rapid.Custom(func(t *rapid.T) string {
		segs := rapid.SliceOfN(segmentGen(), 1, 6).Draw(t, "segments")
		return strings.Join(segs, ".")
	})
}

// patternFromGen derives a pattern from topic by turning some segments into
// "*" and possibly the tail into "#"; the result always matches topic.
func patternFromGen(topic string) *rapid.Generator[string] {
	return rapid.Custom(func(t *rapid.T) string {
		segs := strings.Split(topic, ".")
		for i := range segs {
			if rapid.IntRange(0, 3).Draw(t, "star") == 0 {
				segs[i] = "*"
			}
		}
		if rapid.Bool().Draw(t, "hash") {
			cut := rapid.IntRange(0, len(segs)-1).Draw(t, "cut")
			segs = append(segs[:cut], "#")
		}
		return strings.Join(segs, ".")
	})
}

func patternGen() *rapid.Generator[string] {
	return rapid.Custom(func(t *rapid.T) string {
		segs := rapid.SliceOfN(rapid.OneOf(segmentGen(), rapid.Just("*")), 1, 6).Draw(t, "segments")
		if rapid.Bool().Draw(t, "hash") {
			segs = append(segs, "#")
		}
		return strings.Join(segs, ".")
	})
}

// anyStringGen produces strings that are often almost valid.
func anyStringGen() *rapid.Generator[string] {
	return rapid.OneOf(
		topicGen(),
		patternGen(),
		rapid.StringMatching(`[a-c.*#_ é\x00-]{0,10}`),
		rapid.String(),
	)
}

func TestReference(t *testing.T) {
	// Guard the references themselves against obvious mistakes.
	require.True(t, refMatch("a.*.#", "a.b.c.d"))
	require.False(t, refMatch("a.#", "a"))
	require.False(t, refValid("a.#.b", true))
	require.Equal(t, []string{"", "a", "a.b"}, refAnchors("a.b"))
}
