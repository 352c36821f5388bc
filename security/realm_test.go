package security

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestValidateRealm(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	// 3*63 + 61 + 3 dots = 253 bytes exactly.
	max253 := strings.Join([]string{label63, label63, label63, strings.Repeat("b", 61)}, ".")
	require.Len(t, max253, 253)

	valid := []string{
		DefaultRealm,
		"io.macula",
		"local",
		"a",
		"0",
		"x-1.y--2.z",
		"123.456",
		label63 + ".com",
		max253,
	}
	for _, realm := range valid {
		t.Run("valid "+realm[:min(len(realm), 20)], func(t *testing.T) {
			require.NoError(t, ValidateRealm(realm))
		})
	}

	invalid := []struct {
		realm, why string
	}{
		{"", "empty"},
		{max253 + "c", "254 bytes"},
		{".org", "label 1 is empty"},
		{"org.", "label 2 is empty"},
		{"org..example", "label 2 is empty"},
		{strings.Repeat("a", 64) + ".org", "label 1 is 64 characters"},
		{"org.-example", "label 2 starts with '-'"},
		{"org.example-", "label 2 ends with '-'"},
		{"-", "starts with '-'"},
		{"Org.example", "invalid character 'O'"},
		{"org.exa_mple", "invalid character '_'"},
		{"org example", "invalid character ' '"},
		{"org/example", "invalid character '/'"},
		{"org.exämple", "invalid character"},
		{"org\x00", "invalid character"},
	}
	for _, tt := range invalid {
		t.Run("invalid "+tt.why, func(t *testing.T) {
			err := ValidateRealm(tt.realm)
			require.ErrorIs(t, err, ErrInvalidRealm)
			require.Contains(t, err.Error(), tt.why)
		})
	}
}

// genRealm draws valid realm names.
var genRealm = rapid.Custom(func(t *rapid.T) string {
	label := rapid.StringMatching(`[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?`)
	return strings.Join(rapid.SliceOfN(label, 1, 5).Draw(t, "labels"), ".")
})

func TestValidateRealmProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		realm := genRealm.Draw(t, "realm")
		if err := ValidateRealm(realm); err != nil {
			t.Fatalf("generated realm %q rejected: %v", realm, err)
		}
		// Upper-casing any letter makes it invalid.
		if i := strings.IndexFunc(realm, func(r rune) bool { return r >= 'a' && r <= 'z' }); i >= 0 {
			upper := realm[:i] + strings.ToUpper(realm[i:i+1]) + realm[i+1:]
			if ValidateRealm(upper) == nil {
				t.Fatalf("upper-cased realm %q accepted", upper)
			}
		}
	})
}

func FuzzValidateRealm(f *testing.F) {
	f.Add(DefaultRealm)
	f.Add("io.macula")
	f.Add("a-b.c")
	f.Add("")
	f.Add("A..b-")
	f.Fuzz(func(t *testing.T, realm string) {
		err := ValidateRealm(realm)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidRealm)
			return
		}
		require.LessOrEqual(t, len(realm), 253)
		require.Equal(t, strings.ToLower(realm), realm)
		for _, label := range strings.Split(realm, ".") {
			require.NotEmpty(t, label)
			require.LessOrEqual(t, len(label), 63)
			require.False(t, strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-"))
		}
		// Every valid realm works in a URI.
		u := URI{Realm: realm, NodeID: NodeID{1}}
		back, err := ParseURI(u.String())
		require.NoError(t, err)
		require.Equal(t, u, back)
	})
}
