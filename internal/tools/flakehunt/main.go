// Command flakehunt runs the test suite repeatedly, the way CI does and
// harder, and reports every test that failed at least once, with its
// output. It is what `make flake-hunt` runs; docs/TESTING.md explains it.
//
// Rounds, in order:
//
//   - the whole suite with -race, packages in parallel (-p), -rounds times;
//   - the whole suite with -race and GOMAXPROCS=1 (one core: another
//     interleaving of the same goroutines);
//   - every virtual-time test (one that runs testing/synctest, directly or
//     through a helper in its package) many times with -race, a package
//     at a time: once to time each test, then -count times, or fewer
//     where that would take longer than -budget (a 200-node DHT churn
//     run takes about 20 s; at least -min-count runs each), at most 5 in
//     one process, every other process with GOMAXPROCS=1.
//
// Each round runs `go test -json`; a failed test or package is recorded
// with the round that saw it and the output of its first failure. The
// exit status is 1 when anything failed.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

func main() {
	var (
		rounds   = flag.Int("rounds", 2, "full -race runs with packages in parallel")
		parallel = flag.Int("p", 4, "packages tested at once in the full runs (CI runs 2 on 2 cores; more is more load)")
		count    = flag.Int("count", 50, "runs of each virtual-time test")
		minCount = flag.Int("min-count", 3, "runs of each virtual-time test however long it takes")
		budget   = flag.Duration("budget", 30*time.Second, "wall time per virtual-time test beyond which it runs fewer than -count times")
		noRace   = flag.String("norace", "", "-run pattern of tests that run without -race (as in make test)")
		skipOne  = flag.Bool("skip-gomaxprocs1", false, "skip the GOMAXPROCS=1 full run")
		timeout  = flag.Duration("timeout", 20*time.Minute, "go test -timeout per run")
		pkgs     = flag.String("pkgs", "./...", "packages, space-separated (./rpc ./pubsub), or ./... for all")
		list     = flag.Bool("list", false, "list the virtual-time tests and exit")
	)
	flag.Parse()
	var noRaceRE *regexp.Regexp
	if *noRace != "" {
		re, err := regexp.Compile(*noRace)
		if err != nil {
			fmt.Fprintln(os.Stderr, "flakehunt: -norace:", err)
			os.Exit(2)
		}
		noRaceRE = re
	}
	pkgList := strings.Fields(*pkgs)
	// raceArgs are the flags of a -race run of the whole suite.
	raceArgs := []string{"-race"}
	if noRaceRE != nil {
		raceArgs = append(raceArgs, "-skip", *noRace)
	}
	if *list {
		vt, err := virtualTimeTests(".")
		if err != nil {
			fmt.Fprintln(os.Stderr, "flakehunt:", err)
			os.Exit(2)
		}
		for _, p := range slices.Sorted(maps.Keys(vt)) {
			fmt.Println(p, strings.Join(vt[p], " "))
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	tmp, err := os.MkdirTemp("", "flakehunt")
	if err != nil {
		fmt.Fprintln(os.Stderr, "flakehunt:", err)
		os.Exit(2)
	}
	h := &hunt{tmp: tmp, failures: map[string]*failure{}, timeout: *timeout}
	start := time.Now()
	for i := range *rounds {
		h.run(ctx, fmt.Sprintf("full -race -p %d (%d/%d)", *parallel, i+1, *rounds), nil,
			append(append(slices.Clone(raceArgs), "-count=1", fmt.Sprintf("-p=%d", *parallel)), pkgList...)...)
	}
	if !*skipOne {
		h.run(ctx, "full -race GOMAXPROCS=1", []string{"GOMAXPROCS=1"}, append(append(slices.Clone(raceArgs), "-count=1"), pkgList...)...)
	}
	if noRaceRE != nil {
		h.run(ctx, "-norace tests without -race", nil, append([]string{"-count=1", "-run", *noRace}, pkgList...)...)
	}
	if *count > 0 {
		vt, err := virtualTimeTests(".")
		if err != nil {
			fmt.Fprintln(os.Stderr, "flakehunt:", err)
			os.Exit(2)
		}
		for _, p := range slices.Sorted(maps.Keys(vt)) {
			if *pkgs != "./..." && !slices.Contains(strings.Fields(*pkgs), p) {
				continue // -pkgs names the packages to hunt in
			}
			raced, unraced := splitByRace(vt[p], noRaceRE)
			h.repeat(ctx, p, raced, "-race", *budget, *minCount, *count)
			h.repeat(ctx, p, unraced, "", *budget, *minCount, *count)
		}
	}
	code := h.report(os.Stdout, time.Since(start))
	_ = os.RemoveAll(tmp)
	os.Exit(code)
}

// splitByRace splits names into the tests that run with -race and those
// that noRace matches (nil: none), which run without it.
func splitByRace(names []string, noRace *regexp.Regexp) (raced, unraced []string) {
	for _, name := range names {
		if noRace != nil && noRace.MatchString(name) {
			unraced = append(unraced, name)
		} else {
			raced = append(raced, name)
		}
	}
	return raced, unraced
}

// repeat runs the virtual-time tests names of package p: once to time
// them, then up to count times in all (see repeats), in processes of at
// most perProcess runs, every other one with GOMAXPROCS=1. race is
// "-race", or empty for tests that run without it.
func (h *hunt) repeat(ctx context.Context, p string, names []string, race string, budget time.Duration, minCount, count int) {
	if len(names) == 0 {
		return
	}
	var flags []string
	label := p
	if race != "" {
		flags = append(flags, race)
	} else {
		label += " without -race"
	}
	args := func(more ...string) []string { return append(slices.Clone(flags), more...) }
	took := h.run(ctx, fmt.Sprintf("virtual time %s, timing run (%d tests)", label, len(names)), nil,
		args("-count=1", "-run", runPattern(names), p)...)
	// The repeats run one test binary, built once: linking a package's
	// test binary (with -race) took seconds, which a hundred batches
	// paid again and again.
	bin, err := h.build(ctx, p, flags)
	if err != nil {
		h.fail("build "+label, p, "", err.Error())
		return
	}
	byCount := map[int][]string{}
	for _, name := range names {
		once, passed := took[name]
		n := repeats(once, passed, budget, minCount, count) - 1
		byCount[n] = append(byCount[n], name)
	}
	for _, n := range slices.Sorted(maps.Keys(byCount)) {
		group := byCount[n]
		// At most perProcess runs in one test binary: the race
		// detector's bookkeeping grows with every run in a process, and
		// long runs have crashed it, which says nothing about the test:
		// 49 runs of a 3-node mesh test (SIGSEGV in ThreadSanitizer's
		// stack depot), and 10 runs of a 12-node partition test
		// ("ThreadSanitizer: CHECK failed: tsan_rtl.cpp:346", once in
		// about 30 runs). Every other process runs on one core: virtual
		// time fixes the clock, not the interleaving of goroutines: a
		// 10 %-loss membership test failed 1 run in 7 to 60 with
		// GOMAXPROCS=1, and never in the hunt's runs on 2.
		for batch, done := 0, 0; done < n; batch, done = batch+1, done+perProcess {
			c := min(perProcess, n-done)
			var env []string
			cores := ""
			if batch%2 == 1 {
				env, cores = []string{"GOMAXPROCS=1"}, " GOMAXPROCS=1"
			}
			h.runBinary(ctx, fmt.Sprintf("virtual time %s -count=%d%s (%d tests, runs %d-%d of %d)", label, c, cores, len(group), done+2, done+1+c, n+1), env,
				bin, p, c, runPattern(group))
		}
	}
}

// build compiles the test binary of package p with flags, into the hunt's
// temporary directory, and returns its path.
func (h *hunt) build(ctx context.Context, p string, flags []string) (string, error) {
	bin := filepath.Join(h.tmp, strings.NewReplacer("/", "_", ".", "_").Replace(p)+strings.Join(flags, "")+".test")
	args := append(append([]string{"test", "-c", "-o", bin}, flags...), p)
	out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return bin, nil
}

// runBinary runs the test binary bin of package p, count times, the
// tests matching pattern, in p's directory (as go test does), its output
// turned into JSON events by test2json.
func (h *hunt) runBinary(ctx context.Context, name string, env []string, bin, p string, count int, pattern string) map[string]time.Duration {
	abs, err := filepath.Abs(p)
	if err != nil {
		h.fail(name, p, "", err.Error())
		return nil
	}
	return h.runCmd(ctx, name, env, abs, "go", "tool", "test2json", "-t", "-p", p, bin,
		"-test.v=test2json", "-test.timeout="+h.timeout.String(),
		fmt.Sprintf("-test.count=%d", count), "-test.run="+pattern)
}

// runPattern returns a -run pattern for exactly the top-level tests names
// (and their subtests).
func runPattern(names []string) string {
	return "^(" + strings.Join(names, "|") + ")$"
}

// perProcess is the most runs of a test in one `go test` process.
const perProcess = 5

// repeats returns how many times to run a test that took once: want, or
// as many as fit in budget, but at least least (just least for a test
// that did not pass its timing run: it is reported already).
func repeats(once time.Duration, passed bool, budget time.Duration, least, want int) int {
	if !passed {
		return least
	}
	if once <= 0 {
		return want
	}
	return max(least, min(want, int(budget/once)))
}

// failure is one test (or package) that failed at least once.
type failure struct {
	pkg, test string
	rounds    []string
	output    string
}

// hunt collects the failures of its runs.
type hunt struct {
	tmp      string // where test binaries are built
	failures map[string]*failure
	runs     []string
	timeout  time.Duration
}

// event is the part of a `go test -json` record flakehunt reads.
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64 // seconds
}

// run runs one `go test -json` round and records what failed in it.
// It returns how long each top-level test that passed took.
func (h *hunt) run(ctx context.Context, name string, env []string, args ...string) map[string]time.Duration {
	args = append([]string{"test", "-json", "-timeout", h.timeout.String()}, args...)
	return h.runCmd(ctx, name, env, "", "go", args...)
}

// runCmd runs prog (go test -json, or test2json over a test binary) in
// dir, reads its JSON events and records what failed, as run does.
func (h *hunt) runCmd(ctx context.Context, name string, env []string, dir, prog string, args ...string) map[string]time.Duration {
	if ctx.Err() != nil {
		return nil
	}
	fmt.Printf("== %s: %s %s\n", name, filepath.Base(prog), strings.Join(args, " "))
	start := time.Now()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		h.fail(name, "", "", err.Error())
		return nil
	}
	if err := cmd.Start(); err != nil {
		h.fail(name, "", "", err.Error())
		return nil
	}
	failed, took := h.read(name, out)
	werr := cmd.Wait()
	if ctx.Err() != nil {
		// Interrupted: what this run saw last is not a failure.
		h.forget(name)
		h.runs = append(h.runs, name+": interrupted")
		return nil
	}
	if werr != nil && failed == 0 {
		// go test failed without a failing test or package: a build
		// error or a signal.
		h.fail(name, strings.Join(args, " "), "", werr.Error())
		failed++
	}
	line := fmt.Sprintf("%s: %d failed, %s", name, failed, time.Since(start).Round(time.Second))
	h.runs = append(h.runs, line)
	fmt.Println("   ", line)
	return took
}

// read consumes one run's JSON events and returns how many tests or
// packages failed, and how long each top-level test that passed took.
func (h *hunt) read(round string, r io.Reader) (int, map[string]time.Duration) {
	took := map[string]time.Duration{}
	type key struct{ pkg, test string }
	outputs := map[key]*strings.Builder{}
	failed := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var ev event
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		k := key{ev.Package, ev.Test}
		switch ev.Action {
		case "output":
			b := outputs[k]
			if b == nil {
				b = &strings.Builder{}
				outputs[k] = b
			}
			// A passing test's output is dropped when it ends; keep a
			// bounded tail of the rest.
			if b.Len() < 256<<10 {
				b.WriteString(ev.Output)
			}
		case "pass", "skip":
			delete(outputs, k)
			if ev.Action == "pass" && ev.Test != "" && !strings.Contains(ev.Test, "/") {
				took[ev.Test] = time.Duration(ev.Elapsed * float64(time.Second))
			}
		case "fail":
			if ev.Test == "" && h.packageHasFailedTest(round, ev.Package) {
				continue
			}
			out := ""
			if b := outputs[k]; b != nil {
				out = b.String()
			}
			if ev.Test == "" {
				// A package that failed with no failed test crashed or
				// timed out inside a test that never ended: show those.
				for uk, b := range outputs {
					if uk.pkg == ev.Package && uk.test != "" {
						out = "[" + uk.test + ", unfinished]\n" + b.String() + out
					}
				}
			}
			h.fail(round, ev.Package, ev.Test, out)
			failed++
		}
	}
	return failed, took
}

// packageHasFailedTest reports whether round recorded a failed test of
// pkg already, so the package's own "fail" adds nothing.
func (h *hunt) packageHasFailedTest(round, pkg string) bool {
	for _, f := range h.failures {
		if f.pkg == pkg && f.test != "" && f.rounds[len(f.rounds)-1] == round {
			return true
		}
	}
	return false
}

// forget drops what round recorded.
func (h *hunt) forget(round string) {
	for id, f := range h.failures {
		f.rounds = slices.DeleteFunc(f.rounds, func(r string) bool { return r == round })
		if len(f.rounds) == 0 {
			delete(h.failures, id)
		}
	}
}

// fail records a failure of test (empty: the package itself) in round.
func (h *hunt) fail(round, pkg, test, output string) {
	id := pkg + " " + test
	// Said at once, so that whoever watches a long hunt can start on it.
	fmt.Printf("    FAIL %s %s (%s)\n", pkg, test, round)
	f := h.failures[id]
	if f == nil {
		f = &failure{pkg: pkg, test: test, output: output}
		h.failures[id] = f
	}
	f.rounds = append(f.rounds, round)
}

// report prints the summary and returns the exit status.
func (h *hunt) report(w io.Writer, took time.Duration) int {
	fmt.Fprintf(w, "\n== flake-hunt report (%s, %s)\n", time.Now().UTC().Format(time.RFC3339), took.Round(time.Second))
	for _, r := range h.runs {
		fmt.Fprintln(w, "  ", r)
	}
	if len(h.failures) == 0 {
		fmt.Fprintln(w, "no test failed")
		return 0
	}
	ids := slices.Sorted(maps.Keys(h.failures))
	fmt.Fprintf(w, "%d tests or packages failed at least once:\n", len(ids))
	for _, id := range ids {
		f := h.failures[id]
		name := f.test
		if name == "" {
			name = "(package)"
		}
		fmt.Fprintf(w, "\n--- %s %s: failed %d time(s), in: %s\n", f.pkg, name, len(f.rounds), strings.Join(f.rounds, "; "))
		fmt.Fprintln(w, excerpt(f.output, 40, 40))
	}
	return 1
}

// excerpt returns the first head and the last tail lines of s: a failure's
// cause (a panic, a timeout, a deadlock) is at the start of a long output
// such as a goroutine dump, the test's own report at the end.
func excerpt(s string, head, tail int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) <= head+tail {
		return strings.Join(lines, "\n")
	}
	out := slices.Clone(lines[:head])
	out = append(out, fmt.Sprintf("[... %d lines ...]", len(lines)-head-tail))
	return strings.Join(append(out, lines[len(lines)-tail:]...), "\n")
}

// virtualTimeTests returns, per package directory under root (as a
// ./relative path), the names of its virtual-time tests.
func virtualTimeTests(root string) (map[string][]string, error) {
	out := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if path != root {
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir // another module
			}
		}
		names, err := synctestTests(path)
		if err != nil {
			return err
		}
		if len(names) > 0 {
			out["./"+filepath.ToSlash(path)] = names
		}
		return nil
	})
	return out, err
}
