// Package membership tracks which nodes of a realm are alive, using SWIM
// with Lifeguard (hashicorp/memberlist) over Macula's QUIC connections.
//
// memberlist's packets (probes, acks, gossip) travel as QUIC datagrams and
// its streams (push/pull state exchange, fallback pings) as QUIC streams,
// all on the connections the transport has already verified with mutual
// TLS. There is no second socket and no unauthenticated traffic. A packet
// for a node we are not yet connected to is held while the connection is
// dialed, so the first probe of a new member is not lost.
//
// Members are alive, suspect, dead (failed without leaving) or left
// (announced its departure). Join, leave, fail and update events are
// delivered to watchers in order. Node metadata (advertised addresses,
// version, tags, overlay links) rides memberlist's node meta.
//
// # Usage
//
//	m, err := membership.New(tr, membership.Meta{Addrs: addrs}, membership.DefaultConfig(), log)
//	n, err := m.Join(ctx, peerID, "10.0.0.7:4433")
//	for ev := range m.Watch(ctx) { ... }
//	m.Leave(time.Second) // graceful: others see StateLeft
//	m.Close()
package membership
