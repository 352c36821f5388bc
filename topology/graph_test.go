package topology

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/security"
)

func TestGraphAdd(t *testing.T) {
	a, b, c := testID(1), testID(2), testID(3)
	g := NewGraph()
	g.AddNode(b, "bee")
	g.AddEdge(b, a)
	g.AddEdge(a, b)  // duplicate, other direction
	g.AddEdge(c, c)  // self-loop
	g.AddNode(b, "") // keeps the label
	g.AddNode(a, "ay")
	require.Equal(t, []GraphNode{{ID: b, Label: "bee"}, {ID: a, Label: "ay"}}, g.Nodes)
	require.Equal(t, []Edge{{From: a, To: b}}, g.Edges)

	// The zero value and struct literals work too.
	var z Graph
	z.AddEdge(a, b)
	require.Len(t, z.Nodes, 2)
	lit := &Graph{Nodes: []GraphNode{{ID: a}}, Edges: nil}
	lit.AddEdge(a, c)
	lit.AddEdge(c, a)
	require.Equal(t, []GraphNode{{ID: a}, {ID: c}}, lit.Nodes)
	require.Equal(t, []Edge{{From: a, To: c}}, lit.Edges)
}

// makeGraph builds a graph from edges given as pairs of testID numbers,
// plus isolated nodes.
func makeGraph(nodes []int, edges [][2]int) *Graph {
	g := NewGraph()
	for _, n := range nodes {
		g.AddNode(testID(n), "")
	}
	for _, e := range edges {
		g.AddEdge(testID(e[0]), testID(e[1]))
	}
	return g
}

func TestGraphConnectedDegree(t *testing.T) {
	for _, tc := range []struct {
		name      string
		nodes     []int
		edges     [][2]int
		connected bool
		degrees   map[int]int
		minDegree int
	}{
		{name: "empty", connected: true, degrees: map[int]int{1: 0}},
		{name: "one node", nodes: []int{1}, connected: true, degrees: map[int]int{1: 0}},
		{name: "two isolated", nodes: []int{1, 2}, degrees: map[int]int{1: 0, 2: 0}},
		{name: "edge", edges: [][2]int{{1, 2}}, connected: true, degrees: map[int]int{1: 1, 2: 1}, minDegree: 1},
		{name: "path", edges: [][2]int{{1, 2}, {3, 2}, {3, 4}}, connected: true, degrees: map[int]int{1: 1, 2: 2, 3: 2, 4: 1}, minDegree: 1},
		{name: "ring", edges: [][2]int{{1, 2}, {2, 3}, {3, 4}, {4, 1}}, connected: true, degrees: map[int]int{1: 2, 4: 2, 9: 0}, minDegree: 2},
		{name: "two components", edges: [][2]int{{1, 2}, {3, 4}}, degrees: map[int]int{1: 1, 3: 1}, minDegree: 1},
		{name: "star and isolated", nodes: []int{9}, edges: [][2]int{{1, 2}, {1, 3}, {1, 4}}, degrees: map[int]int{1: 3, 9: 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := makeGraph(tc.nodes, tc.edges)
			require.Equal(t, tc.connected, g.Connected())
			require.Equal(t, tc.minDegree, g.MinDegree())
			for n, d := range tc.degrees {
				require.Equal(t, d, g.Degree(testID(n)), "degree of %d", n)
			}
		})
	}
}

func TestGraphJSONRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		graph *Graph
	}{
		{"empty", NewGraph()},
		{"zero value", &Graph{}},
		{"isolated", makeGraph([]int{3, 1}, nil)},
		{"overlay", overlay(testIDs(1, 7), 3, nil)},
		{"labels", func() *Graph {
			g := makeGraph(nil, [][2]int{{5, 2}, {2, 9}})
			g.AddNode(testID(9), `nine "9" \ ünïcode`)
			return g
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.graph.JSON()
			require.NoError(t, err)
			g, err := ParseGraphJSON(b)
			require.NoError(t, err)
			require.ElementsMatch(t, tc.graph.Nodes, g.Nodes)
			require.ElementsMatch(t, tc.graph.Edges, g.Edges)
			b2, err := g.JSON()
			require.NoError(t, err)
			require.Equal(t, string(b), string(b2))
			require.Equal(t, tc.graph.Connected(), g.Connected())
		})
	}
}

func TestGraphJSONStable(t *testing.T) {
	g1 := makeGraph(nil, [][2]int{{1, 2}, {2, 3}, {3, 1}})
	g2 := makeGraph([]int{3, 2}, [][2]int{{1, 3}, {3, 2}, {2, 1}})
	b1, err := g1.JSON()
	require.NoError(t, err)
	b2, err := g2.JSON()
	require.NoError(t, err)
	require.Equal(t, string(b1), string(b2))

	one, err := makeGraph(nil, [][2]int{{2, 1}}).JSON()
	require.NoError(t, err)
	a, b := testID(1).String(), testID(2).String()
	require.Equal(t, `{"nodes":[{"id":"`+a+`"},{"id":"`+b+`"}],"edges":[{"from":"`+a+`","to":"`+b+`"}]}`, string(one))

	empty, err := (&Graph{}).JSON()
	require.NoError(t, err)
	require.Equal(t, `{"nodes":[],"edges":[]}`, string(empty))
}

func TestParseGraphJSON(t *testing.T) {
	a, b := testID(1), testID(2)
	as, bs := a.String(), b.String()
	for _, tc := range []struct {
		name  string
		in    string
		nodes []GraphNode
		edges []Edge
	}{
		{"empty object", `{}`, []GraphNode{}, []Edge{}},
		{"null", `null`, []GraphNode{}, []Edge{}},
		{"edge reversed, nodes missing", `{"edges":[{"from":"` + bs + `","to":"` + as + `"}]}`,
			[]GraphNode{{ID: b}, {ID: a}}, []Edge{{From: a, To: b}}},
		{"duplicates merged", `{"nodes":[{"id":"` + as + `","label":"x"},{"id":"` + as + `"}],"edges":[{"from":"` + as + `","to":"` + bs + `"},{"from":"` + bs + `","to":"` + as + `"}]}`,
			[]GraphNode{{ID: a, Label: "x"}, {ID: b}}, []Edge{{From: a, To: b}}},
		{"self-loop dropped", `{"nodes":[{"id":"` + as + `"}],"edges":[{"from":"` + as + `","to":"` + as + `"}]}`,
			[]GraphNode{{ID: a}}, []Edge{}},
		{"upper-case hex", `{"nodes":[{"id":"` + "0000000100000000000000000000000000000000000000000000000000000" + `0FF"}]}`,
			[]GraphNode{{ID: a}}, []Edge{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := ParseGraphJSON([]byte(tc.in))
			require.NoError(t, err)
			require.Equal(t, tc.nodes, g.Nodes)
			require.Equal(t, tc.edges, g.Edges)
		})
	}

	for _, in := range []string{
		``,
		`{`,
		`[]`,
		`{"nodes":{}}`,
		`{"nodes":[{"id":"abc"}]}`,
		`{"nodes":[{"id":1}]}`,
		`{"edges":[{"from":"` + as + `","to":"zz` + bs[2:] + `"}]}`,
	} {
		t.Run("invalid "+in, func(t *testing.T) {
			_, err := ParseGraphJSON([]byte(in))
			require.ErrorIs(t, err, ErrInvalidGraph)
		})
	}
}

func TestGraphDOT(t *testing.T) {
	g := makeGraph(nil, [][2]int{{3, 1}, {1, 2}, {2, 3}, {3, 4}})
	g.AddNode(testID(4), "edge \"4\"\nsecond line")
	want := `graph macula {
  "00000001000000000000000000000000000000000000000000000000000000ff" [label="00000001"];
  "00000002000000000000000000000000000000000000000000000000000000ff" [label="00000002"];
  "00000003000000000000000000000000000000000000000000000000000000ff" [label="00000003"];
  "00000004000000000000000000000000000000000000000000000000000000ff" [label="edge \"4\"\nsecond line"];
  "00000001000000000000000000000000000000000000000000000000000000ff" -- "00000002000000000000000000000000000000000000000000000000000000ff";
  "00000001000000000000000000000000000000000000000000000000000000ff" -- "00000003000000000000000000000000000000000000000000000000000000ff";
  "00000002000000000000000000000000000000000000000000000000000000ff" -- "00000003000000000000000000000000000000000000000000000000000000ff";
  "00000003000000000000000000000000000000000000000000000000000000ff" -- "00000004000000000000000000000000000000000000000000000000000000ff";
}
`
	require.Equal(t, want, g.DOT())
	require.Equal(t, "graph macula {\n}\n", NewGraph().DOT())
}

func TestDOTQuote(t *testing.T) {
	for in, want := range map[string]string{
		``:           `""`,
		`plain`:      `"plain"`,
		`a"b`:        `"a\"b"`,
		`a\b`:        `"a\\b"`,
		"one\r\ntwo": `"one\ntwo"`,
	} {
		require.Equal(t, want, dotQuote(in), "input %q", in)
	}
}

func FuzzParseGraphJSON(f *testing.F) {
	seeds := []*Graph{NewGraph(), overlay(testIDs(1, 5), 3, nil), makeGraph([]int{7}, [][2]int{{1, 2}})}
	seeds[2].AddNode(testID(7), "seven")
	for _, g := range seeds {
		b, err := g.JSON()
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"nodes":[{"id":"` + security.NodeID{}.String() + `"}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		g, err := ParseGraphJSON(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidGraph) {
				t.Fatalf("error %v does not wrap ErrInvalidGraph", err)
			}
			return
		}
		_ = g.DOT()
		_ = g.Connected()
		_ = g.MinDegree()
		b1, err := g.JSON()
		if err != nil {
			t.Fatalf("JSON: %v", err)
		}
		if !json.Valid(b1) {
			t.Fatalf("JSON wrote invalid JSON %q", b1)
		}
		g2, err := ParseGraphJSON(b1)
		if err != nil {
			t.Fatalf("cannot parse own encoding %q: %v", b1, err)
		}
		b2, err := g2.JSON()
		if err != nil {
			t.Fatalf("JSON: %v", err)
		}
		if string(b1) != string(b2) {
			t.Fatalf("encoding not stable:\n%s\n%s", b1, b2)
		}
		for _, e := range g2.Edges {
			if e.From.Compare(e.To) >= 0 {
				t.Fatalf("edge %v not normalised", e)
			}
		}
	})
}
