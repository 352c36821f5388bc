package macula_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula"
	"github.com/org/macula/meshtest"
)

// indexLog records which events (by the index each carries as payload)
// one life of a subscriber node handled, and how often.
type indexLog struct {
	mu    sync.Mutex
	count map[int]int
	dupes int
}

func newIndexLog() *indexLog { return &indexLog{count: map[int]int{}} }

func (l *indexLog) handle(_ context.Context, ev *macula.Event) {
	var i int
	if err := ev.Decode(&i); err != nil {
		panic(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.count[i]++
	if l.count[i] > 1 {
		l.dupes++
	}
}

func (l *indexLog) has(i int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count[i] > 0
}

func (l *indexLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.count)
}

// waitConverged waits up to 10 s (virtual) until every running member of
// m sees every other alive.
func waitConverged(t *testing.T, m *meshtest.Mesh) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, m.WaitConverged(ctx))
}

func TestPubSubAtLeastOnceUnderLossAndSubscriberRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 4
		m := meshtest.New(t, n, meshtest.WithBootstrapTo(0))
		waitConverged(t, m)
		m.SetLoss(0.10)
		ctx := context.Background()
		lives := []*indexLog{newIndexLog(), newIndexLog()}
		_, err := m.Node(3).Subscribe(ctx, "orders.#", lives[0].handle)
		require.NoError(t, err)

		// The publisher sends event i every 10 ms, at least once, and notes
		// the ones acknowledged by the subscriber node: Publish returned
		// nil and the event was sent to a remote node (the subscriber is
		// the only one).
		pub := m.Node(0)
		const total = 300
		acked := make(chan int, total)
		go func() {
			defer close(acked)
			for i := range total {
				before := pub.PubSubStats().Sent
				pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				err := pub.Publish(pctx, fmt.Sprintf("orders.eu.%d", i%7), i, macula.WithQoS(macula.AtLeastOnce))
				cancel()
				if err == nil && pub.PubSubStats().Sent > before {
					acked <- i
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()

		// Crash the subscriber node in the middle and bring it back with
		// the same identity and address; its application subscribes again.
		time.Sleep(time.Second)
		m.Kill(3)
		time.Sleep(300 * time.Millisecond)
		node, err := m.Restart(3)
		require.NoError(t, err)
		_, err = node.Subscribe(ctx, "orders.#", lives[1].handle)
		require.NoError(t, err)

		var got []int
		for i := range acked {
			got = append(got, i)
			require.True(t, lives[0].has(i) || lives[1].has(i), "acknowledged event %d was handled", i)
		}
		require.Greater(t, len(got), total*9/10, "almost every event was acknowledged")
		require.Positive(t, lives[0].len(), "the first life handled events")
		require.Positive(t, lives[1].len(), "the second life handled events")
		for k, l := range lives {
			require.Zero(t, l.dupes, "life %d handled no event twice", k)
		}
		_, dropped := m.PacketStats()
		require.Positive(t, dropped, "packets were lost")
		t.Logf("%d/%d acknowledged; first life %d, second life %d; %d packets dropped; resent %d",
			len(got), total, lives[0].len(), lives[1].len(), dropped, pub.PubSubStats().Resent)
	})
}

func TestPubSubDeadSubscriberIsNoLongerSentTo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 6
		m := meshtest.New(t, n, meshtest.WithBootstrapTo(0))
		waitConverged(t, m)
		ctx := context.Background()
		live, doomed := newIndexLog(), newIndexLog()
		_, err := m.Node(4).Subscribe(ctx, "metrics.*", live.handle)
		require.NoError(t, err)
		_, err = m.Node(5).Subscribe(ctx, "metrics.*", doomed.handle)
		require.NoError(t, err)
		pub := m.Node(0)
		require.NoError(t, pub.Publish(ctx, "metrics.cpu", 0))
		time.Sleep(100 * time.Millisecond)
		require.Equal(t, 1, doomed.len())

		deadID := m.Node(5).ID()
		m.Kill(5)
		require.True(t, m.WaitFor(time.Minute, func() bool {
			mem, ok := pub.Member(deadID)
			return ok && mem.State == macula.MemberDead
		}), "the publisher learns that the subscriber died (suspect is not enough: it may refute)")
		// The node hides the dead member's records from its watch of
		// membership, on its own goroutine: let it run.
		synctest.Wait()
		// From then on, each event goes to the live subscriber only.
		before := pub.PubSubStats().Sent
		for i := 1; i <= 10; i++ {
			require.NoError(t, pub.Publish(ctx, "metrics.cpu", i))
		}
		time.Sleep(100 * time.Millisecond)
		require.Equal(t, uint64(10), pub.PubSubStats().Sent-before, "one send per event, none to the dead node")
		require.Equal(t, 11, live.len())
	})
}

func TestPubSubSystemTopics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := meshtest.New(t, 3)
		ctx := context.Background()
		var mu sync.Mutex
		var events []string
		var joined macula.SystemEvent
		_, err := m.Node(0).Subscribe(ctx, "_mesh.#", func(_ context.Context, ev *macula.Event) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, ev.Topic)
			if ev.Topic == macula.TopicMemberJoined {
				_ = ev.Decode(&joined)
			}
		})
		require.NoError(t, err)
		require.NoError(t, m.Node(1).Join(ctx, m.Addr(0)))
		time.Sleep(2 * time.Second)
		mu.Lock()
		require.Contains(t, events, macula.TopicPeerConnected)
		require.Contains(t, events, macula.TopicMemberJoined)
		require.Equal(t, m.Node(1).ID(), joined.Node)
		require.Equal(t, "alive", joined.State)
		mu.Unlock()

		require.NoError(t, m.Stop(1))
		seen := func(topic string) func() bool {
			return func() bool {
				mu.Lock()
				defer mu.Unlock()
				return slices.Contains(events, topic)
			}
		}
		require.True(t, m.WaitFor(2*time.Second, seen(macula.TopicMemberLeft)))
		// The connection's close frame may be lost with the stopped node's
		// link; then the idle timeout (30 s) ends the connection.
		require.True(t, m.WaitFor(time.Minute, seen(macula.TopicPeerDisconnected)))
		// The publish API keeps system topics for the mesh.
		require.ErrorIs(t, m.Node(0).Publish(ctx, macula.TopicMemberJoined, "forged"), macula.ErrInvalidTopic)
	})
}
