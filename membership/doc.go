// Package membership tracks which nodes of a realm are alive, using SWIM
// with Lifeguard (hashicorp/memberlist).
//
// memberlist's packets (probes, acks, gossip) travel as raw UDP datagrams
// on the node's one socket, the one QUIC uses, each sealed with the
// realm's gossip keyring (AES-GCM; a packet that opens with no installed
// key is dropped and counted). They never wait for a connection, so a
// node need not hold a connection to every member. Its streams (the
// push/pull state exchange) travel as QUIC streams on connections the
// transport has verified with mutual TLS. This package also reads the
// SWIM messages that pass, to report suspicions, refutations and
// incarnations, and sends refutations and long suspicions straight to
// the members concerned (liveness.go).
//
// Members are alive, suspect, dead (failed without leaving) or left
// (announced its departure). Join, leave, fail, update, suspect and refute events are
// delivered to watchers in order. Node metadata (advertised addresses,
// version, tags, overlay links) rides memberlist's node meta.
//
// # Usage
//
//	m, err := membership.New(tr, membership.Meta{Addrs: addrs}, membership.DefaultConfig(), log)
//	err = m.Join(peerID, "10.0.0.7:4433")
//	for ev := range m.Watch(ctx) { ... }
//	m.Leave() // graceful: others see StateLeft
//	m.Close()
package membership
