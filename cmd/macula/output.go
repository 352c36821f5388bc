package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/org/macula"
	"github.com/org/macula/cmd/macula/internal/admin"
	"github.com/org/macula/topology"
)

// table is a text/tabwriter for aligned columns, two spaces apart.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	if len(header) > 0 {
		t.row(header...)
	}
	return t
}

func (t *table) row(cells ...string) { fmt.Fprintln(t.tw, strings.Join(cells, "\t")) }

func (t *table) flush() error { return t.tw.Flush() }

// writeMembers prints members, the node itself marked with '*'.
func writeMembers(w io.Writer, ms []admin.Member, now time.Time) error {
	t := newTable(w, "  NODE", "STATE", "INCARNATION", "ADDRESS", "VERSION", "SINCE")
	for _, m := range ms {
		mark := "  "
		if m.Self {
			mark = "* "
		}
		inc := "-" // none seen yet
		if m.Incarnation != 0 {
			inc = strconv.FormatUint(uint64(m.Incarnation), 10)
		}
		t.row(mark+m.ID.Short(), m.State, inc, orDash(m.Addr), orDash(m.Version), ago(now, m.Since))
	}
	return t.flush()
}

// writeKeyring prints the gossip keys, the primary marked with '*', then
// the generation and the packet counters.
func writeKeyring(w io.Writer, kr admin.Keyring) error {
	header := []string{"  FINGERPRINT", "BITS"}
	showKeys := len(kr.Keys) > 0 && kr.Keys[0].Key != ""
	if showKeys {
		header = append(header, "KEY")
	}
	t := newTable(w, header...)
	for _, k := range kr.Keys {
		mark := "  "
		if k.Primary {
			mark = "* "
		}
		row := []string{mark + k.Fingerprint, strconv.Itoa(k.Bits)}
		if showKeys {
			row = append(row, k.Key)
		}
		t.row(row...)
	}
	if err := t.flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%s, generation %d; %s\n", keyCount(len(kr.Keys)), kr.Generation, gossipCounters(kr.Packets))
	return err
}

// keyCount is "1 key" or "n keys".
func keyCount(n int) string {
	if n == 1 {
		return "1 key"
	}
	return strconv.Itoa(n) + " keys"
}

// gossipCounters describes the gossip packet counters in one line.
func gossipCounters(g admin.GossipStats) string {
	return fmt.Sprintf("gossip packets: sent %d, received %d, refused %d, dropped %d", g.Sent, g.Received, g.Refused, g.Dropped)
}

// writePeers prints connected peers.
func writePeers(w io.Writer, ps []admin.Peer, now time.Time) error {
	t := newTable(w, "NODE", "ADDRESS", "DIRECTION", "RTT", "CONNECTED", "SOFTWARE")
	for _, p := range ps {
		dir := "inbound"
		if p.Outbound {
			dir = "outbound"
		}
		t.row(p.ID.Short(), orDash(p.RemoteAddr), dir, formatMillis(p.RTTMillis), ago(now, p.ConnectedAt), orDash(p.Software))
	}
	return t.flush()
}

// writeTopology prints each node with its overlay neighbours, then a
// summary line.
func writeTopology(w io.Writer, topo admin.Topology) error {
	links := make(map[macula.NodeID][]macula.NodeID)
	for _, e := range topo.Edges {
		links[e.From] = append(links[e.From], e.To)
		links[e.To] = append(links[e.To], e.From)
	}
	t := newTable(w, "NODE", "LINKS")
	for _, n := range topo.Nodes {
		ns := links[n.ID]
		sort.Slice(ns, func(i, j int) bool { return ns[i].Compare(ns[j]) < 0 })
		shorts := make([]string, len(ns))
		for i, id := range ns {
			shorts[i] = id.Short()
		}
		t.row(n.ID.Short(), orDash(strings.Join(shorts, " ")))
	}
	if err := t.flush(); err != nil {
		return err
	}
	state := "connected"
	if !topo.Connected {
		state = "NOT connected"
	}
	_, err := fmt.Fprintf(w, "%d nodes, %d links, %s\n", len(topo.Nodes), len(topo.Edges), state)
	return err
}

// writeRoutes prints the routing table.
func writeRoutes(w io.Writer, rs []admin.Route) error {
	t := newTable(w, "NODE", "ADDRESSES")
	for _, r := range rs {
		t.row(r.ID.Short(), orDash(strings.Join(r.Addrs, " ")))
	}
	return t.flush()
}

// writeStats prints the counters as name/value lines.
func writeStats(w io.Writer, st admin.Stats) error {
	t := newTable(w)
	uptime := time.Duration(st.UptimeSeconds * float64(time.Second))
	t.row("node", st.Node.ID.String())
	t.row("realm", st.Node.Realm)
	t.row("address", st.Node.Addr)
	t.row("version", orDash(st.Node.Version))
	t.row("uptime", formatDuration(uptime))
	t.row("peers", strconv.Itoa(st.Peers))
	t.row("members", fmt.Sprintf("%d alive, %d known", st.MembersAlive, st.Members))
	ps := st.PubSub
	t.row("messages", fmt.Sprintf("in %d, out %d, published %d", ps.In, ps.Out, ps.Published))
	t.row("drops", fmt.Sprintf("%d dropped by full queues, %d lost sends, %d refused", ps.Dropped, ps.SendFailed, ps.Refused))
	t.row("subscriptions", strconv.Itoa(ps.Subscriptions))
	g := st.Gossip
	t.row("gossip", fmt.Sprintf("sent %d, received %d, refused %d, dropped %d packets", g.Sent, g.Received, g.Refused, g.Dropped))
	r := st.RPC
	t.row("calls", fmt.Sprintf("made %d (failed %d, failovers %d), served %d (received %d, refused %d)",
		r.Calls, r.Failed, r.Failovers, r.Served, r.Received, r.Refused))
	return t.flush()
}

// writeEvent prints one received event on one line.
func writeEvent(w io.Writer, e *admin.Event) error {
	_, err := fmt.Fprintf(w, "%s  %s  %s  %s\n", e.Time.Local().Format("15:04:05.000"), e.Topic, e.Publisher.Short(), inlineBody(e.Body))
	return err
}

// inlineBody renders a payload on one line: JSON compact, text quoted
// when it has line breaks, bytes as base64.
func inlineBody(b admin.Body) string {
	switch {
	case len(b.JSON) > 0:
		var buf bytes.Buffer
		if json.Compact(&buf, b.JSON) == nil {
			return buf.String()
		}
		return string(b.JSON)
	case b.Text != "":
		if strings.ContainsAny(b.Text, "\r\n") {
			return strconv.Quote(b.Text)
		}
		return b.Text
	case len(b.Data) > 0:
		return "base64:" + base64.StdEncoding.EncodeToString(b.Data)
	}
	return "(empty)"
}

// blockBody renders a payload for reading: JSON indented, text as is,
// bytes as base64; it ends with a newline unless empty.
func blockBody(b admin.Body) string {
	switch {
	case len(b.JSON) > 0:
		var buf bytes.Buffer
		if json.Indent(&buf, b.JSON, "", "  ") == nil {
			return buf.String() + "\n"
		}
		return string(b.JSON) + "\n"
	case b.Text != "":
		return strings.TrimSuffix(b.Text, "\n") + "\n"
	case len(b.Data) > 0:
		return base64.StdEncoding.EncodeToString(b.Data) + "\n"
	}
	return ""
}

// bodyFromArg is the payload rule of publish and call: an argument that
// parses as JSON is sent as JSON (application/json), anything else, or
// anything with --raw, as its bytes (application/octet-stream).
func bodyFromArg(arg string, raw bool) admin.Body {
	if !raw && json.Valid([]byte(arg)) {
		return admin.Body{JSON: json.RawMessage(arg)}
	}
	if arg == "" {
		return admin.Body{}
	}
	if utf8.ValidString(arg) {
		return admin.Body{Text: arg}
	}
	return admin.Body{Data: []byte(arg)}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func formatMillis(ms float64) string {
	if ms <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fms", ms)
}

// ago is how long before now t was, e.g. "12s ago".
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return formatDuration(now.Sub(t)) + " ago"
}

// formatDuration rounds d for people: 42s, 3m12s, 5h3m, 2d4h.
func formatDuration(d time.Duration) string {
	d = max(d, 0)
	switch {
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 24*time.Hour:
		d = d.Round(time.Minute)
		if m := (d % time.Hour) / time.Minute; m != 0 {
			return fmt.Sprintf("%dh%dm", d/time.Hour, m)
		}
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	d = d.Round(time.Hour)
	if h := (d % (24 * time.Hour)) / time.Hour; h != 0 {
		return fmt.Sprintf("%dd%dh", d/(24*time.Hour), h)
	}
	return fmt.Sprintf("%dd", d/(24*time.Hour))
}

// graphOf rebuilds the overlay graph of a Topology, for its DOT form.
func graphOf(t admin.Topology) *macula.Graph {
	g := topology.NewGraph()
	for _, n := range t.Nodes {
		g.AddNode(n.ID, n.Label)
	}
	for _, e := range t.Edges {
		g.AddEdge(e.From, e.To)
	}
	return g
}
