package security

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

const sampleHex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

func TestNodeIDFromPublicKey(t *testing.T) {
	id := newTestIdentity(t)
	pub := id.PublicKey()
	require.Equal(t, NodeID(sha256.Sum256(pub)), NodeIDFromPublicKey(pub))
	require.Equal(t, id.ID(), NodeIDFromPublicKey(pub))

	other := newTestIdentity(t)
	require.NotEqual(t, NodeIDFromPublicKey(pub), NodeIDFromPublicKey(other.PublicKey()))
}

func TestParseNodeID(t *testing.T) {
	want := mustNodeID(t, sampleHex)
	require.Equal(t, byte(0x00), want[0])
	require.Equal(t, byte(0x11), want[1])
	require.Equal(t, byte(0xff), want[31])

	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"lower", sampleHex, true},
		{"upper", strings.ToUpper(sampleHex), true},
		{"mixed", "00112233445566778899AaBbCcDdEeFf00112233445566778899aabbccddeeff", true},
		{"empty", "", false},
		{"short", sampleHex[:63], false},
		{"long", sampleHex + "0", false},
		{"half", sampleHex[:32], false},
		{"non-hex", "g" + sampleHex[1:], false},
		{"0x prefix", "0x" + sampleHex[2:], false},
		{"space", " " + sampleHex[1:], false},
		{"trailing newline", sampleHex[:63] + "\n", false},
		{"multibyte", "é" + sampleHex[2:], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseNodeID(tt.in)
			if !tt.ok {
				require.ErrorIs(t, err, ErrInvalidNodeID)
				require.True(t, got.IsZero())
				return
			}
			require.NoError(t, err)
			require.Equal(t, want, got)
		})
	}
}

func TestNodeIDStringAndShort(t *testing.T) {
	id := mustNodeID(t, strings.ToUpper(sampleHex))
	require.Equal(t, sampleHex, id.String())
	require.Equal(t, "00112233", id.Short())
	require.Equal(t, strings.Repeat("0", 64), NodeID{}.String())
	require.Equal(t, "00000000", NodeID{}.Short())
}

func TestNodeIDIsZero(t *testing.T) {
	require.True(t, NodeID{}.IsZero())
	var id NodeID
	id[31] = 1
	require.False(t, id.IsZero())
	require.False(t, newTestIdentity(t).ID().IsZero())
}

func TestNodeIDCompare(t *testing.T) {
	var lo, hi NodeID
	hi[0] = 1
	lo[31] = 0xff
	require.Equal(t, -1, lo.Compare(hi))
	require.Equal(t, 1, hi.Compare(lo))
	require.Equal(t, 0, hi.Compare(hi))
	require.Equal(t, -1, NodeID{}.Compare(lo))
}

func TestNodeIDCompareProperties(t *testing.T) {
	genID := rapid.Custom(func(t *rapid.T) NodeID {
		var id NodeID
		copy(id[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "bytes"))
		return id
	})
	rapid.Check(t, func(t *rapid.T) {
		a, b, c := genID.Draw(t, "a"), genID.Draw(t, "b"), genID.Draw(t, "c")
		if a.Compare(b) != -b.Compare(a) {
			t.Fatalf("not antisymmetric: %s vs %s", a, b)
		}
		if (a.Compare(b) == 0) != (a == b) {
			t.Fatalf("Compare 0 disagrees with ==: %s vs %s", a, b)
		}
		if a.Compare(b) <= 0 && b.Compare(c) <= 0 && a.Compare(c) > 0 {
			t.Fatalf("not transitive: %s %s %s", a, b, c)
		}
		// Hex text sorts like the bytes.
		if want := strings.Compare(a.String(), b.String()); a.Compare(b) != want {
			t.Fatalf("Compare %d, text compare %d", a.Compare(b), want)
		}
	})
}

func TestNodeIDTextRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var id NodeID
		copy(id[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "bytes"))
		text, err := id.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		if string(text) != id.String() {
			t.Fatalf("MarshalText %q, String %q", text, id.String())
		}
		var back NodeID
		if err := back.UnmarshalText(text); err != nil {
			t.Fatal(err)
		}
		if back != id {
			t.Fatalf("round trip %s -> %s", id, back)
		}
		parsed, err := ParseNodeID(id.String())
		if err != nil || parsed != id {
			t.Fatalf("ParseNodeID(String()) = %s, %v", parsed, err)
		}
	})
}

func TestNodeIDJSON(t *testing.T) {
	id := newTestIdentity(t).ID()
	type doc struct {
		Peer  NodeID            `json:"peer"`
		Seen  map[NodeID]int    `json:"seen"`
		Addrs map[string]NodeID `json:"addrs"`
	}
	in := doc{Peer: id, Seen: map[NodeID]int{id: 3}, Addrs: map[string]NodeID{"a": id}}
	data, err := json.Marshal(in)
	require.NoError(t, err)
	require.Contains(t, string(data), `"peer":"`+id.String()+`"`)

	var out doc
	require.NoError(t, json.Unmarshal(data, &out))
	require.Equal(t, in, out)

	err = json.Unmarshal([]byte(`{"peer":"nothex"}`), &out)
	require.ErrorIs(t, err, ErrInvalidNodeID)
}

func TestNodeIDUnmarshalTextErrorKeepsValue(t *testing.T) {
	id := newTestIdentity(t).ID()
	before := id
	require.ErrorIs(t, id.UnmarshalText([]byte("zz")), ErrInvalidNodeID)
	require.Equal(t, before, id)
}

func FuzzParseNodeID(f *testing.F) {
	f.Add(sampleHex)
	f.Add(strings.ToUpper(sampleHex))
	f.Add(NodeIDFromPublicKey(make(ed25519.PublicKey, ed25519.PublicKeySize)).String())
	f.Add("")
	f.Add("xyz")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseNodeID(s)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidNodeID)
			require.True(t, id.IsZero())
			return
		}
		require.Equal(t, strings.ToLower(s), id.String())
		back, err := ParseNodeID(id.String())
		require.NoError(t, err)
		require.Equal(t, id, back)
	})
}

func TestNodeIDFromBytes(t *testing.T) {
	id, err := GenerateIdentity()
	require.NoError(t, err)
	raw := id.ID()
	got, err := NodeIDFromBytes(raw[:])
	require.NoError(t, err)
	require.Equal(t, id.ID(), got)
	_, err = NodeIDFromBytes(make([]byte, 31))
	require.ErrorIs(t, err, ErrInvalidNodeID)
}
