// Package meshtest starts meshes of real Macula nodes on quic-go's in-memory
// network (testutils/simnet) for deterministic tests in virtual time.
//
// A Mesh must be created inside a testing/synctest bubble: time then only
// advances when every goroutine of the test is blocked, so a 30-second idle
// timeout takes no wall time and durations can be asserted exactly. The
// nodes run the real quic-go stack with real TLS; only the UDP sockets are
// replaced by simnet endpoints routed through a router that can partition
// the mesh, drop packets at random, and kill nodes abruptly.
//
// # Usage
//
//	synctest.Test(t, func(t *testing.T) {
//		m := meshtest.New(t, 5)           // five nodes, not yet connected
//		require.NoError(t, m.JoinAll(ctx)) // each node joins node 0
//		m.Partition([]int{0, 1}, []int{2, 3, 4})
//		...
//		m.Heal()
//		m.Kill(3)
//		m.Restart(3)
//	})
//
// The mesh closes itself in t.Cleanup, inside the bubble.
package meshtest
