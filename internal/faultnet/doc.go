// Package faultnet is the faulty network under Macula's test harnesses:
// the public meshtest package (whole nodes) and internal/stacktest (the
// transport, DHT and directory that pub/sub and RPC are tested on). It is
// the one place where partitions, packet loss, latency, crashed nodes and
// paused nodes are decided.
//
// A [Net] holds the faults; each node's socket is a [Conn], a
// net.PacketConn that asks the Net about every packet it sends. A Conn
// wraps either an endpoint of quic-go's in-memory network
// (testutils/simnet, for tests in virtual time inside testing/synctest;
// [Net.Sim]) or a real UDP socket on loopback ([Net.Listen]). Both kinds
// follow the same rules:
//
//   - a packet is dropped when its sender is dead or paused, when its
//     receiver is dead, when the two are in different partitions, or,
//     while a loss rate is set, at random from the Net's seeded source;
//   - a packet that passes arrives after the one-way latency of its
//     receiver (simnet's downlink latency; on real sockets, the sending
//     Conn holds it back that long);
//   - a paused node's Conn returns nothing from ReadFrom until it is
//     resumed: what arrives meanwhile waits in the socket (simnet's queue
//     or the kernel's buffer), as it would for a stopped process, and is
//     read after Resume.
//
// Sending never fails, as with UDP: a dropped packet vanishes.
package faultnet
