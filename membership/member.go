package membership

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/org/macula/security"
)

// State is a member's liveness as seen by this node.
type State int

// Member states.
const (
	// StateAlive: the member answers probes.
	StateAlive State = iota
	// StateSuspect: the member missed probes and will be declared dead unless
	// it refutes the suspicion in time. Suspect members still count as
	// members: they are routed to and probed as before.
	StateSuspect
	// StateDead: the member failed without announcing it.
	StateDead
	// StateLeft: the member left gracefully.
	StateLeft
)

// String names the state: "alive", "suspect", "dead" or "left".
func (s State) String() string {
	switch s {
	case StateAlive:
		return "alive"
	case StateSuspect:
		return "suspect"
	case StateDead:
		return "dead"
	case StateLeft:
		return "left"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// MarshalText encodes the state as its name.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Meta is the metadata a node publishes about itself. Encoded, it must fit
// memberlist's 512-byte limit.
type Meta struct {
	// Addrs are the addresses the node can be dialed at.
	Addrs []string `json:"a,omitempty"`
	// Version is the node's software version.
	Version string `json:"v,omitempty"`
	// Tags are free-form labels.
	Tags map[string]string `json:"t,omitempty"`
	// Links are the node's current overlay neighbours (see package topology).
	Links []security.NodeID `json:"l,omitempty"`
	// Leaving is set by a node about to leave gracefully. memberlist reports
	// a departure the same way whether the node left or failed, so this
	// flag is what tells the two apart.
	Leaving bool `json:"x,omitempty"`
}

func (m Meta) encode(limit int) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(b) > limit && len(m.Links) > 0 {
		// Links are the least essential: drop them rather than everything.
		m.Links = nil
		return m.encode(limit)
	}
	if len(b) > limit {
		return nil, fmt.Errorf("%w: node metadata is %d bytes, the limit is %d", ErrInvalidConfig, len(b), limit)
	}
	return b, nil
}

func decodeMeta(b []byte) Meta {
	var m Meta
	if len(b) > 0 {
		_ = json.Unmarshal(b, &m) // a peer's bad metadata leaves it empty
	}
	return m
}

// Member is one node of the realm as seen by this node.
type Member struct {
	// ID is the member's node ID.
	ID security.NodeID
	// Addr is the member's address ("host:port").
	Addr string
	// State is the member's liveness.
	State State
	// Incarnation is the highest incarnation number this node has seen in
	// a SWIM message about the member. A member raises it to refute a
	// suspicion of itself, so it counts the suspicions it has survived
	// (plus one for the start). Zero until such a message is seen.
	Incarnation uint32
	// Meta is the member's published metadata.
	Meta Meta
	// Since is when this node last saw the member's state change.
	Since time.Time
}

// EventType is the kind of a membership change.
type EventType int

// Membership event types.
const (
	// EventJoin: a member became alive (joined, or came back).
	EventJoin EventType = iota
	// EventLeave: a member left gracefully.
	EventLeave
	// EventFail: a member was declared dead.
	EventFail
	// EventUpdate: a member's metadata changed.
	EventUpdate
	// EventSuspect: a member missed probes and is suspected of failure; it
	// is declared dead (EventFail) unless it refutes in time.
	EventSuspect
	// EventRefute: a suspected member proved itself alive by raising its
	// incarnation; it is alive again.
	EventRefute
)

// String names the event type: "join", "leave", "fail", "update",
// "suspect" or "refute".
func (t EventType) String() string {
	switch t {
	case EventJoin:
		return "join"
	case EventLeave:
		return "leave"
	case EventFail:
		return "fail"
	case EventUpdate:
		return "update"
	case EventSuspect:
		return "suspect"
	case EventRefute:
		return "refute"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// MarshalText encodes the event type as its name.
func (t EventType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// Event is one membership change.
type Event struct {
	// Type is what happened.
	Type EventType
	// Member is the member's state after the change.
	Member Member
}
