package routing

import (
	"fmt"
	"slices"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
)

// Contact names a node and where to reach it.
type Contact struct {
	// ID is the node's ID.
	ID security.NodeID
	// Addrs are the node's addresses ("host:port"); may be empty when the
	// transport can find the node by ID alone.
	Addrs []string
}

// ToProto returns c as its wire message. The message shares no memory
// with c.
func (c Contact) ToProto() *protocol.NodeInfo {
	return &protocol.NodeInfo{NodeId: append([]byte(nil), c.ID[:]...), Addrs: slices.Clone(c.Addrs)}
}

// ContactFromProto converts a wire message into a Contact. It fails with
// an error wrapping [security.ErrInvalidNodeID] unless the node ID is 32
// bytes and not all zero.
func ContactFromProto(p *protocol.NodeInfo) (Contact, error) {
	var c Contact
	if len(p.GetNodeId()) != len(c.ID) {
		return Contact{}, fmt.Errorf("%w: %d bytes, want %d", security.ErrInvalidNodeID, len(p.GetNodeId()), len(c.ID))
	}
	copy(c.ID[:], p.GetNodeId())
	if c.ID.IsZero() {
		return Contact{}, fmt.Errorf("%w: zero", security.ErrInvalidNodeID)
	}
	c.Addrs = slices.Clone(p.GetAddrs())
	return c, nil
}
