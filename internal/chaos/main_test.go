package chaos

import (
	"flag"
	"os"
	"strconv"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	// TestChaosRandom runs ciChecks scenarios unless -rapid.checks or
	// RAPID_CHECKS says how many (rapid's own default, 100, is for
	// properties that take microseconds, not virtual minutes).
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "rapid.checks" })
	if _, env := os.LookupEnv("RAPID_CHECKS"); !set && !env {
		if err := flag.Set("rapid.checks", strconv.Itoa(ciChecks)); err != nil {
			panic(err)
		}
	}
	goleak.VerifyTestMain(m)
}
