package membership

import (
	"fmt"
	"math"
	"time"
)

// Config holds the SWIM knobs. DefaultConfig gives memberlist's LAN
// defaults with twice its gossip rate; a zero field means its default.
type Config struct {
	// ProbeInterval is how often each node probes a random member (1 s).
	ProbeInterval time.Duration
	// ProbeTimeout is how long to wait for a direct probe's ack (500 ms).
	ProbeTimeout time.Duration
	// IndirectChecks is how many members are asked to probe a node that did
	// not answer directly (3).
	IndirectChecks int
	// SuspicionMult scales the suspicion timeout: a suspect is declared dead
	// after SuspicionMult * log10(N) * ProbeInterval, shortened from a longer
	// start as other members confirm the suspicion (4).
	SuspicionMult int
	// SuspicionMaxTimeoutMult bounds the suspicion timeout's start at this
	// multiple of its minimum (6).
	SuspicionMaxTimeoutMult int
	// GossipInterval is how often gossip is sent (100 ms; memberlist's LAN
	// default is 200 ms).
	GossipInterval time.Duration
	// GossipNodes is how many members gossip is sent to each time (4;
	// memberlist's LAN default is 3). Together with GossipInterval this is
	// the gossip bandwidth: with the LAN defaults, 200 nodes joining in 5 s
	// took 15 to 22 s until every node saw every other; with these, 6 s.
	// Gossip packets are plain UDP on the node's socket, so the extra
	// packets cost no connection.
	GossipNodes int
	// RetransmitMult is how many times a message is gossiped,
	// RetransmitMult * log(N+1) (4).
	RetransmitMult int
	// PushPullInterval is how often a full state exchange runs with a random
	// member; it heals partitions (30 s).
	PushPullInterval time.Duration
	// GossipToTheDeadTime is how long dead members still receive gossip,
	// so they can refute their death (30 s).
	GossipToTheDeadTime time.Duration
	// LeaveTimeout bounds the wait for a graceful leave to be broadcast by
	// gossip (200 ms). Leave waits only if a member could not be sent its
	// leaving notice directly, which marks the node left on arrival.
	LeaveTimeout time.Duration
	// Retention is how long dead and left members stay listed (5 min).
	// Dead members (not left ones) are retried for as long.
	Retention time.Duration
	// ReconnectInterval is how often this node tries to rejoin one random
	// dead member, which heals a partition after memberlist has stopped
	// gossiping to the other side (10 s).
	ReconnectInterval time.Duration
	// Tags are free-form labels published with this node's metadata.
	Tags map[string]string
	// GossipKey is the AES key (16, 24 or 32 bytes) this node seals its
	// gossip packets with until it learns the realm's current key from a
	// member (empty: a random key). Nodes merge keyrings whenever they
	// exchange state, over mutually authenticated QUIC, and agree on one
	// primary, so a realm needs no shared secret configured; giving every
	// node the same key saves the first exchanges.
	GossipKey []byte
}

// DefaultConfig returns the LAN defaults.
func DefaultConfig() Config {
	return Config{
		ProbeInterval:           time.Second,
		ProbeTimeout:            500 * time.Millisecond,
		IndirectChecks:          3,
		SuspicionMult:           4,
		SuspicionMaxTimeoutMult: 6,
		GossipInterval:          100 * time.Millisecond,
		GossipNodes:             4,
		RetransmitMult:          4,
		PushPullInterval:        30 * time.Second,
		GossipToTheDeadTime:     30 * time.Second,
		LeaveTimeout:            200 * time.Millisecond,
		Retention:               5 * time.Minute,
		ReconnectInterval:       10 * time.Second,
	}
}

// withDefaults fills zero fields with the defaults and validates the rest.
func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig()
	fillDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	fillInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	fillDur(&c.ProbeInterval, d.ProbeInterval)
	fillDur(&c.ProbeTimeout, d.ProbeTimeout)
	fillInt(&c.IndirectChecks, d.IndirectChecks)
	fillInt(&c.SuspicionMult, d.SuspicionMult)
	fillInt(&c.SuspicionMaxTimeoutMult, d.SuspicionMaxTimeoutMult)
	fillDur(&c.GossipInterval, d.GossipInterval)
	fillInt(&c.GossipNodes, d.GossipNodes)
	fillInt(&c.RetransmitMult, d.RetransmitMult)
	fillDur(&c.PushPullInterval, d.PushPullInterval)
	fillDur(&c.GossipToTheDeadTime, d.GossipToTheDeadTime)
	fillDur(&c.LeaveTimeout, d.LeaveTimeout)
	fillDur(&c.Retention, d.Retention)
	fillDur(&c.ReconnectInterval, d.ReconnectInterval)
	switch {
	case c.ProbeInterval < 0, c.ProbeTimeout < 0, c.GossipInterval < 0, c.PushPullInterval < 0,
		c.GossipToTheDeadTime < 0, c.LeaveTimeout < 0, c.Retention < 0, c.ReconnectInterval < 0:
		return c, fmt.Errorf("%w: durations must not be negative", ErrInvalidConfig)
	case c.IndirectChecks < 0, c.SuspicionMult < 0, c.SuspicionMaxTimeoutMult < 0, c.GossipNodes < 0, c.RetransmitMult < 0:
		return c, fmt.Errorf("%w: counts must not be negative", ErrInvalidConfig)
	case len(c.GossipKey) != 0 && checkKey(c.GossipKey) != nil:
		return c, fmt.Errorf("%w: %w", ErrInvalidConfig, checkKey(c.GossipKey))
	case c.ProbeTimeout >= c.ProbeInterval:
		return c, fmt.Errorf("%w: probe timeout %v must be shorter than the probe interval %v", ErrInvalidConfig, c.ProbeTimeout, c.ProbeInterval)
	}
	return c, nil
}

// Validate reports whether c is usable, after zero fields take their
// defaults: an error wrapping [ErrInvalidConfig] names what is wrong.
func (c Config) Validate() error {
	_, err := c.withDefaults()
	return err
}

// DetectionBound is the longest time, for a mesh of n members, between a
// member failing silently and every other member marking it dead, if no
// packets are lost:
//   - up to n probe intervals until some member's round-robin probe reaches
//     it (each member probes one member per interval, in a shuffled order,
//     so some member reaches it far sooner in practice);
//   - plus the longest suspicion timeout,
//     SuspicionMaxTimeoutMult * SuspicionMult * max(1, log10(n)) * ProbeInterval;
//   - plus one probe interval for the dead message to be gossiped.
func (c Config) DetectionBound(n int) time.Duration {
	c, _ = c.withDefaults()
	return time.Duration(n)*c.ProbeInterval + c.suspicionBound(n) + c.ProbeInterval
}

// suspicionBound is the longest memberlist keeps a member of an n-member
// realm suspect before declaring it dead: SuspicionMaxTimeoutMult times its
// shortest suspicion, SuspicionMult × max(1, log10 n) probe intervals.
func (c Config) suspicionBound(n int) time.Duration {
	scale := math.Max(1, math.Log10(float64(max(n, 1))))
	return time.Duration(float64(c.SuspicionMaxTimeoutMult*c.SuspicionMult) * scale * float64(c.ProbeInterval))
}
