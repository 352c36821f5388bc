package topic

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// repeat joins n copies of seg with dots.
func repeat(seg string, n int) string {
	return strings.TrimSuffix(strings.Repeat(seg+".", n), ".")
}

// longest is a valid topic of exactly MaxLength bytes.
var longest = strings.Repeat("a", MaxLength)

// validTopics are valid as topics and as patterns.
var validTopics = []string{
	"a",
	"a.b.c",
	"Sensors.kitchen-1.temp_C",
	"0.9.-._",
	"_mesh.peer.connected",
	"_",
	"-",
	longest,
	repeat("a", MaxDepth),
	repeat("a", MaxDepth-1) + "." + strings.Repeat("b", MaxLength-2*(MaxDepth-1)),
}

// validPatterns are valid as patterns but not as topics.
var validPatterns = []string{
	"*",
	"#",
	"*.*",
	"a.*",
	"*.b",
	"a.*.c",
	"a.#",
	"*.#",
	"a.*.#",
	"_mesh.*",
	"_mesh.#",
	repeat("*", MaxDepth),
	repeat("*", MaxDepth-1) + ".#",
	strings.Repeat("a", MaxLength-2) + ".#",
}

type invalidCase struct {
	name string
	in   string
	want string // expected text of the error, after the sentinel's
}

// invalidAnywhere are invalid as topics and as patterns, with the same error.
var invalidAnywhere = []invalidCase{
	{"empty", "", "macula: invalid topic: empty"},
	{"only dot", ".", `".": empty segment 1`},
	{"leading dot", ".a", `".a": empty segment 1`},
	{"trailing dot", "a.", `"a.": empty segment 2`},
	{"double dot", "a..b", `"a..b": empty segment 2`},
	{"double dot late", "a.b..c", `"a.b..c": empty segment 3`},
	{"space", "a b", `"a b": invalid character ' ' at byte 1 in segment 1`},
	{"slash", "a.b/c", `"a.b/c": invalid character '/' at byte 3 in segment 2`},
	{"plus", "a.+", `"a.+": invalid character '+' at byte 2 in segment 2`},
	{"gt", "a.>", `"a.>": invalid character '>' at byte 2 in segment 2`},
	{"nul", "a\x00", `"a\x00": invalid character '\x00' at byte 1 in segment 1`},
	{"newline", "a\n", `"a\n": invalid character '\n' at byte 1 in segment 1`},
	{"unicode", "caf\u00e9.x", `"café.x": invalid character 'é' at byte 3 in segment 1`},
	{"emoji", "a.\U0001F600", `"a.😀": invalid character '😀' at byte 2 in segment 2`},
	{"invalid utf8", "a.\xff", `"a.\xff": invalid character 0xff at byte 2 in segment 2`},
	{"too long", longest + "a", `"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"...: 257 bytes, more than the maximum of 256`},
	{"too deep", repeat("a", MaxDepth+1), ": more than the maximum of 32 segments"},
	{"too long and bad", longest + "!", "257 bytes, more than the maximum of 256"},
}

// invalidPatterns are invalid as patterns (and as topics, with another error).
var invalidPatterns = []invalidCase{
	{"hash not last", "#.a", `"#.a": wildcard '#' in segment 1 must be the last segment`},
	{"hash in middle", "a.#.b", `"a.#.b": wildcard '#' in segment 2 must be the last segment`},
	{"two hashes", "a.#.#", `"a.#.#": wildcard '#' in segment 2 must be the last segment`},
	{"hash then empty", "a.#.", `"a.#.": wildcard '#' in segment 2 must be the last segment`},
	{"star suffix", "*x", `"*x": wildcard '*' at byte 0 must be the whole of segment 1`},
	{"star prefix", "a.x*", `"a.x*": wildcard '*' at byte 3 must be the whole of segment 2`},
	{"star inside", "a.x*y", `"a.x*y": wildcard '*' at byte 3 must be the whole of segment 2`},
	{"double star", "**", `"**": wildcard '*' at byte 0 must be the whole of segment 1`},
	{"hash suffix", "a#", `"a#": wildcard '#' at byte 1 must be the whole of segment 1`},
	{"hash prefix", "a.#b", `"a.#b": wildcard '#' at byte 2 must be the whole of segment 2`},
	{"double hash", "##", `"##": wildcard '#' at byte 0 must be the whole of segment 1`},
	{"star hash", "*#", `"*#": wildcard '*' at byte 0 must be the whole of segment 1`},
	{"empty after star", "*.", `"*.": empty segment 2`},
	{"empty before hash", "a..#", `"a..#": empty segment 2`},
	{"too deep stars", repeat("*", MaxDepth+1), ": more than the maximum of 32 segments"},
	{"too deep hash", repeat("*", MaxDepth) + ".#", ": more than the maximum of 32 segments"},
	{"too long hash", strings.Repeat("a", MaxLength-1) + ".#", "257 bytes, more than the maximum of 256"},
}

// requireInvalid checks that err wraps ErrInvalidTopic and that its text
// starts with the sentinel's and contains want.
func requireInvalid(t require.TestingT, err error, want string) {
	require.ErrorIs(t, err, ErrInvalidTopic)
	require.True(t, strings.HasPrefix(err.Error(), ErrInvalidTopic.Error()), err.Error())
	require.Contains(t, err.Error(), want)
}

func TestValidate(t *testing.T) {
	for _, s := range validTopics {
		t.Run("valid/"+s, func(t *testing.T) {
			require.NoError(t, Validate(s))
		})
	}
	for _, tc := range invalidAnywhere {
		t.Run("invalid/"+tc.name, func(t *testing.T) {
			requireInvalid(t, Validate(tc.in), tc.want)
		})
	}
	wildcards := []struct{ in, want string }{
		{"*", `"*": wildcard '*' at byte 0 in segment 1 (wildcards are allowed only in patterns)`},
		{"#", `"#": wildcard '#' at byte 0 in segment 1 (wildcards are allowed only in patterns)`},
		{"a.*", `"a.*": wildcard '*' at byte 2 in segment 2 (wildcards are allowed only in patterns)`},
		{"a.b.#", `"a.b.#": wildcard '#' at byte 4 in segment 3 (wildcards are allowed only in patterns)`},
		{"a*", `"a*": wildcard '*' at byte 1 in segment 1 (wildcards are allowed only in patterns)`},
	}
	for _, tc := range wildcards {
		t.Run("wildcard/"+tc.in, func(t *testing.T) {
			requireInvalid(t, Validate(tc.in), tc.want)
		})
	}
	for _, s := range validPatterns {
		t.Run("pattern/"+s, func(t *testing.T) {
			require.ErrorIs(t, Validate(s), ErrInvalidTopic)
		})
	}
}

func TestValidatePattern(t *testing.T) {
	for _, s := range append(append([]string{}, validTopics...), validPatterns...) {
		t.Run("valid/"+s, func(t *testing.T) {
			require.NoError(t, ValidatePattern(s))
		})
	}
	for _, tc := range append(append([]invalidCase{}, invalidAnywhere...), invalidPatterns...) {
		t.Run("invalid/"+tc.name, func(t *testing.T) {
			requireInvalid(t, ValidatePattern(tc.in), tc.want)
		})
	}
}

func TestValidateLimits(t *testing.T) {
	// Exactly at the limits is valid, one over is not, for both kinds.
	for _, tc := range []struct {
		name       string
		at, over   string
		isWildcard bool
	}{
		{"length", longest, longest + "a", false},
		{"length last dot", longest[:MaxLength-2] + ".a", longest[:MaxLength-1] + ".a", false},
		{"length split", repeat("abcdefg", MaxLength/8) + "h", repeat("abcdefg", MaxLength/8) + "hi", false},
		{"depth", repeat("a", MaxDepth), repeat("a", MaxDepth+1), false},
		{"depth stars", repeat("*", MaxDepth), repeat("*", MaxDepth+1), true},
		{"length hash", strings.Repeat("a", MaxLength-2) + ".#", strings.Repeat("a", MaxLength-1) + ".#", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// at is at one limit, over exceeds it by one.
			atLen, atDepth := len(tc.at), strings.Count(tc.at, ".")+1
			overLen, overDepth := len(tc.over), strings.Count(tc.over, ".")+1
			require.True(t, (atLen == MaxLength && overLen == MaxLength+1) ||
				(atDepth == MaxDepth && overDepth == MaxDepth+1))
			require.NoError(t, ValidatePattern(tc.at))
			require.ErrorIs(t, ValidatePattern(tc.over), ErrInvalidTopic)
			if !tc.isWildcard {
				require.NoError(t, Validate(tc.at))
				require.ErrorIs(t, Validate(tc.over), ErrInvalidTopic)
			}
		})
	}
}

func TestIsReserved(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"", false},
		{"_", true},
		{"_mesh.peer.connected", true},
		{"_mesh.*", true},
		{"a._mesh", false},
		{"mesh_", false},
		{"-a", false},
		{".a", false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			require.Equal(t, tc.want, IsReserved(tc.in))
		})
	}
}

func TestIsPattern(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"", false},
		{"a", false},
		{"a.b.c", false},
		{"*", true},
		{"#", true},
		{"a.*", true},
		{"*.a", true},
		{"a.*.c", true},
		{"a.#", true},
		{"a*", false},
		{"a.#b", false},
		{"a.**", false},
		{"a..*", true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			require.Equal(t, tc.want, IsPattern(tc.in))
		})
	}
	for _, s := range validTopics {
		require.False(t, IsPattern(s), s)
	}
	for _, s := range validPatterns {
		require.True(t, IsPattern(s), s)
	}
}

func TestValidateProperties(t *testing.T) {
	t.Run("agrees with reference", func(t *testing.T) {
		rapid.Check(t, func(t *rapid.T) {
			s := anyStringGen().Draw(t, "s")
			checkValidation(t, s)
		})
	})
	t.Run("generated topics are valid", func(t *testing.T) {
		rapid.Check(t, func(t *rapid.T) {
			s := topicGen().Draw(t, "topic")
			require.NoError(t, Validate(s))
			require.NoError(t, ValidatePattern(s))
			require.False(t, IsPattern(s))
		})
	})
	t.Run("generated patterns are valid", func(t *testing.T) {
		rapid.Check(t, func(t *rapid.T) {
			s := patternGen().Draw(t, "pattern")
			require.NoError(t, ValidatePattern(s))
			require.Equal(t, Validate(s) == nil, !IsPattern(s))
		})
	})
}

// checkValidation compares Validate and ValidatePattern on s with the
// reference and checks the shape of their errors.
func checkValidation(t require.TestingT, s string) {
	for _, wildcards := range []bool{false, true} {
		var err error
		if wildcards {
			err = ValidatePattern(s)
		} else {
			err = Validate(s)
		}
		require.Equal(t, refValid(s, wildcards), err == nil, "%q wildcards=%v: %v", s, wildcards, err)
		if err != nil {
			require.True(t, errors.Is(err, ErrInvalidTopic))
			require.True(t, strings.HasPrefix(err.Error(), "macula: invalid topic"))
		}
	}
}

func FuzzValidatePattern(f *testing.F) {
	for _, s := range validTopics {
		f.Add(s)
	}
	for _, s := range validPatterns {
		f.Add(s)
	}
	for _, tc := range invalidPatterns {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkValidation(t, s)
		if ValidatePattern(s) == nil {
			// A valid pattern anchors at a prefix of itself that is a valid
			// topic, or at "".
			a := Anchor(s)
			require.True(t, strings.HasPrefix(s, a))
			if a != "" {
				require.NoError(t, Validate(a))
			}
			require.Equal(t, a != s, IsPattern(s))
		}
	})
}

func BenchmarkValidate(b *testing.B) {
	for _, bc := range []struct{ name, s string }{
		{"short", "sensors.kitchen.temperature"},
		{"deep", repeat("seg", MaxDepth)},
		{"invalid", "sensors..temperature"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Validate(bc.s)
			}
		})
	}
}
