// Package topology decides which peers each Macula node keeps long-lived
// links to, keeps those links up, and exports the overlay graph.
//
// The overlay is computed, not negotiated: [Neighbours] sorts the IDs of
// the alive members into a ring and links each node to its neighbours in
// the Harary graph H(k,n), where k is the degree ([DefaultK] = 2, a ring).
// Every node that sees the same membership computes the same overlay, and
// the result is k-connected: it stays connected when any k-1 nodes fail.
//
// A [Manager] applies the overlay for one node. Given the membership with
// [Manager.SetMembers], it calls [Connector.Connect] for each neighbour
// that is not connected, retries failures with per-neighbour exponential
// backoff and jitter, and re-checks whenever a link goes down
// ([Manager.PeerDown]), the membership changes, or [Config.CheckInterval]
// passes. It only ever opens links; links to other peers are left to the
// subsystems that made them.
//
// A [Graph] holds an overlay (as measured, or as computed) for tools: it
// encodes to JSON ([Graph.JSON], [ParseGraphJSON]) and Graphviz DOT
// ([Graph.DOT]) in a stable order, and answers [Graph.Connected] and
// [Graph.Degree].
//
// All errors wrap one of the sentinel errors declared in this package
// ([ErrInvalidConfig], [ErrInvalidGraph]); test them with [errors.Is].
//
// # Usage
//
// The Node implements [Connector] and feeds the Manager:
//
//	m, err := topology.New(topology.Config{
//		Self:      self,      // this node's security.NodeID
//		Connector: node,      // Connect dials a peer, Connected reports a link
//		Logger:    logger,
//	})
//	if err != nil { ... }
//	m.Start()
//	defer m.Close()
//
//	m.SetMembers(aliveIDs) // on every membership change
//	m.PeerDown(id)         // whenever a connection ends
//
// A tool can draw the overlay a membership should produce:
//
//	g := topology.NewGraph()
//	for _, a := range ids {
//		g.AddNode(a, "")
//		for _, b := range topology.Neighbours(a, ids, topology.DefaultK) {
//			g.AddEdge(a, b)
//		}
//	}
//	fmt.Print(g.DOT()) // render with: dot -Tsvg
package topology
