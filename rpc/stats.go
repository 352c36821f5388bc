package rpc

import "sync/atomic"

// Stats counts a Service's calls since it started. Counters only grow.
type Stats struct {
	// Calls is the number of calls, casts and CallTo made by this node.
	Calls uint64
	// Failed is how many of Calls returned an error, a handler's error
	// included.
	Failed uint64
	// Failovers is the number of attempts beyond each call's first: calls
	// that moved on to another provider.
	Failovers uint64
	// Reused is how many of this node's attempts on other nodes went over
	// a call stream kept from an earlier call to the same node, stale ones
	// included.
	Reused uint64
	// StaleStreams is how many kept call streams were found closed by
	// their provider (idle for too long) or gone with their connection
	// when a call tried them; each such call went on over a new stream.
	StaleStreams uint64
	// Streams is the number of call streams peers opened to this node;
	// each carries one call or more, one after the other.
	Streams uint64
	// Received is the number of calls peers sent to this node (a stream
	// whose first frame is malformed or not a call counts as one).
	Received uint64
	// Refused is how many of Received were refused before acceptance:
	// malformed, unknown procedure, over a limit, or arriving while
	// closing.
	Refused uint64
	// Served is the number of handler invocations, local calls included.
	Served uint64
	// HandlerErrors is how many of Served returned an error or panicked.
	HandlerErrors uint64
	// Panics is how many of Served panicked.
	Panics uint64
	// BadResults is how many results from other nodes this node refused
	// for their signature (bad, or missing while required).
	BadResults uint64
}

// counters are the live values behind Stats.
type counters struct {
	calls, failed, failovers      atomic.Uint64
	reused, staleStreams          atomic.Uint64
	streams, received, refused    atomic.Uint64
	served, handlerErrors, panics atomic.Uint64
	badResults                    atomic.Uint64
}

// Stats returns the Service's counters.
func (s *Service) Stats() Stats {
	c := &s.stats
	return Stats{
		Calls:         c.calls.Load(),
		Failed:        c.failed.Load(),
		Failovers:     c.failovers.Load(),
		Reused:        c.reused.Load(),
		StaleStreams:  c.staleStreams.Load(),
		Streams:       c.streams.Load(),
		Received:      c.received.Load(),
		Refused:       c.refused.Load(),
		Served:        c.served.Load(),
		HandlerErrors: c.handlerErrors.Load(),
		Panics:        c.panics.Load(),
		BadResults:    c.badResults.Load(),
	}
}
