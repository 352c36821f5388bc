package scale

import (
	"fmt"
	"time"
)

// MarkdownHeader is the header of the table MarkdownRow fills: the
// columns of docs/BENCHMARKS.md "Mesh scale", then the RSS, messaging and
// two-node Close columns.
const MarkdownHeader = "| nodes | joins | converged | connections per node (min/median/max) | heap per node | goroutines per node | close all " +
	"| RSS per node (peak) | pub/sub at-least-once deliveries (duplicates), time | RPC calls answered, p50 / max " +
	"| after messaging: connections per node (min/median/max), goroutines, RSS per node " +
	"| Close, 2 nodes: graceful / peer crashed and suspected (median) |\n" +
	"|---|---|---|---|---|---|---|---|---|---|---|---|"

// MarkdownRow formats r as a row of the MarkdownHeader table.
func (r *Result) MarkdownRow() string {
	converged := seconds(r.ConvergeTook)
	if !r.Converged {
		converged = "not in " + converged
	}
	return fmt.Sprintf("| %d | %s | %s | %d / %d / %d | %s | %.0f | %s | %s (%s) | %d / %d (%d), %s | %d / %d, %s / %s | %d / %d / %d, %.0f, %s | %s / %s |",
		r.Nodes, seconds(r.StartTook), converged,
		r.ConnMin, r.ConnMedian, r.ConnMax,
		megabytes(r.HeapPerNode), r.GoroutinesPerNode, seconds(r.CloseAll),
		megabytes(r.RSSPerNode), megabytes(r.PeakRSSPerNode),
		r.PubSubDelivered, r.PubSubExpected, r.PubSubDuplicates, millis(r.PubSubTook),
		r.RPCOK, r.RPCCalls, millis(r.RPCMedian), millis(r.RPCMax),
		r.AfterMessaging.ConnMin, r.AfterMessaging.ConnMedian, r.AfterMessaging.ConnMax,
		r.AfterMessaging.GoroutinesPerNode, megabytes(r.AfterMessaging.RSSPerNode),
		millis(Median(r.Close.Graceful)), millis(Median(r.Close.AfterCrash)))
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

// millis keeps sub-millisecond figures visible (Close often takes less).
func millis(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }

func megabytes(b uint64) string { return fmt.Sprintf("%.2f MB", float64(b)/1e6) }
