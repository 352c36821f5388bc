package meshtest

import (
	"fmt"
	"time"

	"github.com/org/macula"
)

// DefaultLatency is the one-way latency of every link on simnet unless
// [WithLatency] says otherwise. Over real sockets ([OverUDP]) the default
// is the loopback's own, with nothing added.
const DefaultLatency = 5 * time.Millisecond

// SeedEnv is the environment variable that sets the seed of a mesh
// created without [WithSeed], to replay a failed run: a mesh created by
// [New] logs its seed when its test fails.
const SeedEnv = "MESHTEST_SEED"

// Option configures a Mesh. Options are checked by [New] and [Start]; an
// invalid one matches macula.ErrInvalidOption.
type Option func(*settings) error

// settings is what the options set.
type settings struct {
	nodeOpts  []macula.Option
	latency   time.Duration
	seed      uint64
	seeded    bool
	bootstrap int // -1: none
	udp       bool
}

func invalid(option, format string, args ...any) error {
	return fmt.Errorf("%w: meshtest.%s: %s", macula.ErrInvalidOption, option, fmt.Sprintf(format, args...))
}

// WithNodeOptions adds options given to every node's macula.New, after the
// mesh's own macula.WithTransport and macula.WithIdentity.
func WithNodeOptions(opts ...macula.Option) Option {
	return func(s *settings) error {
		s.nodeOpts = append(s.nodeOpts, opts...)
		return nil
	}
}

// WithLatency sets the initial one-way latency of every link (d ≥ 0);
// [Mesh.SetLatency] changes it later. Default: [DefaultLatency] on simnet,
// none added over real sockets.
func WithLatency(d time.Duration) Option {
	return func(s *settings) error {
		if d < 0 {
			return invalid("WithLatency", "%v, want 0 or more", d)
		}
		s.latency = d
		return nil
	}
}

// WithBootstrapTo gives every member member i's address as its bootstrap
// address (macula.WithBootstrap), as an operator configures a seed node:
// the members join by themselves, without [Mesh.JoinAll]. Default: none.
func WithBootstrapTo(i int) Option {
	return func(s *settings) error {
		if i < 0 {
			return invalid("WithBootstrapTo", "member %d", i)
		}
		s.bootstrap = i
		return nil
	}
}

// WithSeed sets the seed that decides which packets the loss rate drops
// and the members' identities (so their node IDs, and with them the
// DHT's and the overlay's shape). Default: the value of [SeedEnv] if set,
// else a random seed. A run is replayed with its seed; on simnet in
// virtual time, only the interleaving of goroutines can still differ.
func WithSeed(seed uint64) Option {
	return func(s *settings) error {
		s.seed, s.seeded = seed, true
		return nil
	}
}

// OverUDP runs the mesh on real UDP sockets of 127.0.0.1 instead of
// simnet, in real time: the mesh need not be, and must not be, created in
// a testing/synctest bubble. The faults still work: each socket is
// wrapped in a net.PacketConn that drops, delays and holds packets as the
// mesh says. The wrapper hides the socket's batch and GSO paths from
// quic-go, so measure throughput on plain nodes, not on these.
func OverUDP() Option {
	return func(s *settings) error {
		s.udp = true
		return nil
	}
}
