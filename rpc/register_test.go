package rpc

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/org/macula/protocol"
	"github.com/org/macula/routing"
)

func TestRegisterPublishesOneRecordPerProcedure(t *testing.T) {
	s, recs, _ := localService(t, func(c *Config) { c.Addrs = []string{"192.0.2.1:4433"} })
	ctx := context.Background()
	r1, err := s.Register(ctx, "svc.a", addHandler)
	require.NoError(t, err)
	r2, err := s.Register(ctx, "svc.a", addHandler)
	require.NoError(t, err)
	_, err = s.Register(ctx, "svc.b", addHandler)
	require.NoError(t, err)
	require.Len(t, recs.puts, 2, "one record per procedure")
	rec := recs.puts[0]
	require.Equal(t, routing.KindRPC, rec.Kind)
	require.Equal(t, "svc.a", rec.Name)
	var p protocol.Provider
	require.NoError(t, proto.Unmarshal(rec.Value, &p))
	require.Equal(t, "svc.a", p.GetProcedure())
	require.Equal(t, []string{"192.0.2.1:4433"}, p.GetAddrs())
	got, ok := decodeProvider(rec, "svc.a")
	require.True(t, ok)
	require.Equal(t, p.GetAddrs(), got.GetAddrs())

	require.NoError(t, r1.Unregister())
	require.Empty(t, recs.removes, "another handler remains")
	require.True(t, s.hasLocal("svc.a"))
	require.NoError(t, r2.Unregister())
	require.Equal(t, []string{"rpc/svc.a"}, recs.removes)
	require.False(t, s.hasLocal("svc.a"))
	require.NotContains(t, s.procs, "svc.a", "forgotten")

	// Register again: a new record.
	_, err = s.Register(ctx, "svc.a", addHandler)
	require.NoError(t, err)
	require.Len(t, recs.puts, 3)
}

func TestRegisterFailureLeavesNothing(t *testing.T) {
	s, recs, _ := localService(t, nil)
	boom := errors.New("no peers")
	recs.putErr = boom
	_, err := s.Register(context.Background(), "svc.a", addHandler)
	require.ErrorIs(t, err, boom)
	require.False(t, s.hasLocal("svc.a"))
	require.Equal(t, []string{"rpc/svc.a"}, recs.removes, "the record the DHT remembered is withdrawn")
	_, err = s.Call(context.Background(), "svc.a", [2]int{1, 2})
	require.ErrorIs(t, err, ErrNoProvider)
}

func TestConcurrentRegisterUnregister(t *testing.T) {
	s, recs, _ := localService(t, nil)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				r, err := s.Register(ctx, "svc.churn", addHandler)
				require.NoError(t, err)
				require.NoError(t, r.Unregister())
			}
		})
	}
	wg.Wait()
	keep, err := s.Register(ctx, "svc.churn", addHandler)
	require.NoError(t, err)
	// Whatever the interleaving, the record's last operation matches the
	// final state: published.
	recs.mu.Lock()
	puts, removes := len(recs.puts), len(recs.removes)
	recs.mu.Unlock()
	require.Equal(t, puts, removes+1)
	require.NoError(t, keep.Unregister())
	require.Equal(t, len(recs.puts), len(recs.removes))
}

func TestLocalCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _, _ := localService(t, nil)
		ctx := context.Background()
		release := make(chan struct{})
		busy := make(chan struct{})
		_, err := s.Register(ctx, "svc.limited", func(ctx context.Context, _ *Invocation) (any, error) {
			close(busy)
			<-release
			return "first", nil
		}, WithMaxConcurrent(1))
		require.NoError(t, err)
		_, err = s.Register(ctx, "svc.limited", func(context.Context, *Invocation) (any, error) { return "second", nil })
		require.NoError(t, err)

		// Local handlers take turns; one at its limit is passed over.
		first := make(chan string, 1)
		go func() {
			for {
				rep, err := s.Call(ctx, "svc.limited", nil)
				require.NoError(t, err)
				var who string
				require.NoError(t, rep.Decode(&who))
				if who == "first" {
					first <- who
					return
				}
			}
		}()
		<-busy
		for range 5 {
			rep, err := s.Call(ctx, "svc.limited", nil)
			require.NoError(t, err)
			var who string
			require.NoError(t, rep.Decode(&who))
			require.Equal(t, "second", who)
		}
		close(release)
		require.Equal(t, "first", <-first)

		// Panics are recovered in process too.
		_, err = s.Register(ctx, "svc.panic", func(context.Context, *Invocation) (any, error) { panic("boom") })
		require.NoError(t, err)
		_, err = s.Call(ctx, "svc.panic", nil)
		var re *RemoteError
		require.ErrorAs(t, err, &re)
		require.Equal(t, protocol.CodeInternal, re.Code)
		require.Equal(t, uint64(1), s.Stats().Panics)

		// Close cancels a running local handler and waits for it.
		started := make(chan struct{})
		_, err = s.Register(ctx, "svc.wait", func(ctx context.Context, _ *Invocation) (any, error) {
			close(started)
			<-ctx.Done()
			return nil, ctx.Err()
		})
		require.NoError(t, err)
		errc := make(chan error, 1)
		go func() {
			_, err := s.Call(ctx, "svc.wait", nil)
			errc <- err
		}()
		<-started
		require.NoError(t, s.Close())
		require.ErrorIs(t, <-errc, ErrClosed)
	})
}

func FuzzDecodeProvider(f *testing.F) {
	good, err := proto.Marshal(&protocol.Provider{Procedure: "svc.a", Addrs: []string{"192.0.2.1:4433"}})
	require.NoError(f, err)
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0xff})
	f.Fuzz(func(t *testing.T, value []byte) {
		rec := &routing.Record{Kind: routing.KindRPC, Name: "svc.a", Value: value}
		p, ok := decodeProvider(rec, "svc.a")
		if ok {
			require.Equal(t, "svc.a", p.GetProcedure())
		}
		_, ok = decodeProvider(rec, "svc.b")
		require.False(t, ok, "a record of another name never decodes")
	})
}
