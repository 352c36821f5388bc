// Command benchscale starts N full nodes on loopback QUIC in one process
// and prints how the mesh formed (make bench-scale N=...).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/org/macula/internal/scale"
)

func main() {
	n := flag.Int("n", 200, "nodes")
	converge := flag.Duration("converge", 2*time.Minute, "longest wait for convergence")
	idle := flag.Duration("idle", 10*time.Second, "idle time before counting connections")
	flag.Parse()
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	ctx := context.Background()
	m, res, err := scale.Start(ctx, scale.Config{Nodes: *n, Converge: *converge, Log: func(f string, a ...any) {
		fmt.Printf(f+"\n", a...)
	}})
	fmt.Printf("start+join: %v, convergence: %v (converged %v)\n", res.StartTook.Round(time.Millisecond), res.ConvergeTook.Round(time.Millisecond), res.Converged)
	if err != nil {
		fmt.Println("error:", err)
	}
	time.Sleep(*idle)
	m.Measure(&res)
	fmt.Printf("connections per node after %v idle: min %d median %d max %d\n", *idle, res.ConnMin, res.ConnMedian, res.ConnMax)
	fmt.Printf("heap per node: %.2f MB, goroutines per node: %.1f\n", float64(res.HeapPerNode)/1e6, res.GoroutinesPerNode)
	fmt.Printf("close all: %v\n", m.Close().Round(time.Millisecond))
	if err != nil {
		os.Exit(1)
	}
}
