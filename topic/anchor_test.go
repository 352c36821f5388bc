package topic

import (
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestAnchor(t *testing.T) {
	for _, tc := range []struct{ pattern, want string }{
		{"a", "a"},
		{"a.b.c", "a.b.c"},
		{"*", ""},
		{"#", ""},
		{"*.b", ""},
		{"*.#", ""},
		{"a.*", "a"},
		{"a.#", "a"},
		{"a.b.*.d", "a.b"},
		{"a.b.*.#", "a.b"},
		{"a.*.c.*", "a"},
		{"_mesh.peer.*", "_mesh.peer"},
		{"a*.b", "a*.b"}, // partial wildcards are not wildcard segments
		{repeat("a", MaxDepth-1) + ".#", repeat("a", MaxDepth-1)},
	} {
		t.Run(tc.pattern, func(t *testing.T) {
			require.Equal(t, tc.want, Anchor(tc.pattern))
		})
	}
}

func TestAnchors(t *testing.T) {
	for _, tc := range []struct {
		topic string
		want  []string
	}{
		{"a", []string{"", "a"}},
		{"a.b.c", []string{"", "a", "a.b", "a.b.c"}},
		{"_mesh.peer.connected", []string{"", "_mesh", "_mesh.peer", "_mesh.peer.connected"}},
		{"ab.cd", []string{"", "ab", "ab.cd"}},
		{longest, []string{"", longest}},
		// Invalid topics, patterns included, have no anchors.
		{"", nil},
		{".", nil},
		{"a.", nil},
		{".a", nil},
		{"a..b", nil},
		{"a.*", nil},
		{"#", nil},
		{"caf\u00e9", nil},
		{longest + "a", nil},
		{repeat("a", MaxDepth+1), nil},
	} {
		t.Run(tc.topic, func(t *testing.T) {
			require.Equal(t, tc.want, Anchors(tc.topic))

			prefix := []string{"x"}
			got := AppendAnchors(prefix, tc.topic)
			require.Equal(t, append([]string{"x"}, tc.want...), got)
		})
	}
	t.Run("max depth", func(t *testing.T) {
		anchors := Anchors(repeat("a", MaxDepth))
		require.Len(t, anchors, MaxDepth+1)
		require.Equal(t, cap(anchors), len(anchors), "Anchors allocates exactly")
	})
}

func TestAppendAnchorsDoesNotAllocate(t *testing.T) {
	buf := make([]string, 0, MaxDepth+1)
	for _, topic := range []string{"a", "a.b.c", repeat("a", MaxDepth), "a..b"} {
		allocs := testing.AllocsPerRun(10, func() {
			buf = AppendAnchors(buf[:0], topic)
		})
		require.Zero(t, allocs, topic)
	}
}

func TestAnchorProperties(t *testing.T) {
	t.Run("anchors agree with reference", func(t *testing.T) {
		rapid.Check(t, func(t *rapid.T) {
			topic := topicGen().Draw(t, "topic")
			require.Equal(t, refAnchors(topic), Anchors(topic))
		})
	})
	t.Run("anchor of a literal pattern is itself", func(t *testing.T) {
		rapid.Check(t, func(t *rapid.T) {
			topic := topicGen().Draw(t, "topic")
			require.Equal(t, topic, Anchor(topic))
			require.Equal(t, topic, Anchors(topic)[len(Anchors(topic))-1])
		})
	})
	t.Run("anchor is a wildcard-free prefix", func(t *testing.T) {
		rapid.Check(t, func(t *rapid.T) {
			p := patternGen().Draw(t, "pattern")
			a := Anchor(p)
			require.False(t, IsPattern(a))
			if a != "" {
				require.NoError(t, Validate(a))
				require.Equal(t, a, p[:len(a)])
				if a != p {
					require.Equal(t, byte('.'), p[len(a)])
					require.True(t, IsPattern(p[len(a)+1:][:1]))
				}
			} else {
				require.True(t, IsPattern(p[:1]))
			}
		})
	})
}

func BenchmarkAppendAnchors(b *testing.B) {
	buf := make([]string, 0, MaxDepth+1)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendAnchors(buf[:0], "sensors.kitchen.temperature")
	}
}
