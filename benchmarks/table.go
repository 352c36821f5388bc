package benchmarks

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Table renders r as Markdown: a header with the machine, versions and
// command, the comparison table (medians with min–max and the ratios),
// allocations per operation, and a delivery check.
func Table(r *Report) string {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "- Machine: %s; /proc/cpuinfo: %s processors (cpu cores: %s); runtime.NumCPU %d, GOMAXPROCS %d; %s/%s\n",
		m.CPUModel, m.CPUInfoProcessors, m.CPUInfoCores, m.NumCPU, m.GOMAXPROCS, m.OS, m.Arch)
	fmt.Fprintf(&b, "- Versions: Go %s, quic-go %s, nats.go %s, `%s`\n", m.GoVersion, m.QUICGoVersion, m.NATSGoVersion, m.NATSServer)
	if r.Command != "" {
		fmt.Fprintf(&b, "- Command: `%s`\n", r.Command)
	}
	fmt.Fprintf(&b, "- Date: %s; the whole comparison took %s; load average %s at the start, %s at the end\n",
		m.Date.Format("2006-01-02 15:04 MST"), r.Duration.Round(time.Second), m.LoadAvg, r.LoadAvgEnd)
	fmt.Fprintf(&b, "- Each figure is the median of %d repetitions (min–max); within each repetition the systems run in turn, workload by workload. "+
		"Ratios are Macula's median ÷ the other's: for rates above 1 means Macula is faster, for latencies below 1 means Macula is faster.\n\n", r.Config.Reps)

	b.WriteString("| workload | Macula | NATS (TLS) | NATS (plain) | Macula ÷ NATS TLS | Macula ÷ NATS plain | raw quic-go (ceiling) | Macula ÷ ceiling |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, w := range r.Workloads {
		res := r.Results[w.Key]
		if w.Latency {
			for _, q := range []struct {
				name string
				q    float64
			}{{"p50", 0.50}, {"p99", 0.99}, {"p99.9", 0.999}} {
				row := func(rs []Result) []float64 {
					xs := make([]float64, len(rs))
					for i, x := range rs {
						xs[i] = float64(x.Percentile(q.q)) / float64(time.Microsecond)
					}
					return xs
				}
				writeRow(&b, fmt.Sprintf("%s, %s (µs)", w.Title, q.name), res, row, fmtNum)
			}
			continue
		}
		rate := func(rs []Result) []float64 {
			xs := make([]float64, len(rs))
			for i, x := range rs {
				xs[i] = x.Rate()
			}
			return xs
		}
		writeRow(&b, fmt.Sprintf("%s (%s)", w.Title, w.Unit), res, rate, fmtRate)
	}

	b.WriteString("\nHeap allocations in this process per operation (runtime.MemStats.Mallocs over the measured part of each run ÷ operations, median). " +
		"Macula and raw quic-go count both ends, which run in this process; NATS counts the nats.go clients only (nats-server is another process). " +
		"The raw quic-go request/reply figure is one echo on a new stream.\n\n")
	b.WriteString("| workload | per | Macula | NATS (TLS), clients | NATS (plain), clients | raw quic-go |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|\n")
	for _, w := range r.Workloads {
		res := r.Results[w.Key]
		fmt.Fprintf(&b, "| %s | %s |", w.Title, w.OpName)
		for _, sys := range []System{Macula, NATSTLS, NATSPlain, RawQUIC} {
			if len(res[sys]) == 0 {
				b.WriteString(" — |")
				continue
			}
			xs := make([]float64, len(res[sys]))
			for i, x := range res[sys] {
				xs[i] = x.AllocsPerOp()
			}
			fmt.Fprintf(&b, " %.1f |", summarize(xs).Median)
		}
		b.WriteString("\n")
	}

	b.WriteString("\nDelivery check, summed over the repetitions (at most once for both: a message a subscriber's queue dropped, or that never came, is not counted in the rates above).\n\n")
	b.WriteString("| workload | system | expected | delivered | dropped | missing |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|\n")
	for _, w := range r.Workloads {
		if w.Latency || w.Key == KeyRPCConcurrent {
			continue
		}
		res := r.Results[w.Key]
		for _, sys := range []System{Macula, NATSTLS, NATSPlain, RawQUIC} {
			if len(res[sys]) == 0 {
				continue
			}
			var exp, del, drop int64
			for _, x := range res[sys] {
				exp, del, drop = exp+x.Expected, del+x.Delivered, drop+x.Dropped
			}
			fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d |\n", w.Title, sys, exp, del, drop, exp-del-drop)
		}
	}
	return b.String()
}

// writeRow writes one comparison row: the systems' medians (min–max) and
// Macula's ratios to the others.
func writeRow(b *strings.Builder, title string, res [numSystems][]Result, values func([]Result) []float64, format func(float64) string) {
	var sum [numSystems]Summary
	fmt.Fprintf(b, "| %s |", title)
	cell := func(sys System) {
		if len(res[sys]) == 0 {
			b.WriteString(" — |")
			return
		}
		sum[sys] = summarize(values(res[sys]))
		s := sum[sys]
		fmt.Fprintf(b, " %s (%s–%s) |", format(s.Median), format(s.Min), format(s.Max))
	}
	ratio := func(sys System) {
		if sum[Macula].N == 0 || sum[sys].N == 0 || sum[sys].Median == 0 {
			b.WriteString(" — |")
			return
		}
		fmt.Fprintf(b, " %.2f× |", sum[Macula].Median/sum[sys].Median)
	}
	cell(Macula)
	cell(NATSTLS)
	cell(NATSPlain)
	ratio(NATSTLS)
	ratio(NATSPlain)
	cell(RawQUIC)
	ratio(RawQUIC)
	b.WriteString("\n")
}

// fmtRate writes a rate with three significant digits and a k or M
// suffix.
func fmtRate(x float64) string {
	switch {
	case x >= 1e6:
		return sig3(x/1e6) + " M"
	case x >= 1e3:
		return sig3(x/1e3) + " k"
	}
	return sig3(x)
}

// fmtNum writes a number with three significant digits (more for large
// numbers, no fraction).
func fmtNum(x float64) string { return sig3(x) }

func sig3(x float64) string {
	switch ax := math.Abs(x); {
	case ax >= 100:
		return fmt.Sprintf("%.0f", x)
	case ax >= 10:
		return fmt.Sprintf("%.1f", x)
	}
	return fmt.Sprintf("%.2f", x)
}

// fmtMicros writes a duration in microseconds.
func fmtMicros(d time.Duration) string {
	return sig3(float64(d)/float64(time.Microsecond)) + " µs"
}
