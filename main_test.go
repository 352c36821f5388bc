package macula_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	if spec := os.Getenv(floodChildEnv); spec != "" {
		// A child process of BenchmarkRPCUnderFlood: flood, not test.
		os.Exit(runFloodChild(spec))
	}
	goleak.VerifyTestMain(m)
}
