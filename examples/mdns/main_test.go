package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

const childEnv = "MACULA_MDNS_DEMO_CHILD"

// TestDemoFindsNodesWithMDNSOnly runs the demo inside a network namespace
// of its own, on a dummy interface with multicast, so real multicast DNS
// flows and none of it leaves the namespace. It needs root and iproute2,
// which .ci/run provides.
func TestDemoFindsNodesWithMDNSOnly(t *testing.T) {
	ip, err := exec.LookPath("ip")
	if err != nil {
		t.Fatalf("iproute2's ip command is required (apt-get install iproute2): %v", err)
	}
	if os.Geteuid() != 0 {
		t.Fatal("this test creates a network namespace and must run as root")
	}
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	ns := fmt.Sprintf("macula-demo-%d-%s", os.Getpid(), hex.EncodeToString(suffix))
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command(ip, "netns", "del", ns).Run() })
	run("-n", ns, "link", "set", "lo", "up")
	// A veth pair with both ends in the namespace: multicast sent on demo0
	// stays inside it.
	run("-n", ns, "link", "add", "demo0", "type", "veth", "peer", "name", "demo1")
	run("-n", ns, "link", "set", "demo1", "up")
	run("-n", ns, "link", "set", "demo0", "multicast", "on", "up")
	run("-n", ns, "addr", "add", "10.78.0.1/24", "dev", "demo0")
	run("-n", ns, "route", "add", "224.0.0.0/4", "dev", "demo0")

	cmd := exec.Command(ip, "netns", "exec", ns, os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=1", "GORACE=atexit_sleep_ms=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	t.Logf("demo output (%v):\n%s", time.Since(start).Round(time.Millisecond), out.String())
	if err != nil {
		t.Fatalf("demo failed: %v", err)
	}
	if !strings.Contains(out.String(), "3 nodes found each other with mDNS alone") {
		t.Fatal("the nodes did not find each other")
	}
	if strings.Count(out.String(), "sees 3 members") != 3 {
		t.Fatal("not every node sees all three members")
	}
}

// TestMain runs the demo itself when the test re-executes its own binary
// inside the namespace; otherwise it runs the tests.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		if err := run(os.Stdout, "demo0", 3, 30*time.Second); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
