package routing

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
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

// BenchmarkLookupOverQUIC50 measures one Get (an iterative FIND_VALUE
// that finds one record) from a random node of a 50-node mesh over real
// QUIC, on UDP sockets on 127.0.0.1, once the connections lookups use are
// open. All 50 nodes run in the benchmark's process, so allocs/op counts
// both ends of every query. hops/op and queries/op are those of
// [LookupStats].
func BenchmarkLookupOverQUIC50(b *testing.B) {
	nodes := udpMesh(b, 50)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(5, 6))
	keys := make([]Key, 20)
	for i := range keys {
		owner := nodes[rng.IntN(len(nodes))]
		rec, err := owner.dht.NewRecord(KindRPC, fmt.Sprintf("svc.bench%d", i), []byte("provider"))
		require.NoError(b, err)
		require.NoError(b, owner.dht.Put(ctx, rec))
		keys[i] = rec.Key
	}
	// Warm up: every node looks every key up once.
	for _, nd := range nodes {
		for _, k := range keys {
			got, err := nd.dht.Get(ctx, k)
			require.NoError(b, err)
			require.Len(b, got, 1)
		}
	}
	var hops, queried int
	b.ReportAllocs()
	for b.Loop() {
		got, st, err := nodes[rng.IntN(len(nodes))].dht.GetWithStats(ctx, keys[rng.IntN(len(keys))])
		if err != nil || len(got) != 1 {
			b.Fatalf("lookup failed: %v, %d records", err, len(got))
		}
		hops += st.Hops
		queried += st.Queried
	}
	b.ReportMetric(float64(hops)/float64(b.N), "hops/op")
	b.ReportMetric(float64(queried)/float64(b.N), "queries/op")
}
