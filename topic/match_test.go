package topic

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

var matchCases = []struct {
	pattern, topic string
	want           bool
}{
	// Literal patterns.
	{"a", "a", true},
	{"a.b.c", "a.b.c", true},
	{"a.b.c", "a.b", false},
	{"a.b", "a.b.c", false},
	{"a.b.c", "a.b.d", false},
	{"a.b", "a.bc", false},
	{"a.bc", "a.b", false},
	{"ab", "a.b", false},
	{"A", "a", false},
	{"_mesh.peer.connected", "_mesh.peer.connected", true},

	// "*" matches exactly one segment.
	{"*", "a", true},
	{"*", "abc", true},
	{"*", "a.b", false},
	{"a.*", "a.b", true},
	{"a.*", "a", false},
	{"a.*", "a.b.c", false},
	{"a.*", "b.b", false},
	{"*.b", "a.b", true},
	{"*.b", "a.c", false},
	{"a.*.c", "a.b.c", true},
	{"a.*.c", "a.c", false},
	{"a.*.c", "a.b.b.c", false},
	{"*.*", "a.b", true},
	{"*.*", "a", false},
	{"*.*", "a.b.c", false},
	{"_mesh.*", "_mesh.x", true},

	// "#" matches one or more segments.
	{"#", "a", true},
	{"#", "a.b.c", true},
	{"a.#", "a", false},
	{"a.#", "a.b", true},
	{"a.#", "a.b.c.d", true},
	{"a.#", "b.c", false},
	{"a.#", "ab.c", false},
	{"a.b.#", "a.b", false},
	{"a.b.#", "a.c.d", false},
	{"*.#", "a", false},
	{"*.#", "a.b", true},
	{"a.*.#", "a.b", false},
	{"a.*.#", "a.b.c", true},
	{repeat("*", MaxDepth-1) + ".#", repeat("a", MaxDepth), true},
	{repeat("*", MaxDepth-1) + ".#", repeat("a", MaxDepth-1), false},

	// Invalid input never matches, even where a naive matcher would.
	{"", "", false},
	{"a", "", false},
	{"", "a", false},
	{"#", "", false},
	{"a.", "a.", false},
	{"a..b", "a..b", false},
	{"*", "*", false},
	{"#", "#", false},
	{"a.*", "a.*", false},
	{"*", ".", false},
	{"#", "a..b", false},
	{"#", "a.", false},
	{"a.#", "a.b.", false},
	{"a.#.c", "a.b.c", false},
	{"#.c", "a.c", false},
	{"a*", "a*", false},
	{"a*", "ab", false},
	{"a.#b", "a.b", false},
	{"caf\u00e9", "caf\u00e9", false},
	{"*", "\u00e9", false},
	{"#", longest + "a", false},
	{longest + "a", longest + "a", false},
	{"#", repeat("a", MaxDepth+1), false},
	{repeat("*", MaxDepth+1), repeat("a", MaxDepth+1), false},
	{"#", longest, true},
	{longest, longest, true},
}

func TestMatch(t *testing.T) {
	for _, tc := range matchCases {
		t.Run(tc.pattern+"~"+tc.topic, func(t *testing.T) {
			require.Equal(t, tc.want, Match(tc.pattern, tc.topic))
			require.Equal(t, tc.want, refMatch(tc.pattern, tc.topic), "reference")
		})
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	for _, tc := range matchCases {
		allocs := testing.AllocsPerRun(10, func() {
			Match(tc.pattern, tc.topic)
		})
		require.Zero(t, allocs, "%q ~ %q", tc.pattern, tc.topic)
	}
}

func TestMatchProperties(t *testing.T) {
	t.Run("literal topic matches itself", func(t *testing.T) {
		rapid.Check(t, func(t *rapid.T) {
			topic := topicGen().Draw(t, "topic")
			require.True(t, Match(topic, topic))
		})
	})
	t.Run("literal pattern matches only itself", func(t *testing.T) {
		rapid.Check(t, func(t *rapid.T) {
			p, topic := topicGen().Draw(t, "pattern"), topicGen().Draw(t, "topic")
			require.Equal(t, p == topic, Match(p, topic))
		})
	})
	t.Run("pattern derived from topic matches it", func(t *testing.T) {
		rapid.Check(t, func(t *rapid.T) {
			topic := topicGen().Draw(t, "topic")
			p := patternFromGen(topic).Draw(t, "pattern")
			require.True(t, Match(p, topic))
		})
	})
	t.Run("match implies anchor among anchors", func(t *testing.T) {
		rapid.Check(t, func(t *rapid.T) {
			topic := topicGen().Draw(t, "topic")
			p := rapid.OneOf(patternFromGen(topic), patternGen()).Draw(t, "pattern")
			if Match(p, topic) {
				require.Contains(t, Anchors(topic), Anchor(p))
			}
		})
	})
	t.Run("stars match exactly the topics of the same depth", func(t *testing.T) {
		rapid.Check(t, func(t *rapid.T) {
			n := rapid.IntRange(1, MaxDepth).Draw(t, "depth")
			topic := topicGen().Draw(t, "topic")
			require.Equal(t, strings.Count(topic, ".")+1 == n, Match(repeat("*", n), topic))
		})
	})
	t.Run("hash matches every valid topic", func(t *testing.T) {
		rapid.Check(t, func(t *rapid.T) {
			s := anyStringGen().Draw(t, "topic")
			require.Equal(t, Validate(s) == nil, Match("#", s))
		})
	})
	t.Run("agrees with reference", func(t *testing.T) {
		rapid.Check(t, func(t *rapid.T) {
			topic := rapid.OneOf(topicGen(), anyStringGen()).Draw(t, "topic")
			p := rapid.OneOf(patternFromGen("a.b.c"), patternGen(), anyStringGen()).Draw(t, "pattern")
			require.Equal(t, refMatch(p, topic), Match(p, topic), "%q ~ %q", p, topic)
		})
	})
}

func FuzzMatch(f *testing.F) {
	for _, tc := range matchCases {
		f.Add(tc.pattern, tc.topic)
	}
	for _, s := range validTopics {
		f.Add(s, s)
	}
	for _, s := range validPatterns {
		f.Add(s, "a.b.c")
	}
	f.Fuzz(func(t *testing.T, pattern, topic string) {
		got := Match(pattern, topic)
		require.Equal(t, refMatch(pattern, topic), got, "%q ~ %q", pattern, topic)
		if got {
			require.Contains(t, Anchors(topic), Anchor(pattern))
		}
	})
}

func BenchmarkMatch(b *testing.B) {
	for _, bc := range []struct{ name, pattern, topic string }{
		{"literal", "sensors.kitchen.temperature", "sensors.kitchen.temperature"},
		{"literal-miss", "sensors.kitchen.temperature", "sensors.kitchen.humidity"},
		{"star", "sensors.*.temperature", "sensors.kitchen.temperature"},
		{"hash", "sensors.#", "sensors.kitchen.temperature"},
		{"hash-miss", "sensors.#", "sensors"},
		{"deep", repeat("*", MaxDepth-1) + ".#", repeat("seg", MaxDepth)},
		{"invalid", "sensors.#.x", "sensors.kitchen.x"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Match(bc.pattern, bc.topic)
			}
		})
	}
}
