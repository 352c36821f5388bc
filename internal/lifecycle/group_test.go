package lifecycle

import (
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestGoRunsUntilStopThenRefuses(t *testing.T) {
	var g Group
	ran := make(chan struct{})
	require.True(t, g.Go(func() { close(ran) }))
	<-ran
	require.False(t, g.Stopping())
	require.True(t, g.Stop())
	require.True(t, g.Stopping())
	require.False(t, g.Stop(), "only the first Stop begins stopping")
	require.False(t, g.Go(func() { t.Error("ran after Stop") }))
	require.False(t, g.Add())
	g.Wait()
}

func TestWaitWaitsForEveryGoroutineAndCountedWork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group
		var finished atomic.Int32
		for i := range 3 {
			require.True(t, g.Go(func() {
				time.Sleep(time.Duration(i+1) * time.Second)
				finished.Add(1)
			}))
		}
		require.True(t, g.Add())
		go func() {
			time.Sleep(5 * time.Second)
			finished.Add(1)
			g.Done()
		}()
		start := time.Now()
		g.StopAndWait()
		require.Equal(t, 5*time.Second, time.Since(start))
		require.EqualValues(t, 4, finished.Load())
	})
}

func TestWaitBlocksUntilStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group
		returned := make(chan struct{})
		go func() {
			g.Wait()
			close(returned)
		}()
		synctest.Wait()
		select {
		case <-returned:
			t.Fatal("Wait returned before Stop")
		default:
		}
		g.Stop()
		synctest.Wait()
		select {
		case <-returned:
		default:
			t.Fatal("Wait did not return after Stop with nothing running")
		}
	})
}

func TestContextEndsAtStop(t *testing.T) {
	t.Run("made before Stop", func(t *testing.T) {
		var g Group
		ctx := g.Context()
		require.NoError(t, ctx.Err())
		require.True(t, g.Go(func() { <-ctx.Done() }))
		g.StopAndWait()
		require.Error(t, ctx.Err())
	})
	t.Run("made after Stop", func(t *testing.T) {
		var g Group
		g.Stop()
		require.Error(t, g.Context().Err())
		g.Wait()
	})
	t.Run("same context each time", func(t *testing.T) {
		var g Group
		require.Equal(t, g.Context(), g.Context())
		g.StopAndWait()
	})
}

// Go racing with Stop: every Go that reported true ran to its end before
// Wait returned, and none that reported false ran.
func TestGoRacingWithStop(t *testing.T) {
	for range 200 {
		var g Group
		var started, finished, refused atomic.Int32
		var callers sync.WaitGroup
		for range 8 {
			callers.Go(func() {
				for range 20 {
					ok := g.Go(func() {
						started.Add(1)
						finished.Add(1)
					})
					if !ok {
						refused.Add(1)
					}
				}
			})
		}
		g.Stop()
		g.Wait()
		// Everything accepted so far has finished.
		require.Equal(t, started.Load(), finished.Load())
		callers.Wait()
		require.EqualValues(t, 160, started.Load()+refused.Load())
		require.Equal(t, started.Load(), finished.Load(), "a goroutine ran after Wait returned")
	}
}

// Owned goroutines may start others; once stopping has begun they are
// refused, and Wait still sees every one that started.
func TestNestedGoDuringStop(t *testing.T) {
	var g Group
	var count atomic.Int32
	var spawn func(depth int)
	spawn = func(depth int) {
		count.Add(1)
		if depth < 6 {
			g.Go(func() { spawn(depth + 1) })
			g.Go(func() { spawn(depth + 1) })
		}
	}
	require.True(t, g.Go(func() { spawn(0) }))
	g.Stop()
	g.Wait()
	n := count.Load()
	require.Positive(t, n)
	require.False(t, g.Go(func() { count.Add(1) }))
	require.Equal(t, n, count.Load())
}

func TestConcurrentStopAndWait(t *testing.T) {
	var g Group
	release := make(chan struct{})
	require.True(t, g.Go(func() { <-release }))
	var firsts atomic.Int32
	var waiters sync.WaitGroup
	for range 4 {
		waiters.Go(func() {
			if g.Stop() {
				firsts.Add(1)
			}
			g.Wait()
		})
	}
	close(release)
	waiters.Wait()
	require.EqualValues(t, 1, firsts.Load())
}

func TestDoneWithoutAddPanics(t *testing.T) {
	t.Run("running", func(t *testing.T) {
		var g Group
		require.Panics(t, g.Done)
	})
	t.Run("stopping", func(t *testing.T) {
		var g Group
		g.Stop()
		require.Panics(t, g.Done)
	})
}
