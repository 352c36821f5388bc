package discovery

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/security"
)

// Environment of the helper processes of TestMDNSAcrossNamespaces.
const (
	envMDNSRole   = "MACULA_TEST_MDNS_ROLE" // "advertise" or "browse"
	envMDNSRealm  = "MACULA_TEST_MDNS_REALM"
	envMDNSNodeID = "MACULA_TEST_MDNS_NODE_ID"
	envMDNSPort   = "MACULA_TEST_MDNS_PORT"
	envMDNSIP     = "MACULA_TEST_MDNS_IP"
	envMDNSIface  = "MACULA_TEST_MDNS_IFACE"
)

// The namespaces' test subnet: the advertisers' side and the browser's.
const (
	netnsAdvertiserIP = "10.77.0.1"
	netnsBrowserIP    = "10.77.0.2"
	netnsPrefixLen    = "/24"
	netnsAdvertiserIf = "mdnsa0"
	netnsBrowserIf    = "mdnsb0"
)

// testNodeID derives a node ID from a label.
func testNodeID(label string) security.NodeID {
	return security.NodeID(sha256.Sum256([]byte(label)))
}

// TestMDNSHelperProcess is not a test: TestMDNSAcrossNamespaces runs the
// test binary inside a network namespace with this test selected and the
// role in the environment. Without that environment it does nothing.
func TestMDNSHelperProcess(t *testing.T) {
	switch os.Getenv(envMDNSRole) {
	case "advertise":
		runMDNSAdvertiser(t)
	case "browse":
		runMDNSBrowser(t)
	case "browse-cancel":
		runMDNSBrowseCancel(t)
	}
}

// runMDNSAdvertiser advertises a node, prints READY and keeps advertising
// until its standard input is closed.
func runMDNSAdvertiser(t *testing.T) {
	id, err := security.ParseNodeID(os.Getenv(envMDNSNodeID))
	require.NoError(t, err)
	port, err := strconv.Atoi(os.Getenv(envMDNSPort))
	require.NoError(t, err)
	iface, err := net.InterfaceByName(os.Getenv(envMDNSIface))
	require.NoError(t, err)
	adv, err := Advertise(AdvertiseConfig{
		Realm:     os.Getenv(envMDNSRealm),
		NodeID:    id,
		Port:      port,
		IPs:       []net.IP{net.ParseIP(os.Getenv(envMDNSIP))},
		Interface: iface,
	})
	require.NoError(t, err)
	fmt.Println("READY")
	_, _ = io.Copy(io.Discard, os.Stdin)
	require.NoError(t, adv.Close())
}

// runMDNSBrowser browses once and prints "FOUND <addr>" per result.
func runMDNSBrowser(t *testing.T) {
	src, err := MDNS(MDNSConfig{Realm: os.Getenv(envMDNSRealm), Timeout: 1500 * time.Millisecond})
	require.NoError(t, err)
	addrs, err := src.Discover(context.Background())
	require.NoError(t, err)
	for _, a := range addrs {
		fmt.Println("FOUND " + a)
	}
}

// runMDNSBrowseCancel cancels a browse midway and prints CANCELLED if
// Discover failed with the context's error within the browse time.
func runMDNSBrowseCancel(t *testing.T) {
	src, err := MDNS(MDNSConfig{Realm: os.Getenv(envMDNSRealm), Timeout: time.Second})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	addrs, err := src.Discover(ctx)
	require.ErrorIs(t, err, ErrSourceFailed)
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, addrs)
	require.Less(t, time.Since(start), 1500*time.Millisecond)
	fmt.Println("CANCELLED")
}

// runIP runs the ip command and fails the test with its output on error.
func runIP(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	require.NoError(t, err, "ip %s: %s", strings.Join(args, " "), out)
}

// makeNetnsPair creates two network namespaces joined by a veth pair on
// the test subnet, with a multicast route in each, and deletes them when
// the test ends. It returns the namespaces' names.
func makeNetnsPair(t *testing.T) (advertiserNS, browserNS string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the mDNS test needs root to create network namespaces (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("the mDNS test needs the ip command: install iproute2 (apt-get install -y iproute2)")
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	tag := fmt.Sprintf("macula-mdns-%d-%s", os.Getpid(), hex.EncodeToString(suffix))
	advertiserNS, browserNS = tag+"-a", tag+"-b"
	for _, ns := range []string{advertiserNS, browserNS} {
		runIP(t, "netns", "add", ns)
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "delete", ns).CombinedOutput(); err != nil {
				t.Errorf("delete namespace %s: %v: %s", ns, err, out)
			}
		})
	}
	// The pair is created inside the namespaces: nothing touches the host's.
	runIP(t, "-n", advertiserNS, "link", "add", netnsAdvertiserIf, "type", "veth", "peer", "name", netnsBrowserIf, "netns", browserNS)
	for _, side := range []struct{ ns, ifName, ip string }{
		{advertiserNS, netnsAdvertiserIf, netnsAdvertiserIP},
		{browserNS, netnsBrowserIf, netnsBrowserIP},
	} {
		runIP(t, "-n", side.ns, "addr", "add", side.ip+netnsPrefixLen, "dev", side.ifName)
		runIP(t, "-n", side.ns, "link", "set", side.ifName, "up")
		runIP(t, "-n", side.ns, "route", "add", "224.0.0.0/4", "dev", side.ifName)
	}
	return advertiserNS, browserNS
}

// helperCmd returns a command running this test binary's helper in ns.
func helperCmd(ctx context.Context, ns string, env ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, os.Args[0],
		"-test.run=^TestMDNSHelperProcess$", "-test.count=1", "-test.timeout=60s")
	// A race-enabled binary sleeps a second before exiting unless told not to.
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	cmd.Env = append(append(os.Environ(), "GORACE="+gorace), env...)
	cmd.Stderr = os.Stderr
	return cmd
}

// startAdvertiser runs an advertiser helper in ns until the test ends.
func startAdvertiser(t *testing.T, ns, realm string, id security.NodeID, port int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := helperCmd(ctx, ns,
		envMDNSRole+"=advertise", envMDNSRealm+"="+realm, envMDNSNodeID+"="+id.String(),
		envMDNSPort+"="+strconv.Itoa(port), envMDNSIP+"="+netnsAdvertiserIP, envMDNSIface+"="+netnsAdvertiserIf)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	ready := make(chan bool, 1)
	var out strings.Builder
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if sc.Text() == "READY" {
				ready <- true
			}
		}
		ready <- false
	}()
	t.Cleanup(func() {
		stdin.Close() // the helper closes its advertiser and exits
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("advertiser %s: %v", realm, err)
			}
		case <-time.After(20 * time.Second):
			cancel() // kills the helper
			<-done
			t.Errorf("advertiser %s did not exit", realm)
		}
		cancel()
	})
	select {
	case ok := <-ready:
		require.True(t, ok, "advertiser %s exited before READY", realm)
	case <-time.After(30 * time.Second):
		t.Fatalf("advertiser %s not ready after 30 s", realm)
	}
}

// browse runs a browser helper in ns and returns the addresses it found.
func browse(t *testing.T, ns, realm string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := helperCmd(ctx, ns, envMDNSRole+"=browse", envMDNSRealm+"="+realm)
	out, err := cmd.Output()
	require.NoError(t, err, "browser: %s", out)
	var found []string
	for line := range strings.Lines(string(out)) {
		if a, ok := strings.CutPrefix(strings.TrimSpace(line), "FOUND "); ok {
			found = append(found, a)
		}
	}
	return found
}

func TestMDNSAcrossNamespaces(t *testing.T) {
	advNS, browserNS := makeNetnsPair(t)
	const realmA, realmB = "org.example.alpha", "org.example.beta"
	idA, idB := testNodeID("alpha"), testNodeID("beta")
	startAdvertiser(t, advNS, realmA, idA, 4433)
	startAdvertiser(t, advNS, realmB, idB, 4434)

	wantA := security.URI{Realm: realmA, NodeID: idA, Addr: netnsAdvertiserIP + ":4433"}.String()
	wantB := security.URI{Realm: realmB, NodeID: idB, Addr: netnsAdvertiserIP + ":4434"}.String()
	require.Equal(t, []string{wantA}, browse(t, browserNS, realmA),
		"the browser finds the advertiser of its realm, and not the other")
	require.Equal(t, []string{wantB}, browse(t, browserNS, realmB))
	require.Empty(t, browse(t, browserNS, "org.example.gamma"))

	// A browse cancelled midway fails with the context's error; the helper's
	// goleak check shows that it left no goroutine behind.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := helperCmd(ctx, browserNS, envMDNSRole+"=browse-cancel", envMDNSRealm+"="+realmA).Output()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "CANCELLED")
}

func TestEntryAddr(t *testing.T) {
	const realm = "org.example.mesh"
	id := testNodeID("x")
	v4 := net.ParseIP("192.0.2.1")
	v6 := &net.IPAddr{IP: net.ParseIP("2001:db8::1")}
	ll := &net.IPAddr{IP: net.ParseIP("fe80::1"), Zone: "eth0"}
	uri := func(addr string) string { return security.URI{Realm: realm, NodeID: id, Addr: addr}.String() }
	for _, tc := range []struct {
		desc string
		txt  []string
		v4   net.IP
		v6   *net.IPAddr
		port int
		want string
	}{
		{"uri", []string{"realm=" + realm, "id=" + id.String()}, v4, v6, 4433, uri("192.0.2.1:4433")},
		{"upper-case keys and id", []string{"REALM=" + realm, "Id=" + strings.ToUpper(id.String())}, v4, nil, 1, uri("192.0.2.1:1")},
		{"ipv6", []string{"realm=" + realm, "id=" + id.String()}, nil, v6, 4433, uri("[2001:db8::1]:4433")},
		{"link-local keeps zone", []string{"realm=" + realm}, nil, ll, 4433, "[fe80::1%eth0]:4433"},
		{"no id", []string{"realm=" + realm}, v4, nil, 4433, "192.0.2.1:4433"},
		{"bad id", []string{"realm=" + realm, "id=xyz"}, v4, nil, 4433, "192.0.2.1:4433"},
		{"zero id", []string{"realm=" + realm, "id=" + security.NodeID{}.String()}, v4, nil, 4433, "192.0.2.1:4433"},
		{"first realm counts", []string{"realm=" + realm, "realm=other"}, v4, nil, 4433, "192.0.2.1:4433"},
		{"first realm counts even if empty", []string{"realm=", "realm=" + realm}, v4, nil, 4433, ""},
		{"first id counts", []string{"realm=" + realm, "id=", "id=" + id.String()}, v4, nil, 4433, "192.0.2.1:4433"},
		{"other realm", []string{"realm=org.example.other", "id=" + id.String()}, v4, nil, 4433, ""},
		{"realm prefix", []string{"realm=" + realm + ".evil"}, v4, nil, 4433, ""},
		{"no realm", []string{"id=" + id.String()}, v4, nil, 4433, ""},
		{"no txt", nil, v4, nil, 4433, ""},
		{"no address", []string{"realm=" + realm}, nil, nil, 4433, ""},
		{"unspecified", []string{"realm=" + realm}, net.IPv4zero, nil, 4433, ""},
		{"multicast", []string{"realm=" + realm}, net.ParseIP("224.0.0.251"), nil, 4433, ""},
		{"bad v4 falls back to v6", []string{"realm=" + realm}, net.IP{1, 2}, v6, 4433, "[2001:db8::1]:4433"},
		{"port 0", []string{"realm=" + realm}, v4, nil, 0, ""},
		{"port too big", []string{"realm=" + realm}, v4, nil, 65536, ""},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got, ok := entryAddr(realm, tc.txt, tc.v4, tc.v6, tc.port)
			require.Equal(t, tc.want != "", ok)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestMDNSConfig(t *testing.T) {
	src, err := MDNS(MDNSConfig{Realm: "org.example.mesh"})
	require.NoError(t, err)
	require.Equal(t, "mdns", src.Name())
	m := src.(*mdnsSource)
	require.Equal(t, "_macula._udp", m.service)
	require.Equal(t, "local.", m.domain)
	require.Equal(t, time.Second, m.timeout)

	for name, cfg := range map[string]MDNSConfig{
		"no realm":         {},
		"bad realm":        {Realm: "Org.Example"},
		"bad service":      {Realm: "a", Service: "_macula _udp"},
		"bad domain":       {Realm: "a", Domain: "lo..cal"},
		"negative timeout": {Realm: "a", Timeout: -1},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := MDNS(cfg)
			require.ErrorIs(t, err, ErrInvalidConfig)
		})
	}
}

func TestMDNSDiscoverDeadline(t *testing.T) {
	src, err := MDNS(MDNSConfig{Realm: "org.example.mesh", Timeout: time.Hour})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = src.Discover(ctx)
	require.ErrorIs(t, err, ErrSourceFailed)
	require.ErrorIs(t, err, context.Canceled)

	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	_, err = src.Discover(ctx)
	require.ErrorIs(t, err, ErrSourceFailed)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestAdvertiseConfig(t *testing.T) {
	ok := AdvertiseConfig{Realm: "org.example.mesh", NodeID: testNodeID("x"), Port: 4433, IPs: []net.IP{net.ParseIP("192.0.2.1")}}
	for name, mutate := range map[string]func(*AdvertiseConfig){
		"bad realm":      func(c *AdvertiseConfig) { c.Realm = "" },
		"zero node id":   func(c *AdvertiseConfig) { c.NodeID = security.NodeID{} },
		"port 0":         func(c *AdvertiseConfig) { c.Port = 0 },
		"port too big":   func(c *AdvertiseConfig) { c.Port = 65536 },
		"bad service":    func(c *AdvertiseConfig) { c.Service = "a b" },
		"bad domain":     func(c *AdvertiseConfig) { c.Domain = ".." },
		"unspecified IP": func(c *AdvertiseConfig) { c.IPs = []net.IP{net.IPv4zero} },
		"nil IP":         func(c *AdvertiseConfig) { c.IPs = []net.IP{nil} },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := ok
			mutate(&cfg)
			_, err := Advertise(cfg)
			require.ErrorIs(t, err, ErrInvalidConfig)
		})
	}
}

// FuzzMDNSTXT feeds arbitrary TXT fields, as a LAN peer could send, to the
// code that picks an mDNS instance's address.
func FuzzMDNSTXT(f *testing.F) {
	f.Add("realm=org.example.mesh", "id="+testNodeID("x").String(), 4433)
	f.Add("realm=", "id=", 0)
	f.Add("=", "realm=org.example.mesh", 65535)
	f.Fuzz(func(t *testing.T, a, b string, port int) {
		got, ok := entryAddr("org.example.mesh", []string{a, b}, net.ParseIP("192.0.2.1"), nil, port)
		if !ok {
			return
		}
		if strings.HasPrefix(got, security.URIScheme+"://") {
			u, err := security.ParseURI(got)
			require.NoError(t, err)
			require.Equal(t, "org.example.mesh", u.Realm)
			got = u.Addr
		}
		requireHostPort(t, got)
	})
}
