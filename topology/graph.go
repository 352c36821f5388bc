package topology

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/org/macula/security"
)

// Graph is an undirected overlay graph, for tools (the CLI, the observer)
// and tests: build it with [Graph.AddNode] and [Graph.AddEdge], export it
// with [Graph.JSON] or [Graph.DOT], read it back with [ParseGraphJSON].
//
// Nodes and Edges are exported for encoding and reading; change them only
// through AddNode and AddEdge, which keep them free of duplicates. The
// zero value is an empty graph ready to use. A Graph is not safe for
// concurrent use by multiple goroutines while it is being modified.
type Graph struct {
	// Nodes lists each node once, in the order added.
	Nodes []GraphNode `json:"nodes"`
	// Edges lists each undirected edge once, with From < To, in the order
	// added.
	Edges []Edge `json:"edges"`

	// index maps a node ID to its position in Nodes; edges holds Edges as
	// a set. Both are built on first use, so struct literals work too.
	index map[security.NodeID]int
	edges map[Edge]struct{}
}

// GraphNode is a node of a [Graph].
type GraphNode struct {
	// ID is the node's ID, encoded in JSON as 64 hex digits.
	ID security.NodeID `json:"id"`
	// Label is an optional display name; empty means none, and [Graph.DOT]
	// then shows [security.NodeID.Short].
	Label string `json:"label,omitempty"`
}

// Edge is an undirected edge of a [Graph], stored with From < To.
type Edge struct {
	From security.NodeID `json:"from"` // the lower of the two node IDs
	To   security.NodeID `json:"to"`   // the higher one
}

// NewGraph returns an empty graph.
func NewGraph() *Graph {
	return &Graph{Nodes: []GraphNode{}, Edges: []Edge{}}
}

// sync builds the lookup maps if they are missing or out of step with the
// exported slices.
func (g *Graph) sync() {
	if g.index == nil || len(g.index) != len(g.Nodes) {
		g.index = make(map[security.NodeID]int, len(g.Nodes))
		for i, n := range g.Nodes {
			g.index[n.ID] = i
		}
	}
	if g.edges == nil || len(g.edges) != len(g.Edges) {
		g.edges = make(map[Edge]struct{}, len(g.Edges))
		for _, e := range g.Edges {
			g.edges[e] = struct{}{}
		}
	}
}

// AddNode adds id to the graph with the given label (empty for none). If
// id is already present, its label is replaced when label is not empty.
func (g *Graph) AddNode(id security.NodeID, label string) {
	g.sync()
	if i, ok := g.index[id]; ok {
		if label != "" {
			g.Nodes[i].Label = label
		}
		return
	}
	g.index[id] = len(g.Nodes)
	g.Nodes = append(g.Nodes, GraphNode{ID: id, Label: label})
}

// AddEdge adds the undirected edge a -- b, adding a and b as nodes (without
// labels) if they are missing. An edge already present, in either
// direction, is not added again, and a self-loop (a == b) is ignored.
func (g *Graph) AddEdge(a, b security.NodeID) {
	if a == b {
		return
	}
	g.AddNode(a, "")
	g.AddNode(b, "")
	e := newEdge(a, b)
	if _, ok := g.edges[e]; ok {
		return
	}
	g.edges[e] = struct{}{}
	g.Edges = append(g.Edges, e)
}

func newEdge(a, b security.NodeID) Edge {
	if a.Compare(b) > 0 {
		a, b = b, a
	}
	return Edge{From: a, To: b}
}

// sorted returns copies of the nodes and edges, sorted by ID and by
// (From, To), so that encodings do not depend on insertion order.
func (g *Graph) sorted() ([]GraphNode, []Edge) {
	nodes := slices.Clone(g.Nodes)
	if nodes == nil {
		nodes = []GraphNode{}
	}
	slices.SortFunc(nodes, func(a, b GraphNode) int { return a.ID.Compare(b.ID) })
	edges := slices.Clone(g.Edges)
	if edges == nil {
		edges = []Edge{}
	}
	slices.SortFunc(edges, func(a, b Edge) int {
		if c := a.From.Compare(b.From); c != 0 {
			return c
		}
		return a.To.Compare(b.To)
	})
	return nodes, edges
}

// JSON encodes the graph as
//
//	{"nodes":[{"id":"<hex>","label":"..."}],"edges":[{"from":"<hex>","to":"<hex>"}]}
//
// with nodes sorted by ID and edges by (from, to), so that equal graphs
// encode to equal bytes. Empty lists encode as [], not null.
func (g *Graph) JSON() ([]byte, error) {
	nodes, edges := g.sorted()
	return json.Marshal(struct {
		Nodes []GraphNode `json:"nodes"`
		Edges []Edge      `json:"edges"`
	}{nodes, edges})
}

// ParseGraphJSON decodes a graph in the form written by [Graph.JSON]. It
// builds the result through [Graph.AddNode] and [Graph.AddEdge], so
// duplicate nodes and edges are merged, edges are normalised to From < To,
// edge endpoints missing from "nodes" are added and self-loops are
// dropped. Malformed JSON and invalid node IDs yield an error wrapping
// [ErrInvalidGraph].
func ParseGraphJSON(b []byte) (*Graph, error) {
	var raw struct {
		Nodes []GraphNode `json:"nodes"`
		Edges []Edge      `json:"edges"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidGraph, err)
	}
	g := NewGraph()
	for _, n := range raw.Nodes {
		g.AddNode(n.ID, n.Label)
	}
	for _, e := range raw.Edges {
		g.AddEdge(e.From, e.To)
	}
	return g, nil
}

// DOT renders the graph in Graphviz DOT syntax:
//
//	graph macula {
//	  "<hex>" [label="<short>"];
//	  "<hex>" -- "<hex>";
//	}
//
// Nodes are named by their full ID and labelled with their Label, or
// [security.NodeID.Short] when it is empty. Nodes are sorted by ID and
// edges by (From, To), so equal graphs render to equal text.
func (g *Graph) DOT() string {
	nodes, edges := g.sorted()
	var b strings.Builder
	b.WriteString("graph macula {\n")
	for _, n := range nodes {
		label := n.Label
		if label == "" {
			label = n.ID.Short()
		}
		fmt.Fprintf(&b, "  %q [label=%s];\n", n.ID.String(), dotQuote(label))
	}
	for _, e := range edges {
		fmt.Fprintf(&b, "  %q -- %q;\n", e.From.String(), e.To.String())
	}
	b.WriteString("}\n")
	return b.String()
}

// dotQuote quotes s as a DOT string. DOT only knows the escape \" in
// quoted strings (and keeps any other backslash for the renderer), so
// quotes and backslashes are escaped, and line breaks become \n, the
// renderer's own line break.
func dotQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			// dropped: \r\n is one line break
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// adjacency returns the neighbours of each node by its index in Nodes.
func (g *Graph) adjacency() [][]int {
	g.sync()
	adj := make([][]int, len(g.Nodes))
	for _, e := range g.Edges {
		a, okA := g.index[e.From]
		b, okB := g.index[e.To]
		if !okA || !okB || a == b {
			continue // only possible if the fields were edited directly
		}
		adj[a] = append(adj[a], b)
		adj[b] = append(adj[b], a)
	}
	return adj
}

// Connected reports whether every node can reach every other node along
// edges. A graph with zero or one node is connected.
func (g *Graph) Connected() bool {
	if len(g.Nodes) <= 1 {
		return true
	}
	adj := g.adjacency()
	seen := make([]bool, len(adj))
	seen[0] = true
	queue := []int{0}
	reached := 1
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, w := range adj[v] {
			if !seen[w] {
				seen[w] = true
				reached++
				queue = append(queue, w)
			}
		}
	}
	return reached == len(adj)
}

// Degree returns the number of edges at id; 0 if id is not in the graph.
func (g *Graph) Degree(id security.NodeID) int {
	d := 0
	for _, e := range g.Edges {
		if e.From == id || e.To == id {
			d++
		}
	}
	return d
}

// MinDegree returns the smallest degree of any node, or 0 for an empty
// graph.
func (g *Graph) MinDegree() int {
	if len(g.Nodes) == 0 {
		return 0
	}
	adj := g.adjacency()
	minDeg := len(adj[0])
	for _, nb := range adj[1:] {
		minDeg = min(minDeg, len(nb))
	}
	return minDeg
}
