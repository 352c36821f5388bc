// Package meshtest runs meshes of real Macula nodes in one test process,
// on a network whose faults the test controls: partitions and healing,
// packet loss, latency, crashes and restarts with the same identity and
// address, and paused nodes. Use it to test a program built on Macula
// against the failures a real mesh meets.
//
// The nodes are real: each is a macula.Node running quic-go with TLS,
// membership, the DHT, the overlay, pub/sub and RPC. Only their sockets
// are the harness's, in one of two kinds:
//
//   - simnet (the default): quic-go's in-memory network
//     (testutils/simnet). Create the mesh inside testing/synctest's
//     synctest.Test: time then advances only when every goroutine of the
//     test is blocked, so a 30-second timeout takes no wall time, and
//     durations can be asserted exactly. Tens of nodes start in
//     milliseconds.
//   - real UDP on 127.0.0.1 ([OverUDP]), in real time, for what only real
//     sockets show. The faults work the same way: each socket is wrapped
//     in a net.PacketConn that drops, delays and holds packets.
//
// Packet loss and the members' identities come from a seed. [New] picks a
// random one unless [WithSeed] or the environment variable MESHTEST_SEED
// ([SeedEnv]) sets it, and logs it when the test fails, so that a failure
// can be replayed.
//
// # Usage
//
// In a test, in virtual time:
//
//	func TestFailover(t *testing.T) {
//		synctest.Test(t, func(t *testing.T) {
//			m := meshtest.New(t, 5, meshtest.WithBootstrapTo(0)) // five nodes, joining node 0
//			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
//			defer cancel()
//			require.NoError(t, m.WaitConverged(ctx)) // everyone sees everyone alive
//
//			m.Partition([]int{0, 1}, []int{2, 3, 4})
//			// ... assert what each side does ...
//			m.Heal()
//			m.Kill(3)                 // a crash: no goodbye
//			node, err := m.Restart(3) // same identity, same address
//			require.NoError(t, err)
//			_ = node
//			m.Pause(4) // silent, as if stopped by SIGSTOP
//			m.Resume(4)
//		})
//	}
//
// The mesh closes itself in t.Cleanup, inside the bubble. Code that has no
// testing.TB (an Example, TestMain) uses [Start] and [Mesh.Close], as the
// package's Example does.
package meshtest
