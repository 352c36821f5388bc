package protocol

import "strconv"

// StreamType is the first byte of every QUIC stream; it names what the rest
// of the stream carries. The zero value is not a valid stream type.
type StreamType byte

// Stream types.
const (
	// StreamControl is the connection's control stream: Hello first, then
	// Ping, Pong, Heartbeat, Error, Close and subscription changes.
	StreamControl StreamType = 1
	// StreamDHT is a request/response stream for one DHT exchange
	// (FindNode, FindValue, Store, Watch).
	StreamDHT StreamType = 2
	// StreamRPC is a request/response stream for one RPC call.
	StreamRPC StreamType = 3
	// StreamEvents is the long-lived stream carrying events
	// from one publisher node to one subscriber node, in publish order.
	StreamEvents StreamType = 4
	// StreamMembership is a membership push/pull stream.
	StreamMembership StreamType = 5
)

// String returns the stream type's lowercase name, e.g. "control", or
// "StreamType(n)" for a byte that names no stream type.
func (t StreamType) String() string {
	switch t {
	case StreamControl:
		return "control"
	case StreamDHT:
		return "dht"
	case StreamRPC:
		return "rpc"
	case StreamEvents:
		return "events"
	case StreamMembership:
		return "membership"
	}
	return "StreamType(" + strconv.Itoa(int(t)) + ")"
}

// Valid reports whether t is one of the stream types defined above.
func (t StreamType) Valid() bool {
	return t >= StreamControl && t <= StreamMembership
}
