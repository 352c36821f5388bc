// Package transport is Macula's QUIC layer: one quic-go Transport on one UDP
// socket (or any net.PacketConn, such as quic-go's in-memory simnet) that both
// listens and dials, with mutual TLS 1.3 on every connection.
//
// Each connection is verified on both sides by [security.VerifyPeer] (the
// certificate's URI SAN names the node ID and realm, the node ID is the hash
// of the certificate's key, and, when a realm CA is configured, the chain
// verifies to it). The dialer then opens the control stream and the two nodes
// exchange a Hello (protocol version, node ID, realm, advertised addresses,
// capabilities). Only then is the peer connected.
//
// There is at most one connection per peer. When two nodes dial each other at
// the same time, both keep the connection opened by the node with the lower
// NodeID and close the other with [protocol.CodeDuplicateConnection]; when a
// peer restarts, the connection to its newer instance replaces the old one.
//
// Every other stream starts with one [protocol.StreamType] byte. Subsystems
// register a handler per stream type with [Transport.Handle]; a stream of a
// type nobody handles is refused with [protocol.CodeUnknownStreamType].
// Malformed or oversized frames close only the stream they arrived on, or the
// connection when they arrive on the control stream; the node keeps serving
// its other peers.
//
// One peer cannot starve the node: each connection has limits on the
// streams in handlers at once ([Config.MaxStreamsPerPeer]), on the rate of
// stream opens ([Config.StreamRate]), of frames read ([Config.FrameRate]),
// of pings ([Config.PingRate]) and of datagrams ([Config.DatagramRate]),
// and each source address a limit on the rate of new connections
// ([Config.HandshakeRate]), checked before any TLS work. The excess is
// refused (streams with [protocol.CodeRateLimited]: the peer's stream
// errors wrap [ErrRateLimited]), counted in [Transport.LimitStats] and
// reported through [Config.OnLimitExceeded]; the peer's other streams go
// on. A peer refused again and again ([Config.StrikeLimit]) is banned for
// a back-off period that doubles with each ban ([Config.BanDuration]):
// its connection is closed, its handshakes are refused and this node does
// not dial it ([ErrBanned], [Config.OnBan]).
//
// # Usage
//
//	tr, err := transport.New(transport.Config{
//		Identity: id, Realm: "org.example.mesh", Conn: udpConn,
//	})
//	if err != nil { ... }
//	defer tr.Close()
//	tr.Handle(protocol.StreamRPC, func(ctx context.Context, s *transport.Stream) { ... })
//	if err := tr.Start(); err != nil { ... } // from here on peers can connect
//	peer, err := tr.Dial(ctx, addr, security.NodeID{})
//	rtt, err := tr.Ping(ctx, peer.ID)
package transport
