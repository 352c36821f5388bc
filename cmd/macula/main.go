// Command macula runs Macula mesh nodes and inspects and drives them.
//
// `macula start` runs a node in the foreground and serves a local admin API
// (HTTP+JSON on 127.0.0.1:4480 by default, or a unix socket; see --admin).
// The other commands talk to that API: members, peers, topology, routes,
// stats, ping, join, publish, subscribe, call and keyring (the realm's
// gossip keys). `macula cert` makes realm CAs and node certificates
// offline, and `macula keyring generate` new gossip keys. Every command prints a readable table
// by default and JSON with --json, and exits 0 on success or non-zero with a
// one-line error on stderr.
//
// Install it with
//
//	go install github.com/org/macula/cmd/macula@latest
//
// and run `macula --help` for the commands.
//
// # Three nodes in three terminals
//
// Each terminal runs a node in the background and talks to it through
// MACULA_ADMIN, which sets both where start serves its admin API and where
// the other commands find it:
//
//	# terminal 1
//	export MACULA_ADMIN=127.0.0.1:4480
//	macula start --listen 127.0.0.1:4433 --identity n1.key 2>n1.log &
//	macula members
//
//	# terminal 2
//	export MACULA_ADMIN=127.0.0.1:4481
//	macula start --listen 127.0.0.1:4434 --identity n2.key --bootstrap 127.0.0.1:4433 2>n2.log &
//	macula subscribe 'sensors.*'
//
//	# terminal 3
//	export MACULA_ADMIN=127.0.0.1:4482
//	macula start --listen 127.0.0.1:4435 --identity n3.key --bootstrap 127.0.0.1:4433 2>n3.log &
//	macula publish sensors.temp '{"c": 21.5}'   # terminal 2 prints it
//	macula members                              # three alive members
//	macula call _peer.health --node <id>        # an ID prefix from members
//	macula topology
//
// `kill %1` in a terminal stops its node gracefully: the others list it as
// left. A node that crashes is listed as dead once the others detect it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, stop, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	// exitUsage: the command line itself is wrong (unknown command or
	// flag, wrong number of arguments).
	exitUsage = 2
	// exitInterrupted: a client command was interrupted before it finished.
	exitInterrupted = 130
)

// run runs the command line args and returns the exit code. ctx ends on
// SIGINT or SIGTERM; stopSignals restores the default signal handling, so
// that a second signal kills a node whose graceful shutdown hangs.
func run(ctx context.Context, stopSignals func(), args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, stopSignals: stopSignals}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	name := "macula"
	if cmd != nil && cmd != root {
		name = cmd.CommandPath()
	}
	var ue *usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%s: %s (see '%s --help')\n", name, oneLine(err.Error()), name)
		return exitUsage
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		fmt.Fprintf(stderr, "%s: interrupted\n", name)
		return exitInterrupted
	}
	fmt.Fprintf(stderr, "%s: %s\n", name, oneLine(err.Error()))
	return exitError
}

// usageError is a mistake on the command line.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// oneLine makes an error message a single line and drops the "macula: "
// prefix library errors carry (the command name is printed instead).
func oneLine(msg string) string {
	msg = strings.ReplaceAll(strings.TrimSpace(msg), "\n", "; ")
	return strings.ReplaceAll(msg, "macula: ", "")
}
