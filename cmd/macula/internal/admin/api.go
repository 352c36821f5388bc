package admin

import (
	"encoding/json"
	"time"
	"unicode/utf8"

	"github.com/org/macula"
)

// Content types of payloads, as the mesh labels them (see Body).
const (
	ContentJSON  = "application/json"
	ContentBytes = "application/octet-stream"
)

// NodeInfo describes the node behind the API.
type NodeInfo struct {
	// ID is the node's ID.
	ID macula.NodeID `json:"id"`
	// Realm is the node's realm.
	Realm string `json:"realm"`
	// Addr is the node's bound UDP address.
	Addr string `json:"addr"`
	// URI is the node's macula:// URI, which others can join.
	URI string `json:"uri"`
	// Version is the software version of the node.
	Version string `json:"version"`
	// Started is when the node started.
	Started time.Time `json:"started"`
}

// Member is one member of the realm as the node sees it.
type Member struct {
	// ID is the member's node ID.
	ID macula.NodeID `json:"id"`
	// Self is set for the node behind the API.
	Self bool `json:"self,omitempty"`
	// State is alive, suspect, dead or left.
	State string `json:"state"`
	// Incarnation is the highest SWIM incarnation number the node has seen
	// for the member; a member raises it to refute a suspicion of itself.
	// 0 until the node has seen one.
	Incarnation uint32 `json:"incarnation"`
	// Addr is the member's address.
	Addr string `json:"addr"`
	// Addrs are the addresses the member advertises.
	Addrs []string `json:"addrs,omitempty"`
	// Version is the member's software version.
	Version string `json:"version,omitempty"`
	// Tags are the member's labels.
	Tags map[string]string `json:"tags,omitempty"`
	// Links are the member's overlay neighbours.
	Links []macula.NodeID `json:"links,omitempty"`
	// Since is when the node last saw the member's state change.
	Since time.Time `json:"since"`
}

// Peer is one connected peer.
type Peer struct {
	// ID is the peer's node ID.
	ID macula.NodeID `json:"id"`
	// RemoteAddr is the address the connection runs to.
	RemoteAddr string `json:"remote_addr"`
	// AdvertisedAddrs are the addresses the peer says it can be dialed at.
	AdvertisedAddrs []string `json:"advertised_addrs,omitempty"`
	// Software names the peer's implementation and version.
	Software string `json:"software,omitempty"`
	// Outbound is set when the node dialed the connection.
	Outbound bool `json:"outbound"`
	// ConnectedAt is when the connection came up.
	ConnectedAt time.Time `json:"connected_at"`
	// RTTMillis is the connection's smoothed round-trip time in
	// milliseconds.
	RTTMillis float64 `json:"rtt_ms"`
}

// Topology is the overlay graph as the node sees it, in the form of
// topology.Graph.JSON plus whether it is connected.
type Topology struct {
	// Nodes are the alive members.
	Nodes []TopologyNode `json:"nodes"`
	// Edges are the overlay links, each once with From < To.
	Edges []TopologyEdge `json:"edges"`
	// Connected reports whether every node reaches every other.
	Connected bool `json:"connected"`
}

// TopologyNode is a node of a Topology.
type TopologyNode struct {
	// ID is the node's ID.
	ID macula.NodeID `json:"id"`
	// Label is a short name for drawings, the ID's first digits.
	Label string `json:"label,omitempty"`
}

// TopologyEdge is a link of a Topology.
type TopologyEdge struct {
	// From is the end with the smaller ID.
	From macula.NodeID `json:"from"`
	// To is the other end.
	To macula.NodeID `json:"to"`
}

// Route is one entry of the DHT routing table.
type Route struct {
	// ID is the node's ID.
	ID macula.NodeID `json:"id"`
	// Addrs are the node's addresses.
	Addrs []string `json:"addrs,omitempty"`
}

// Stats are the node's counters.
type Stats struct {
	// Node is the node behind the API.
	Node NodeInfo `json:"node"`
	// UptimeSeconds is how long the node has run.
	UptimeSeconds float64 `json:"uptime_s"`
	// Peers is the number of connected peers.
	Peers int `json:"peers"`
	// MembersAlive is the number of alive members, the node included.
	MembersAlive int `json:"members_alive"`
	// Members is the number of known members, dead and left ones included.
	Members int `json:"members"`
	// PubSub are the publish/subscribe counters.
	PubSub PubSubStats `json:"pubsub"`
	// RPC are the RPC counters.
	RPC RPCStats `json:"rpc"`
	// Gossip are the membership packet counters.
	Gossip GossipStats `json:"gossip"`
}

// GossipStats counts the node's membership (SWIM) packets, which travel
// sealed with the realm's gossip key (see macula.GossipStats).
type GossipStats struct {
	// Sent counts sealed packets sent.
	Sent uint64 `json:"sent"`
	// Received counts packets received that opened with an installed key.
	Received uint64 `json:"received"`
	// Refused counts packets that opened with no installed key: a foreign
	// or removed key, tampering, or noise.
	Refused uint64 `json:"refused"`
	// Dropped counts opened packets dropped because membership was behind.
	Dropped uint64 `json:"dropped"`
}

// Keyring is the node's gossip keyring (see macula.GossipKeyring).
type Keyring struct {
	// Keys are the installed keys, the primary first.
	Keys []GossipKey `json:"keys"`
	// Generation counts how often a primary was chosen across the realm;
	// of two keyrings with different primaries, the higher generation
	// wins when they meet.
	Generation uint64 `json:"generation"`
	// Packets are the node's gossip packet counters.
	Packets GossipStats `json:"packets"`
}

// GossipKey is one installed gossip key. The key itself is only present
// when asked for: a listing should not spread secrets into terminals and
// logs by default.
type GossipKey struct {
	// Fingerprint names the key without revealing it (see
	// KeyFingerprint).
	Fingerprint string `json:"fingerprint"`
	// Primary is set for the key the node seals its packets with.
	Primary bool `json:"primary,omitempty"`
	// Bits is the AES key size: 128, 192 or 256.
	Bits int `json:"bits"`
	// Key is the key in standard base64, only when asked for.
	Key string `json:"key,omitempty"`
}

// KeyRequest names a gossip key to install, use or remove.
type KeyRequest struct {
	// Key is the key in standard base64 (see ParseGossipKey).
	Key string `json:"key"`
}

// PubSubStats are the node's publish/subscribe counters (see
// pubsub.Stats). In counts events received from other nodes, Out events
// sent to them.
type PubSubStats struct {
	// Published counts events this node published, system events too.
	Published uint64 `json:"published"`
	// Out counts events sent to other nodes, one per subscriber node.
	Out uint64 `json:"out"`
	// In counts events received from other nodes.
	In uint64 `json:"in"`
	// Refused counts events refused as malformed or forged.
	Refused uint64 `json:"refused"`
	// Deferred counts at-least-once events left unacknowledged.
	Deferred uint64 `json:"deferred"`
	// SendFailed counts at-most-once events lost on the way.
	SendFailed uint64 `json:"send_failed"`
	// Resent counts at-least-once events sent again.
	Resent uint64 `json:"resent"`
	// Dropped counts events dropped by full subscription queues.
	Dropped uint64 `json:"dropped"`
	// Subscriptions is the number of active subscriptions.
	Subscriptions int `json:"subscriptions"`
}

// RPCStats are the node's RPC counters: calls made (and how many failed)
// and calls served for others.
type RPCStats struct {
	// Calls counts calls this node made.
	Calls uint64 `json:"calls"`
	// Failed counts the calls that returned an error.
	Failed uint64 `json:"failed"`
	// Failovers counts attempts beyond each call's first.
	Failovers uint64 `json:"failovers"`
	// Received counts calls other nodes made to this one.
	Received uint64 `json:"received"`
	// Refused counts the received calls refused before they ran.
	Refused uint64 `json:"refused"`
	// Served counts handler runs, local calls included.
	Served uint64 `json:"served"`
}

// PingRequest asks the node to ping another.
type PingRequest struct {
	// Node is a node ID or a unique prefix of one (hex).
	Node string `json:"node"`
}

// PingReply is the answer to a PingRequest.
type PingReply struct {
	// Node is the node that answered.
	Node macula.NodeID `json:"node"`
	// RTTMillis is the measured round-trip time in milliseconds.
	RTTMillis float64 `json:"rtt_ms"`
}

// JoinRequest asks the node to join the mesh through addresses.
type JoinRequest struct {
	// Addrs are "host:port" addresses or macula:// URIs.
	Addrs []string `json:"addrs"`
}

// Body is a payload in JSON: exactly one of its fields is set, or none for
// an empty payload. JSON payloads travel as JSON, other UTF-8 payloads as
// text and anything else as base64 data.
type Body struct {
	// JSON is a JSON payload (content type application/json).
	JSON json.RawMessage `json:"payload,omitempty"`
	// Text is a payload of bytes that are valid UTF-8.
	Text string `json:"text,omitempty"`
	// Data is any other payload of bytes, base64 in JSON.
	Data []byte `json:"data,omitempty"`
}

// BodyOf describes a payload the mesh delivered with a content type.
func BodyOf(data []byte, contentType string) Body {
	if len(data) == 0 {
		return Body{}
	}
	if isJSONContent(contentType) && json.Valid(data) {
		return Body{JSON: json.RawMessage(data)}
	}
	if utf8.Valid(data) {
		return Body{Text: string(data)}
	}
	return Body{Data: data}
}

// Value returns what to hand to Publish or Call: a json.RawMessage for a
// JSON payload (sent as application/json), a []byte otherwise (sent as
// application/octet-stream), nil when the body is empty.
func (b Body) Value() any {
	switch {
	case len(b.JSON) > 0:
		return b.JSON
	case b.Text != "":
		return []byte(b.Text)
	case len(b.Data) > 0:
		return b.Data
	}
	return nil
}

// isJSONContent reports whether a content type is JSON, parameters aside.
func isJSONContent(ct string) bool {
	for i := range len(ct) {
		if ct[i] == ';' || ct[i] == ' ' {
			ct = ct[:i]
			break
		}
	}
	return ct == ContentJSON
}

// PublishRequest asks the node to publish an event.
type PublishRequest struct {
	// Topic is the topic to publish on.
	Topic string `json:"topic"`
	Body
	// QoS is 0 (at most once, the default) or 1 (at least once).
	QoS int `json:"qos,omitempty"`
	// TimeoutMillis bounds an at-least-once publish. Default 10 s.
	TimeoutMillis int64 `json:"timeout_ms,omitempty"`
}

// Stream message types of /v1/subscribe.
const (
	// StreamSubscribed is the first message, once the subscription is
	// stored in the mesh.
	StreamSubscribed = "subscribed"
	// StreamEvent carries one event.
	StreamEvent = "event"
)

// StreamMessage is one line of a /v1/subscribe stream.
type StreamMessage struct {
	// Type is StreamSubscribed or StreamEvent.
	Type string `json:"type"`
	// Pattern is the subscription's pattern, in StreamSubscribed.
	Pattern string `json:"pattern,omitempty"`
	// Node is the subscribing node, in StreamSubscribed.
	Node *macula.NodeID `json:"node,omitempty"`
	// Event is the event, in StreamEvent.
	Event *Event `json:"event,omitempty"`
}

// Event is a published event as the subscriber received it.
type Event struct {
	// Topic is the topic it was published on.
	Topic string `json:"topic"`
	// Publisher is the publishing node.
	Publisher macula.NodeID `json:"publisher"`
	// Seq is the publisher's sequence number of the event.
	Seq uint64 `json:"seq"`
	// Time is the publisher's clock when it published.
	Time time.Time `json:"time"`
	// ContentType says how the publisher encoded the payload.
	ContentType string `json:"content_type"`
	Body
}

// CallRequest asks the node to call a procedure.
type CallRequest struct {
	// Procedure is the procedure's name.
	Procedure string `json:"procedure"`
	// Node, if set, is the node to call (an ID or unique prefix); otherwise
	// the mesh chooses a provider.
	Node string `json:"node,omitempty"`
	// Body holds the arguments.
	Body
	// TimeoutMillis bounds the call. Default 10 s.
	TimeoutMillis int64 `json:"timeout_ms,omitempty"`
}

// CallReply is the result of a call.
type CallReply struct {
	// Provider is the node that answered.
	Provider macula.NodeID `json:"provider"`
	// ContentType says how the provider encoded the result.
	ContentType string `json:"content_type"`
	Body
}

// Error codes of the API, in Error.Code.
const (
	CodeBadRequest       = "bad_request"
	CodeInvalidTopic     = "invalid_topic"
	CodeUnknownNode      = "unknown_node"
	CodeAmbiguousNode    = "ambiguous_node"
	CodeNotConnected     = "not_connected"
	CodeNotAcknowledged  = "not_acknowledged"
	CodeTooLarge         = "too_large"
	CodeTimeout          = "timeout"
	CodeForbidden        = "forbidden"
	CodeUnavailable      = "unavailable"
	CodeCallFailed       = "call_failed"
	CodeInvalidProcedure = "invalid_procedure"
	CodeNoProvider       = "no_provider"
	CodeRemoteError      = "remote_error"
	CodeInvalidKey       = "invalid_key"
	CodeInternal         = "internal"
)

// Error is the body of every error response.
type Error struct {
	// Code classifies the error (CodeBadRequest, ...).
	Code string `json:"code"`
	// Message says what went wrong, in one line.
	Message string `json:"error"`
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }
