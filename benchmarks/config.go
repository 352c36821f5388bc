package benchmarks

import (
	"fmt"
	"io"
	"time"
)

// System is one of the compared systems.
type System int

// The compared systems, in the order each repetition runs them.
const (
	// Macula is Macula nodes in this process over QUIC on 127.0.0.1.
	Macula System = iota
	// NATSTLS is nats.go connections to a nats-server child with TLS.
	NATSTLS
	// NATSPlain is nats.go connections to a nats-server child without TLS.
	NATSPlain
	// RawQUIC is bare quic-go with TLS: the ceiling for Macula.
	RawQUIC
	numSystems
)

// String names the system as the table does.
func (s System) String() string {
	switch s {
	case Macula:
		return "Macula"
	case NATSTLS:
		return "NATS (TLS)"
	case NATSPlain:
		return "NATS (plain)"
	case RawQUIC:
		return "raw quic-go"
	}
	return fmt.Sprintf("System(%d)", int(s))
}

// Config sets the sizes of a comparison. Counts are per repetition.
type Config struct {
	// Reps is how many times each workload runs on each system.
	Reps int
	// PubSubMsgs128 and PubSubMsgs1K are the messages published in the
	// 1 -> 1 pub/sub runs at 128 B and 1 KiB.
	PubSubMsgs128, PubSubMsgs1K int
	// FanOutSubs and FanOutMsgs are the subscribers and the messages
	// published (each delivered FanOutSubs times) of the fan-out run.
	FanOutSubs, FanOutMsgs int
	// RPCCalls is the number of sequential calls of the latency run.
	RPCCalls int
	// RPCCallers and RPCConcurrentCalls are the concurrent callers and
	// their calls in all of the request/reply throughput run.
	RPCCallers, RPCConcurrentCalls int
	// QUICMsgs128 and QUICMsgs1K are the messages of the raw quic-go
	// stream runs; QUICEchoCalls the echoes of its latency run.
	QUICMsgs128, QUICMsgs1K, QUICEchoCalls int
	// RunTimeout bounds each single run, set-up included.
	RunTimeout time.Duration
	// NATSServer is the nats-server binary; empty: found on PATH (see
	// InstallNATS).
	NATSServer string
	// InstallNATS lets Run install nats-server with apt-get when it is
	// missing and this process runs as root.
	InstallNATS bool
	// CPUProfile, when set, is where a CPU profile of one extra Macula
	// pub/sub 128 B run (not counted in the results) is written; it covers
	// the publishing and delivery only, not the set-up.
	CPUProfile string
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// DefaultConfig is the configuration of make bench-compare: about three
// to five minutes on a 2-core machine.
func DefaultConfig() Config {
	return Config{
		Reps:               5,
		PubSubMsgs128:      500_000,
		PubSubMsgs1K:       200_000,
		FanOutSubs:         10,
		FanOutMsgs:         50_000,
		RPCCalls:           10_000,
		RPCCallers:         64,
		RPCConcurrentCalls: 30_000,
		QUICMsgs128:        2_000_000,
		QUICMsgs1K:         500_000,
		QUICEchoCalls:      10_000,
		RunTimeout:         2 * time.Minute,
		InstallNATS:        true,
	}
}

// Workload describes one compared workload.
type Workload struct {
	// Key identifies it in Report.Results.
	Key string
	// Title is its name in the table.
	Title string
	// Unit is what its rate counts per second (rate workloads).
	Unit string
	// Latency marks a latency workload, reported as percentiles.
	Latency bool
	// OpName is what one operation is in the allocation table.
	OpName string
}

// Keys of the workloads.
const (
	KeyPubSub128     = "pubsub-128"
	KeyPubSub1K      = "pubsub-1k"
	KeyFanOut        = "fanout"
	KeyRPCLatency    = "rpc-latency"
	KeyRPCConcurrent = "rpc-concurrent"
)
