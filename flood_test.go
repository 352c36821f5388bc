package macula_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/org/macula"
	"github.com/org/macula/protocol"
	"github.com/org/macula/routing"
	"github.com/org/macula/security"
	"github.com/org/macula/transport"
)

// flooder is a member running modified software: a bare transport with a
// valid certificate (dev mode) that sends DHT queries as fast as it is
// told, whatever the answers.
type flooder struct {
	id *security.Identity
	tr *transport.Transport
	q  *routing.QUICQuerier
}

func newFlooder(tb testing.TB) *flooder {
	tb.Helper()
	f, err := startFlooder()
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = f.tr.Close() })
	return f
}

// startFlooder starts a flooder on a socket of 127.0.0.1; the caller
// closes f.tr.
func startFlooder() (*flooder, error) {
	id, err := security.GenerateIdentity()
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	tr, err := transport.New(transport.Config{Identity: id, Realm: macula.DefaultRealm, Conn: conn})
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	if err := tr.Start(); err != nil {
		_ = tr.Close()
		return nil, err
	}
	return &flooder{id: id, tr: tr, q: routing.NewQUICQuerier(tr)}, nil
}

// floodCounts counts a flood's queries by outcome.
type floodCounts struct {
	sent, answered, refused, banned, failed atomic.Int64
}

// flood sends FIND_NODE queries to target from workers goroutines, at
// most perSecond in all (paced by a token bucket of its own), until ctx
// ends or, with stopWhenBanned, until a query fails because target
// banned the flooder.
func (f *flooder) flood(ctx context.Context, target *macula.Node, perSecond float64, workers int, stopWhenBanned bool) *floodCounts {
	to := routing.Contact{ID: target.ID(), Addrs: []string{target.Addr().String()}}
	return f.floodContact(ctx, to, perSecond, workers, stopWhenBanned)
}

// floodContact is flood to a contact.
func (f *flooder) floodContact(ctx context.Context, to routing.Contact, perSecond float64, workers int, stopWhenBanned bool) *floodCounts {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var c floodCounts
	pace := rate.NewLimiter(rate.Limit(perSecond), workers)
	key := routing.KeyOf(f.id.ID())
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				if pace.Wait(ctx) != nil {
					return
				}
				c.sent.Add(1)
				qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				_, err := f.q.FindNode(qctx, to, key)
				cancel()
				switch {
				case err == nil:
					c.answered.Add(1)
				case errors.Is(err, transport.ErrBanned):
					c.banned.Add(1)
					if stopWhenBanned {
						stop()
						return
					}
				case errors.Is(err, &protocol.CodeError{Code: protocol.CodeRateLimited}):
					c.refused.Add(1)
				default:
					// The connection the ban closed, or one refused for
					// the handshake rate: the next query shows which.
					c.failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return &c
}

// TestFloodedNodeBansFlooderAndKeepsServing runs three nodes on loopback
// QUIC: a victim serving a procedure, an honest caller, and a member
// flooding the victim with DHT queries at a hundred times its query rate.
// The flooder's queries beyond the rate are refused, the refusals add up
// to a ban: the flooder is disconnected and its dials are refused until
// the ban ends, the ban is audited and counted, and every call of the
// honest node during and after the flood succeeds.
func TestFloodedNodeBansFlooderAndKeepsServing(t *testing.T) {
	const (
		queryRate = 10 // per second, and the burst
		strikes   = 100
		ban       = 2 * time.Second
	)
	ctx := context.Background()
	audit := &syncBuffer{}
	victim := startNode(t, macula.WithAuditLog(audit), macula.WithLimits(macula.Limits{
		QueryRate: queryRate, QueryBurst: queryRate,
		StrikeLimit: strikes, StrikeWindow: time.Minute, BanDuration: ban,
	}))
	_, err := victim.Register(ctx, "svc.echo", func(_ context.Context, inv *macula.Invocation) (any, error) {
		return append([]byte(nil), inv.Args...), nil
	})
	require.NoError(t, err)
	honest := startNode(t)
	require.NoError(t, honest.Join(ctx, victim.URI()))
	call := func() error {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := honest.Call(cctx, "svc.echo", []byte("ping"))
		return err
	}
	require.Eventually(t, func() bool { return call() == nil }, 10*time.Second, 50*time.Millisecond, "the procedure is found")

	// The honest node calls throughout the flood, and a little after.
	f := newFlooder(t)
	floodCtx, stopFlood := context.WithTimeout(ctx, 10*time.Second)
	defer stopFlood()
	var calls, failures atomic.Int64
	var callErr atomic.Pointer[error]
	honestDone := make(chan struct{})
	go func() {
		defer close(honestDone)
		for floodCtx.Err() == nil {
			calls.Add(1)
			if err := call(); err != nil {
				failures.Add(1)
				callErr.CompareAndSwap(nil, &err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	counts := f.flood(floodCtx, victim, 100*queryRate, 16, true)
	banned := time.Now()
	// The flooder keeps at it for half its ban: nothing gets through.
	hammerCtx, stopHammer := context.WithTimeout(ctx, ban/2)
	during := f.flood(hammerCtx, victim, 100*queryRate, 16, false)
	stopHammer()
	stopFlood()
	<-honestDone

	t.Logf("flood: %d sent, %d answered, %d refused, %d failed, stopped by the ban: %v; during the ban: %d sent, %d answered; honest calls: %d",
		counts.sent.Load(), counts.answered.Load(), counts.refused.Load(), counts.failed.Load(), counts.banned.Load() > 0,
		during.sent.Load(), during.answered.Load(), calls.Load())
	require.Positive(t, counts.banned.Load(), "the flood ended with the ban, not the deadline")
	require.GreaterOrEqual(t, counts.refused.Load(), int64(strikes)-queryRate, "the strikes were refused queries")
	require.LessOrEqual(t, counts.answered.Load(), int64(2*queryRate), "no more than the burst and a refill were answered")
	require.Positive(t, during.sent.Load())
	require.Zero(t, during.answered.Load(), "no query of the banned flooder is answered")
	require.Positive(t, calls.Load())
	if p := callErr.Load(); p != nil {
		t.Fatalf("%d of %d honest calls failed, first: %v", failures.Load(), calls.Load(), *p)
	}

	// The flooder is disconnected and refused for the ban.
	_, connected := f.tr.Peer(victim.ID())
	require.False(t, connected, "the flooder's connection was closed")
	for _, p := range victim.Peers() {
		require.NotEqual(t, f.id.ID(), p.ID)
	}
	// Its first dial after the ban learnt why (the flood stopped at that
	// ErrBanned); its dials from the same address are now refused before
	// TLS, as over a rate.
	_, err = f.tr.Dial(ctx, victim.Addr(), victim.ID())
	require.ErrorIs(t, err, transport.ErrRateLimited)
	require.Less(t, time.Since(banned), ban, "still within the ban: the refusal above was the ban's")
	require.Zero(t, victim.AbuseStats().Limits.HandshakesRefused, "refused as banned, not for the handshake rate")

	// Counted and audited.
	abuse := victim.AbuseStats()
	require.Equal(t, uint64(1), abuse.Limits.Bans)
	require.GreaterOrEqual(t, abuse.Limits.BannedRefused, uint64(2))
	require.GreaterOrEqual(t, abuse.QueriesRefused, uint64(counts.refused.Load()))
	require.Eventually(t, func() bool {
		return auditKinds(t, audit, f.id.ID())["banned"] == 1 && auditKinds(t, audit, f.id.ID())["rate_limited"] > 0
	}, 5*time.Second, 10*time.Millisecond, "the ban and the refusals are audited: %s", audit.String())

	// The victim still serves the honest node; once the ban is over, the
	// flooder may connect again.
	require.NoError(t, call())
	require.Eventually(t, func() bool {
		_, err := f.tr.Dial(ctx, victim.Addr(), victim.ID())
		return err == nil
	}, ban+5*time.Second, 100*time.Millisecond, "the ban ends")
	require.NoError(t, call())
}

// auditKinds counts the audit records naming peer, by kind.
func auditKinds(t *testing.T, log *syncBuffer, peer security.NodeID) map[string]int {
	out := make(map[string]int)
	for _, rec := range auditLines(t, log) {
		if rec["peer"] == peer.String() {
			kind, _ := rec["kind"].(string)
			out[kind]++
		}
	}
	return out
}
