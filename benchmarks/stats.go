package benchmarks

import (
	"runtime"
	"slices"
	"time"
)

// Result is one run of one workload on one system.
type Result struct {
	// Expected is how many messages (or deliveries, or calls) the run
	// should have counted.
	Expected int64
	// Delivered is how many it counted: messages received by the
	// subscribers, or calls answered.
	Delivered int64
	// Dropped is how many messages the subscribers' queues dropped, as
	// the system reports it (Macula's Subscription.Dropped, nats.go's
	// Subscription.Dropped).
	Dropped int64
	// Elapsed is the time from the first publish (or call) to the last
	// delivery (or answer).
	Elapsed time.Duration
	// Mallocs is the number of heap allocations in this process during
	// the run, both ends included where both run here.
	Mallocs uint64
	// Latencies are the sorted per-operation latencies of a latency
	// workload, nil otherwise.
	Latencies []time.Duration
}

// Rate is Delivered per second of Elapsed.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Delivered) / r.Elapsed.Seconds()
}

// AllocsPerOp is Mallocs per delivered message or answered call.
func (r Result) AllocsPerOp() float64 {
	if r.Delivered == 0 {
		return 0
	}
	return float64(r.Mallocs) / float64(r.Delivered)
}

// Percentile returns the latency at quantile q (0 < q <= 1) of a latency
// workload, by the nearest-rank method.
func (r Result) Percentile(q float64) time.Duration {
	return percentile(r.Latencies, q)
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

// Summary is the median, minimum and maximum of one figure over the
// repetitions of a run.
type Summary struct {
	Median, Min, Max float64
	// N is the number of repetitions summarised.
	N int
}

// summarize returns the median, minimum and maximum of xs (the mean of
// the two middle values for an even count).
func summarize(xs []float64) Summary {
	if len(xs) == 0 {
		return Summary{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Summary{Median: m, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// allocMeter counts the heap allocations of this process between start
// and stop.
type allocMeter struct{ before uint64 }

// startAllocs collects garbage, so that runs start from a similar heap,
// and records the allocation count.
func startAllocs() allocMeter {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return allocMeter{before: ms.Mallocs}
}

// stop returns the allocations since start.
func (a allocMeter) stop() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs - a.before
}

// sortLatencies sorts lat in place and returns it.
func sortLatencies(lat []time.Duration) []time.Duration {
	slices.Sort(lat)
	return lat
}
