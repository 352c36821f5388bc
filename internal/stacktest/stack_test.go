package stacktest_test

import (
	"context"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/org/macula/internal/stacktest"
	"github.com/org/macula/routing"
)

func TestMain(m *testing.M) {
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	goleak.VerifyTestMain(m)
}

const realm = "org.example.stacktest"

func TestStacksShareRecordsAndCrash(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lat := []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond}
		m := stacktest.New(t, 3, stacktest.Config{Realm: realm, Latency: func(i int) time.Duration { return lat[i] }})
		ctx := context.Background()

		// Latency is the receiver's: a ping from 1 to 2 takes 20 ms out
		// and 10 ms back.
		_, err := m.Stacks[1].Transport.Connect(ctx, m.Stacks[2].ID(), []string{m.Stacks[2].Addr})
		require.NoError(t, err)
		rtt, err := m.Stacks[1].Transport.Ping(ctx, m.Stacks[2].ID())
		require.NoError(t, err)
		require.Equal(t, 30*time.Millisecond, rtt)

		// The DHTs were bootstrapped: a record stored by 2 is found by 1,
		// through the directory.
		rec, err := m.Stacks[2].DHT.NewRecord(routing.KindRPC, "svc.x", []byte("v"))
		require.NoError(t, err)
		require.NoError(t, m.Stacks[2].DHT.Put(ctx, rec))
		recs, err := m.Stacks[1].Directory.Lookup(ctx, routing.KeyFor(realm, routing.KindRPC, "svc.x"))
		require.NoError(t, err)
		require.Len(t, recs, 1)
		require.Equal(t, m.Stacks[2].ID(), recs[0].Owner)

		m.Crash(2)
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		// Stack 0 may hold a connection to 2 (from the Put) or dial one;
		// either way nothing comes back.
		_, err = m.Stacks[0].Transport.Connect(pctx, m.Stacks[2].ID(), []string{m.Stacks[2].Addr})
		if err == nil {
			_, err = m.Stacks[0].Transport.Ping(pctx, m.Stacks[2].ID())
		}
		require.ErrorIs(t, err, context.DeadlineExceeded, "a crashed stack answers nothing")
		require.Positive(t, m.Net.Stats().Blocked)
	})
}

func TestLoopbackStacks(t *testing.T) {
	m := stacktest.New(t, 2, stacktest.Config{Realm: realm, Loopback: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.Contains(t, m.Stacks[0].Addr, "127.0.0.1:")
	_, err := m.Stacks[1].Transport.Ping(ctx, m.Stacks[0].ID())
	require.NoError(t, err, "bootstrapping connected 1 to 0")
}
