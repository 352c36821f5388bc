package security

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestParseURI(t *testing.T) {
	id := mustNodeID(t, sampleHex)
	base := "macula://org.example.mesh/" + sampleHex
	tests := []struct {
		name      string
		in        string
		want      URI
		canonical string // "" means in itself
	}{
		{"no address", base, URI{Realm: DefaultRealm, NodeID: id}, ""},
		{"host name", base + "@node1.example.com:4433", URI{DefaultRealm, id, "node1.example.com:4433"}, ""},
		{"IPv4", base + "@10.0.0.1:1", URI{DefaultRealm, id, "10.0.0.1:1"}, ""},
		{"IPv6", base + "@[::1]:4433", URI{DefaultRealm, id, "[::1]:4433"}, ""},
		{"IPv6 full", base + "@[2001:db8::42]:65535", URI{DefaultRealm, id, "[2001:db8::42]:65535"}, ""},
		{"IPv6 zone", base + "@[fe80::1%eth0]:4433", URI{DefaultRealm, id, "[fe80::1%eth0]:4433"}, ""},
		{"IPv4-mapped IPv6", base + "@[::ffff:1.2.3.4]:80", URI{DefaultRealm, id, "[::ffff:1.2.3.4]:80"}, ""},
		{"upper-case scheme", "MACULA://org.example.mesh/" + sampleHex, URI{Realm: DefaultRealm, NodeID: id}, base},
		{"upper-case node id", "macula://org.example.mesh/" + strings.ToUpper(sampleHex), URI{Realm: DefaultRealm, NodeID: id}, base},
		{"single-label realm", "macula://lab/" + sampleHex + "@h:9", URI{"lab", id, "h:9"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseURI(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			canonical := tt.canonical
			if canonical == "" {
				canonical = tt.in
			}
			require.Equal(t, canonical, got.String())
		})
	}
}

func TestParseURIRejects(t *testing.T) {
	base := "macula://org.example.mesh/" + sampleHex
	tests := []struct {
		name  string
		in    string
		cause error // a more specific sentinel also wrapped, if any
	}{
		{"empty", "", nil},
		{"other scheme", "https://org.example.mesh/" + sampleHex, nil},
		{"no slashes", "macula:org.example.mesh/" + sampleHex, nil},
		{"prefix only", "macula://", nil},
		{"no node id", "macula://org.example.mesh", nil},
		{"empty realm", "macula:///" + sampleHex, ErrInvalidRealm},
		{"upper-case realm", "macula://Org.example.mesh/" + sampleHex, ErrInvalidRealm},
		{"realm with port", "macula://org.example.mesh:80/" + sampleHex, ErrInvalidRealm},
		{"empty node id", "macula://org.example.mesh/", ErrInvalidNodeID},
		{"short node id", base[:len(base)-1], ErrInvalidNodeID},
		{"trailing slash", base + "/", ErrInvalidNodeID},
		{"query", base + "?x=1", ErrInvalidNodeID},
		{"fragment", base + "#x", ErrInvalidNodeID},
		{"empty address", base + "@", nil},
		{"no port", base + "@host", nil},
		{"empty port", base + "@host:", nil},
		{"empty host", base + "@:4433", nil},
		{"port 0", base + "@host:0", nil},
		{"port too big", base + "@host:65536", nil},
		{"port leading zero", base + "@host:0443", nil},
		{"port sign", base + "@host:+443", nil},
		{"port name", base + "@host:https", nil},
		{"bare IPv6", base + "@::1:4433", nil},
		{"bracketed IPv4", base + "@[1.2.3.4]:80", nil},
		{"bracketed name", base + "@[host]:80", nil},
		{"bad IPv6", base + "@[::g]:80", nil},
		{"slash in host", base + "@a/b:80", nil},
		{"second at", base + "@a@b:80", nil},
		{"space in host", base + "@a b:80", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := ParseURI(tt.in)
			require.ErrorIs(t, err, ErrInvalidURI)
			if tt.cause != nil {
				require.ErrorIs(t, err, tt.cause)
			}
			require.Equal(t, URI{}, u)
		})
	}
}

// genURI draws valid URIs, with and without addresses.
var genURI = rapid.Custom(func(t *rapid.T) URI {
	var id NodeID
	copy(id[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "id"))
	u := URI{Realm: genRealm.Draw(t, "realm"), NodeID: id}
	port := strconv.Itoa(rapid.IntRange(1, 65535).Draw(t, "port"))
	switch rapid.IntRange(0, 3).Draw(t, "addr kind") {
	case 1:
		u.Addr = rapid.StringMatching(`[a-zA-Z0-9][a-zA-Z0-9._-]{0,30}`).Draw(t, "host") + ":" + port
	case 2:
		b := rapid.SliceOfN(rapid.Byte(), 4, 4).Draw(t, "ipv4")
		u.Addr = strconv.Itoa(int(b[0])) + "." + strconv.Itoa(int(b[1])) + "." +
			strconv.Itoa(int(b[2])) + "." + strconv.Itoa(int(b[3])) + ":" + port
	case 3:
		groups := rapid.SliceOfN(rapid.StringMatching(`[0-9a-f]{1,4}`), 8, 8).Draw(t, "ipv6")
		u.Addr = "[" + strings.Join(groups, ":") + "]:" + port
	}
	return u
})

func TestURIRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		u := genURI.Draw(t, "uri")
		back, err := ParseURI(u.String())
		if err != nil {
			t.Fatalf("ParseURI(%q): %v", u.String(), err)
		}
		if back != u {
			t.Fatalf("round trip: %#v -> %#v", u, back)
		}
	})
}

func FuzzParseURI(f *testing.F) {
	base := "macula://org.example.mesh/" + sampleHex
	f.Add(base)
	f.Add(base + "@node1.example.com:4433")
	f.Add(base + "@10.0.0.1:1")
	f.Add(base + "@[::1]:4433")
	f.Add(base + "@[fe80::1%eth0]:4433")
	f.Add("MACULA://a/" + strings.ToUpper(sampleHex))
	f.Add("macula://")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURI(s)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidURI)
			require.Equal(t, URI{}, u)
			return
		}
		canonical := u.String()
		back, err := ParseURI(canonical)
		require.NoError(t, err, "canonical form %q of %q", canonical, s)
		require.Equal(t, u, back)
		require.Equal(t, canonical, back.String())
	})
}
