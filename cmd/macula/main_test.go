package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// binDir holds the macula binary the tests build; made by TestMain.
var binDir string

func TestMain(m *testing.M) {
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	os.Unsetenv(adminEnv)
	dir, err := os.MkdirTemp("", "macula-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		_ = os.RemoveAll(dir)
		os.Exit(code)
	}))
}

var (
	buildOnce sync.Once
	buildErr  error
)

// maculaBinary builds the macula command once, with -race when the tests
// run with it, and returns its path.
func maculaBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(binDir, "macula")
	buildOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("find the go tool: %w", err)
			return
		}
		args := []string{"build", "-o", bin}
		if raceEnabled {
			args = append(args, "-race")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goTool, append(args, ".")...)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return bin
}

// result is what one run of the binary did.
type result struct {
	stdout, stderr string
	code           int
}

// String describes the run for failure messages.
func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
}

// cli runs the macula binary with args and waits for it (at most a minute).
func cli(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, maculaBinary(t), args...)
	cmd.Env = quickExit(testEnv())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run macula %s: %v", strings.Join(args, " "), err)
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// testEnv is the environment of the processes the tests start: without
// MACULA_ADMIN, so that only flags choose the admin address.
func testEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, adminEnv+"=") {
			env = append(env, kv)
		}
	}
	return env
}

// quickExit adds to env the race runtime option that skips its sleep of
// 1 s before exiting, which gives goroutines still running a last chance
// to show a race: a client command's work is done by the time it exits,
// and the end-to-end test runs dozens of them (each took 1 s more).
func quickExit(env []string) []string {
	const opt = "atexit_sleep_ms=0"
	for i, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GORACE="); ok {
			env[i] = "GORACE=" + strings.TrimSpace(v+" "+opt)
			return env
		}
	}
	return append(env, "GORACE="+opt)
}

// inProcess runs the command line in this process.
func inProcess(args ...string) result {
	var out, errb bytes.Buffer
	code := run(context.Background(), func() {}, args, strings.NewReader(""), &out, &errb)
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// requireOneLineError checks a failed run: non-zero exit, nothing on
// stdout, one line on stderr that contains want, no stack trace.
func requireOneLineError(t *testing.T, r result, want string) {
	t.Helper()
	require.NotZero(t, r.code, "%v", r)
	require.Empty(t, r.stdout, "%v", r)
	require.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line: %v", r)
	require.True(t, strings.HasSuffix(r.stderr, "\n"), "%v", r)
	require.Contains(t, r.stderr, want, "%v", r)
	require.NotContains(t, r.stderr, "goroutine ", "%v", r)
	require.NotContains(t, r.stderr, "Usage:", "%v", r)
}
