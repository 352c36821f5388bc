package meshtest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/org/macula"
	"github.com/org/macula/meshtest"
)

// Three nodes on real UDP sockets of 127.0.0.1 join through node 0; node 2
// serves a procedure, and node 0 calls it before, during and after node 2
// is cut off, and after node 2 crashed and restarted with the same
// identity and address.
//
// In a test, write meshtest.New(t, 3, ...) instead of Start: it fails the
// test on error, closes the mesh when the test ends, and logs the seed if
// the test fails. Inside synctest.Test, leave out OverUDP: the mesh then
// runs on simnet in virtual time.
func Example() {
	m, err := meshtest.Start(3, meshtest.OverUDP(), meshtest.WithBootstrapTo(0))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.WaitConverged(ctx); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("members seen by node 2:", len(m.Node(2).Members()))

	add := func(_ context.Context, inv *macula.Invocation) (any, error) {
		var xy [2]int
		if err := inv.Decode(&xy); err != nil {
			return nil, err
		}
		return xy[0] + xy[1], nil
	}
	if _, err := m.Node(2).Register(ctx, "demo.add", add); err != nil {
		fmt.Println(err)
		return
	}
	call := func(within time.Duration) string {
		cctx, ccancel := context.WithTimeout(ctx, within)
		defer ccancel()
		reply, err := m.Node(0).Call(cctx, "demo.add", [2]int{3, 4})
		if err != nil {
			return fmt.Sprintf("failed (deadline exceeded: %t)", errors.Is(err, context.DeadlineExceeded))
		}
		var sum int
		if err := reply.Decode(&sum); err != nil {
			return err.Error()
		}
		return fmt.Sprint("3 + 4 = ", sum)
	}
	fmt.Println("call:", call(10*time.Second))

	m.Partition([]int{0, 1}, []int{2})
	fmt.Println("call across the cut:", call(time.Second))
	m.Heal()
	fmt.Println("call after healing:", call(10*time.Second))

	id := m.Node(2).ID()
	m.Kill(2)
	node, err := m.Restart(2)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("same identity after restart:", node.ID() == id)
	if _, err := node.Register(ctx, "demo.add", add); err != nil {
		fmt.Println(err)
		return
	}
	if err := m.WaitConverged(ctx); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("call after the restart:", call(10*time.Second))
	// Output:
	// members seen by node 2: 3
	// call: 3 + 4 = 7
	// call across the cut: failed (deadline exceeded: true)
	// call after healing: 3 + 4 = 7
	// same identity after restart: true
	// call after the restart: 3 + 4 = 7
}
