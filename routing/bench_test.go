package routing

import (
	"context"
	"testing"
)

// BenchmarkLookup50 measures one Get (an iterative FIND_VALUE that finds
// one record) in a 50-node in-memory mesh, where queries cost a function
// call: it shows the DHT's own CPU and allocation cost per lookup.
func BenchmarkLookup50(b *testing.B) {
	c := newCluster(b, 50, nil)
	c.bootstrap(b, 3, 1)
	keys := populate(b, c, 100)
	ctx := context.Background()
	var queried int
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		k := keys[i%len(keys)]
		got, stats, err := c.nodes[i%len(c.nodes)].GetWithStats(ctx, k.rec.Key)
		if err != nil || len(got) != 1 {
			b.Fatalf("lookup failed: %v, %d records", err, len(got))
		}
		queried += stats.Queried
	}
	b.ReportMetric(float64(queried)/float64(b.N), "queries/op")
}

// BenchmarkFindClosest50 measures one iterative FIND_NODE in a 50-node
// in-memory mesh.
func BenchmarkFindClosest50(b *testing.B) {
	c := newCluster(b, 50, nil)
	c.bootstrap(b, 3, 1)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, _, err := c.nodes[i%len(c.nodes)].FindClosest(ctx, KeyFor(testRealm, KindSub, "x")); err != nil {
			b.Fatal(err)
		}
	}
}
