package macula

import "github.com/org/macula/membership"

// GossipKeyring describes a node's gossip keyring: the primary key its
// membership packets are sealed with, every key it opens packets with,
// and the generation of the primary's choice.
type GossipKeyring = membership.KeyringInfo

// GossipStats counts a node's membership packets; Refused counts packets
// that reached the socket but were not sealed with a key of the realm.
type GossipStats = membership.PacketStats

// GossipKeyring returns this node's gossip keyring (see WithGossipKey).
func (n *Node) GossipKeyring() GossipKeyring { return n.members.Keyring() }

// InstallGossipKey adds a gossip key (16, 24 or 32 bytes). Packets sealed
// with it open from now on, on this node and, as membership state
// exchanges merge keyrings, on every member. To rotate keys without
// downtime: install the new key, wait until every member lists it (or a
// push/pull interval or two), use it, then remove the old one. It fails
// with ErrInvalidGossipKey.
func (n *Node) InstallGossipKey(key []byte) error {
	if n.isClosing() {
		return ErrClosed
	}
	return n.members.InstallKey(key)
}

// UseGossipKey makes an installed gossip key the primary: this node seals
// its packets with it from now on, and the choice spreads through the
// realm, winning over older choices. It fails with ErrInvalidGossipKey if
// the key is not installed.
func (n *Node) UseGossipKey(key []byte) error {
	if n.isClosing() {
		return ErrClosed
	}
	return n.members.UseKey(key)
}

// RemoveGossipKey uninstalls a gossip key; the removal spreads through the
// realm. It fails with ErrInvalidGossipKey if the key is not installed or
// is the primary.
func (n *Node) RemoveGossipKey(key []byte) error {
	if n.isClosing() {
		return ErrClosed
	}
	return n.members.RemoveKey(key)
}

// GossipStats returns the node's membership packet counters.
func (n *Node) GossipStats() GossipStats { return n.members.PacketStats() }
