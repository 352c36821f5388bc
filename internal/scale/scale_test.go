package scale

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula"
	"github.com/org/macula/membership"
)

func TestMain(m *testing.M) {
	// crashConn is not a *net.UDPConn, so quic-go cannot size its buffers
	// and says so once; the tests do not need large buffers.
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	os.Exit(m.Run())
}

func TestParseRSS(t *testing.T) {
	rss, peak, err := parseRSS(strings.NewReader("Name:\tbenchscale\nVmPeak:\t 9999 kB\nVmHWM:\t   2048 kB\nVmRSS:\t   1024 kB\nThreads:\t7\n"))
	require.NoError(t, err)
	require.Equal(t, uint64(1024*1024), rss)
	require.Equal(t, uint64(2048*1024), peak)

	_, _, err = parseRSS(strings.NewReader("VmRSS:\t1024 kB\n"))
	require.Error(t, err, "VmHWM missing")
	_, _, err = parseRSS(strings.NewReader("VmRSS:\t1024 MB\nVmHWM:\t1 kB\n"))
	require.Error(t, err, "unknown unit")
}

func TestReadRSSOfThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc/self/status")
	}
	rss, peak, err := ProcessRSS()
	require.NoError(t, err)
	require.Positive(t, rss)
	require.GreaterOrEqual(t, peak, rss)
}

// fastMembership detects a silent peer within a few seconds instead of
// the LAN defaults' longer suspicion.
var fastMembership = macula.WithMembershipConfig(macula.MembershipConfig{
	ProbeInterval: 100 * time.Millisecond,
	ProbeTimeout:  50 * time.Millisecond,
})

// TestCrashLooksLikeACrash checks the crash emulation MeasureClose relies
// on: once the peer's socket is silenced, even its graceful Close reaches
// the survivor as nothing, so the survivor declares it dead, where without
// the crash it records a graceful leave.
func TestCrashLooksLikeACrash(t *testing.T) {
	for _, crash := range []bool{false, true} {
		want := membership.EventLeave
		if crash {
			want = membership.EventFail
		}
		t.Run(want.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			p, err := startPair(ctx, []macula.Option{fastMembership})
			require.NoError(t, err)
			t.Cleanup(p.close)
			events := p.a.WatchMembers(ctx)
			if crash {
				p.crash()
			}
			require.NoError(t, p.b.Close())
			for ev := range events {
				if ev.Member.ID != p.b.ID() || (ev.Type != membership.EventLeave && ev.Type != membership.EventFail) {
					continue
				}
				require.Equal(t, want, ev.Type)
				return
			}
			t.Fatalf("the survivor saw neither a leave nor a failure: %v", ctx.Err())
		})
	}
}

// TestMeasureClose: neither a graceful Close nor one while the node
// suspects its crashed peer waits long, and a crashed peer leaves the survivor no goroutine
// stuck on it (Close waits for all of them).
func TestMeasureClose(t *testing.T) {
	ct, err := MeasureClose(t.Context(), 1)
	require.NoError(t, err)
	require.Len(t, ct.Graceful, 1)
	require.Len(t, ct.AfterCrash, 1)
	t.Logf("Close: graceful %v, after the peer crashed %v", ct.Graceful[0], ct.AfterCrash[0])
	for _, d := range append(ct.Graceful, ct.AfterCrash...) {
		require.Positive(t, d)
		require.Less(t, d, 5*time.Second)
	}
}

func TestMedian(t *testing.T) {
	require.Zero(t, Median(nil))
	require.Equal(t, 2*time.Second, Median([]time.Duration{3 * time.Second, time.Second, 2 * time.Second}))
	require.Equal(t, 3*time.Second, Median([]time.Duration{4 * time.Second, time.Second, 3 * time.Second, 2 * time.Second}))
}
