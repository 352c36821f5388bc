package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula"
	"github.com/org/macula/cmd/macula/internal/admin"
)

func nodeID(t *testing.T, hexPrefix string) macula.NodeID {
	t.Helper()
	id, err := macula.ParseNodeID(hexPrefix + strings.Repeat("0", 64-len(hexPrefix)))
	require.NoError(t, err)
	return id
}

func TestWriteMembers(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	a, b, c := nodeID(t, "0a1b2c3d"), nodeID(t, "ffeeddcc"), nodeID(t, "12345678")
	var out strings.Builder
	require.NoError(t, writeMembers(&out, []admin.Member{
		{ID: a, Self: true, State: "alive", Incarnation: 1, Addr: "127.0.0.1:4433", Version: "macula-go/0.1", Since: now.Add(-90 * time.Second)},
		{ID: b, State: "dead", Addr: "127.0.0.1:4434", Since: now.Add(-2 * time.Hour)},
		{ID: c, State: "suspect", Incarnation: 12, Addr: "127.0.0.1:4435", Since: now.Add(-3 * time.Second)},
	}, now))
	require.Equal(t, ""+
		"  NODE      STATE    INCARNATION  ADDRESS         VERSION        SINCE\n"+
		"* 0a1b2c3d  alive    1            127.0.0.1:4433  macula-go/0.1  1m30s ago\n"+
		"  ffeeddcc  dead     -            127.0.0.1:4434  -              2h ago\n"+
		"  12345678  suspect  12           127.0.0.1:4435  -              3s ago\n", out.String())
}

func TestWriteKeyring(t *testing.T) {
	kr := admin.Keyring{
		Keys: []admin.GossipKey{
			{Fingerprint: "1a2b3c4d5e6f7a8b", Primary: true, Bits: 256},
			{Fingerprint: "ffeeddccbbaa9988", Bits: 128},
		},
		Generation: 3,
		Packets:    admin.GossipStats{Sent: 120, Received: 118, Refused: 4, Dropped: 1},
	}
	var out strings.Builder
	require.NoError(t, writeKeyring(&out, kr))
	require.Equal(t, ""+
		"  FINGERPRINT       BITS\n"+
		"* 1a2b3c4d5e6f7a8b  256\n"+
		"  ffeeddccbbaa9988  128\n"+
		"2 keys, generation 3; gossip packets: sent 120, received 118, refused 4, dropped 1\n", out.String())

	// With the keys asked for, a KEY column.
	kr.Keys[0].Key, kr.Keys[1].Key = "AAAA", "BBBB"
	out.Reset()
	require.NoError(t, writeKeyring(&out, kr))
	require.Equal(t, ""+
		"  FINGERPRINT       BITS  KEY\n"+
		"* 1a2b3c4d5e6f7a8b  256   AAAA\n"+
		"  ffeeddccbbaa9988  128   BBBB\n"+
		"2 keys, generation 3; gossip packets: sent 120, received 118, refused 4, dropped 1\n", out.String())
}

func TestWriteStatsShowsGossip(t *testing.T) {
	var out strings.Builder
	require.NoError(t, writeStats(&out, admin.Stats{Gossip: admin.GossipStats{Sent: 7, Received: 6, Refused: 5, Dropped: 4}}))
	require.Contains(t, out.String(), "gossip         sent 7, received 6, refused 5, dropped 4 packets\n")
}

func TestWriteTopology(t *testing.T) {
	a, b, c := nodeID(t, "aa"), nodeID(t, "bb"), nodeID(t, "cc")
	topo := admin.Topology{
		Nodes: []admin.TopologyNode{{ID: a}, {ID: b}, {ID: c}},
		Edges: []admin.TopologyEdge{{From: a, To: c}, {From: a, To: b}},
	}
	var out strings.Builder
	require.NoError(t, writeTopology(&out, topo))
	require.Equal(t, ""+
		"NODE      LINKS\n"+
		"aa000000  bb000000 cc000000\n"+
		"bb000000  aa000000\n"+
		"cc000000  aa000000\n"+
		"3 nodes, 2 links, NOT connected\n", out.String(), "Connected comes from the node, not recomputed")

	g := graphOf(topo)
	require.True(t, g.Connected())
	require.Contains(t, g.DOT(), `"`+a.String()+`" -- "`+b.String()+`"`)
}

func TestPayloadRule(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		raw  bool
		want admin.Body
	}{
		{`{"c": 21.5}`, false, admin.Body{JSON: json.RawMessage(`{"c": 21.5}`)}},
		{`42`, false, admin.Body{JSON: json.RawMessage(`42`)}},
		{`"quoted"`, false, admin.Body{JSON: json.RawMessage(`"quoted"`)}},
		{`hello world`, false, admin.Body{Text: "hello world"}},
		{`{"c": 21.5}`, true, admin.Body{Text: `{"c": 21.5}`}},
		{"\xff\x00", false, admin.Body{Data: []byte{0xff, 0}}},
		{"", false, admin.Body{}},
	} {
		require.Equal(t, tc.want, bodyFromArg(tc.arg, tc.raw), "arg %q raw %v", tc.arg, tc.raw)
	}
}

func TestRenderBody(t *testing.T) {
	require.Equal(t, `{"a":[1,2]}`, inlineBody(admin.Body{JSON: json.RawMessage("{\"a\": [1,\n 2]}")}))
	require.Equal(t, `"two\nlines"`, inlineBody(admin.Body{Text: "two\nlines"}))
	require.Equal(t, "base64:/wA=", inlineBody(admin.Body{Data: []byte{0xff, 0}}))
	require.Equal(t, "(empty)", inlineBody(admin.Body{}))

	require.Equal(t, "{\n  \"a\": 1\n}\n", blockBody(admin.Body{JSON: json.RawMessage(`{"a":1}`)}))
	require.Equal(t, "text\n", blockBody(admin.Body{Text: "text"}))
	require.Empty(t, blockBody(admin.Body{}))
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second:                     "0s",
		1400 * time.Millisecond:          "1s",
		192 * time.Second:                "3m12s",
		5*time.Hour + 3*time.Minute:      "5h3m",
		50*time.Hour + 20*time.Minute:    "2d2h",
		5*time.Hour + 30*time.Second + 1: "5h1m",
	} {
		require.Equal(t, want, formatDuration(d), "%v", d)
	}
}
