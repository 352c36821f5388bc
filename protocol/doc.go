// Package protocol defines Macula's wire protocol: the protobuf messages
// exchanged between nodes, how they are framed on QUIC streams, the
// protocol version, and the error codes that let failures keep their
// meaning across the network.
//
// # Wire format
//
// Nodes connect over QUIC with the ALPN protocol [ALPN] ("macula/1"). The
// first byte of every stream is a [StreamType] naming what the stream
// carries: the connection's control stream, one DHT or RPC exchange, the
// event stream from one publisher node to one subscriber node, or
// membership traffic. A stream whose first byte is not a known type is
// refused with [CodeUnknownStreamType].
//
// After that byte, a stream is a sequence of frames. A frame is one
// [Envelope] in protobuf binary encoding, preceded by its length in bytes
// as a protobuf varint (the framing of
// [google.golang.org/protobuf/encoding/protodelim]):
//
//	stream = stream-type-byte frame*
//	frame  = varint(len(envelope)) envelope
//
// An Envelope carries exactly one message in its body oneof ([Hello],
// [Ping], [Event], [RpcCall], [FindNode], ...). The encoded Envelope may be
// at most a maximum frame size long, [DefaultMaxFrameSize] (4 MiB) unless
// configured otherwise; a larger frame is refused on writing and on
// reading with [ErrFrameTooLarge] ([CodeFrameTooLarge] on the wire).
//
// The first frame on the control stream is a [Hello] from each side,
// carrying [VersionMajor] and [VersionMinor]; [CheckVersion] refuses a peer
// with another major version. Minor versions add fields and message types
// only: an Envelope whose body a node does not know reads as
// [ErrUnknownMessage] and can be skipped.
//
// Failures travel as an [ErrorCode] in [Error], [Close], [RpcError] and
// [StoreResponse]. [CodeOf] picks the code for a local error and
// [CodeError] rebuilds a matchable error from a received one.
//
// # Usage
//
// Writing frames, with writers to one stream serialized by the caller:
//
//	mu.Lock()
//	err := protocol.WriteFrame(stream, &protocol.Envelope{
//		Body: &protocol.Envelope_Ping{Ping: &protocol.Ping{Nonce: 7}},
//	}, protocol.DefaultMaxFrameSize)
//	mu.Unlock()
//
// Reading them, reusing one Envelope:
//
//	fr := protocol.NewFrameReader(stream, protocol.DefaultMaxFrameSize)
//	var env protocol.Envelope
//	for {
//		err := fr.ReadFrame(&env)
//		switch {
//		case errors.Is(err, io.EOF):
//			return nil
//		case errors.Is(err, protocol.ErrUnknownMessage):
//			continue // sent by a newer peer; skip it
//		case err != nil:
//			return err // close with protocol.CodeOf(err)
//		}
//		switch body := env.Body.(type) {
//		case *protocol.Envelope_Ping:
//			// answer with a Pong carrying body.Ping.Nonce
//		}
//	}
//
// Matching an error reported by a peer:
//
//	if errors.Is(err, &protocol.CodeError{Code: protocol.CodeTimeout}) {
//		// the remote handler's deadline passed
//	}
package protocol
