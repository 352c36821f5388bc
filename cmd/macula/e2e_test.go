package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula"
	"github.com/org/macula/cmd/macula/internal/admin"
	"github.com/org/macula/membership"
	"github.com/org/macula/topology"
)

// e2eRealm is the realm of the end-to-end mesh.
const e2eRealm = "org.macula.e2e"

// nodeProc is one `macula start` process.
type nodeProc struct {
	name  string
	admin string // --admin
	log   string // its stderr
	cmd   *exec.Cmd
	done  chan struct{} // closed when the process has been waited for
	id    macula.NodeID
	addr  string
	uri   string
}

// exited reports whether the process has ended.
func (n *nodeProc) exited() bool {
	select {
	case <-n.done:
		return true
	default:
		return false
	}
}

// startProc starts the binary with args, stdout and stderr going to
// files in dir, and registers its cleanup: killed if still running,
// its output logged if the test failed, a failure if it reported a race.
func startProc(t *testing.T, dir, name string, args ...string) (*exec.Cmd, chan struct{}, string) {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	outPath := filepath.Join(dir, name+".out")
	logFile, err := os.Create(logPath)
	require.NoError(t, err)
	outFile, err := os.Create(outPath)
	require.NoError(t, err)
	cmd := exec.Command(maculaBinary(t), args...)
	cmd.Env = testEnv()
	cmd.Stdout, cmd.Stderr = outFile, logFile
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		_ = outFile.Close()
		close(done)
	}()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			_ = cmd.Process.Kill()
			<-done
		}
		logs, _ := os.ReadFile(logPath)
		if strings.Contains(string(logs), "WARNING: DATA RACE") {
			t.Errorf("%s reported a data race:\n%s", name, logs)
		}
		if t.Failed() {
			out, _ := os.ReadFile(outPath)
			t.Logf("--- %s (%s) stdout:\n%s\n--- stderr:\n%s", name, strings.Join(args, " "), out, tail(string(logs), 60))
		}
	})
	return cmd, done, outPath
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// startNode starts `macula start` and waits until its admin API answers.
func startNode(t *testing.T, dir, name, adminAddr string, extra ...string) *nodeProc {
	t.Helper()
	args := append([]string{"start",
		"--realm", e2eRealm,
		"--listen", "127.0.0.1:0",
		"--admin", adminAddr,
		"--identity", filepath.Join(dir, name+".key"),
		"--ca", filepath.Join(dir, "ca", caCertFile),
		"--cert", filepath.Join(dir, name, nodeCertFile),
		"--log-format", "json",
	}, extra...)
	n := &nodeProc{name: name, admin: adminAddr, log: filepath.Join(dir, name+".log")}
	n.cmd, n.done, _ = startProc(t, dir, name, args...)
	eventually(t, 60*time.Second, name+" serves its admin API", func() bool {
		require.False(t, n.exited(), "%s exited: %v", name, n.cmd.ProcessState)
		r := cli(t, "--admin", adminAddr, "stats", "--json")
		if r.code != 0 {
			return false
		}
		var st admin.Stats
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &st), r.stdout)
		n.id, n.addr, n.uri = st.Node.ID, st.Node.Addr, st.Node.URI
		require.Equal(t, e2eRealm, st.Node.Realm)
		return true
	})
	return n
}

// eventually polls cond every 200 ms until it holds, failing the test
// after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// members runs `macula members --json` against n.
func members(t *testing.T, n *nodeProc) map[macula.NodeID]admin.Member {
	t.Helper()
	r := cli(t, "--admin", n.admin, "members", "--json")
	require.Zero(t, r.code, "%v", r)
	var ms []admin.Member
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &ms), r.stdout)
	out := make(map[macula.NodeID]admin.Member, len(ms))
	for _, m := range ms {
		out[m.ID] = m
	}
	return out
}

// freeTCPAddr returns a loopback TCP address that was free a moment ago.
func freeTCPAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// TestEndToEnd builds the binary and runs three `macula start` processes
// on 127.0.0.1, in production mode with certificates from `macula cert`,
// then drives them through the CLI: members, topology, publish/subscribe,
// call, ping, stats, a kill -9 and a SIGTERM.
func TestEndToEnd(t *testing.T) {
	maculaBinary(t)
	// Unix socket paths must stay short: not t.TempDir.
	dir, err := os.MkdirTemp("", "macula-e2e")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })

	r := cli(t, "cert", "ca", "--realm", e2eRealm, "--out", filepath.Join(dir, "ca"))
	require.Zero(t, r.code, "%v", r)
	for _, name := range []string{"n0", "n1", "n2"} {
		r := cli(t, "cert", "issue", "--ca", filepath.Join(dir, "ca"), "--realm", e2eRealm,
			"--identity", filepath.Join(dir, name+".key"), "--roles", "e2e", "--out", filepath.Join(dir, name))
		require.Zero(t, r.code, "%v", r)
	}

	// n0 serves its admin API on a loopback port, n1 and n2 on unix
	// sockets. Every node binds a free UDP port of its own (127.0.0.1:0);
	// n1 joins n0 by URI, n2 by address.
	n0 := startNode(t, dir, "n0", freeTCPAddr(t))
	n1 := startNode(t, dir, "n1", filepath.Join(dir, "n1.sock"), "--bootstrap", n0.uri)
	n2 := startNode(t, dir, "n2", "unix:"+filepath.Join(dir, "n2.sock"), "--bootstrap", n0.addr)
	nodes := []*nodeProc{n0, n1, n2}

	t.Run("members shows three alive members", func(t *testing.T) {
		for _, n := range nodes {
			eventually(t, 30*time.Second, n.name+" sees three alive members", func() bool {
				ms := members(t, n)
				alive := 0
				for _, o := range nodes {
					// A member's incarnation is known once an alive
					// message about it arrived: 1 or more.
					if ms[o.id].State == "alive" && ms[o.id].Incarnation >= 1 {
						alive++
					}
				}
				return alive == 3 && len(ms) == 3
			})
		}
		r := cli(t, "--admin", n1.admin, "members")
		require.Zero(t, r.code, "%v", r)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		require.Len(t, lines, 4, "header and three members: %s", r.stdout)
		require.Contains(t, lines[0], "STATE")
		require.Contains(t, lines[0], "INCARNATION")
		for _, n := range nodes {
			row := rowOf(lines, n.id.Short())
			require.NotEmpty(t, row, "%s listed: %s", n.name, r.stdout)
			require.Contains(t, row, " alive ")
			require.Equal(t, n == n1, strings.HasPrefix(row, "*"), "only the node itself is marked: %q", row)
		}
	})

	t.Run("topology --json parses and is connected", func(t *testing.T) {
		eventually(t, 30*time.Second, "the overlay is a connected graph of the three nodes", func() bool {
			r := cli(t, "--admin", n2.admin, "topology", "--json")
			require.Zero(t, r.code, "%v", r)
			g, err := topology.ParseGraphJSON([]byte(r.stdout))
			require.NoError(t, err, r.stdout)
			var withFlag struct {
				Connected bool `json:"connected"`
			}
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &withFlag))
			return len(g.Nodes) == 3 && g.Connected() && withFlag.Connected && len(g.Edges) >= 2
		})
		r := cli(t, "--admin", n0.admin, "topology", "--dot")
		require.Zero(t, r.code, "%v", r)
		require.True(t, strings.HasPrefix(r.stdout, "graph macula {"), r.stdout)
		r = cli(t, "--admin", n0.admin, "topology")
		require.Zero(t, r.code, "%v", r)
		require.Contains(t, r.stdout, "3 nodes")
		require.Contains(t, r.stdout, ", connected")
	})

	t.Run("subscribe receives a publish from another node", func(t *testing.T) {
		sub, subDone, subOut := startProc(t, dir, "subscriber", "--admin", n2.admin, "subscribe", "e2e.*", "--json")
		eventually(t, 30*time.Second, "the subscription is stored", func() bool {
			require.False(t, isClosed(subDone), "subscribe exited")
			logs, _ := os.ReadFile(filepath.Join(dir, "subscriber.log"))
			return strings.Contains(string(logs), "subscribed to e2e.* on node "+n2.id.Short())
		})
		// The publisher may resolve the topic's subscribers just before
		// the subscription reached it: publish until one arrives.
		var got admin.Event
		eventually(t, 30*time.Second, "the event reaches the subscriber", func() bool {
			r := cli(t, "--admin", n1.admin, "publish", "e2e.greeting", `{"hello": "mesh"}`)
			require.Zero(t, r.code, "%v", r)
			require.Equal(t, "published on e2e.greeting\n", r.stdout)
			out, _ := os.ReadFile(subOut)
			line, _, _ := strings.Cut(string(out), "\n")
			if line == "" {
				return false
			}
			require.NoError(t, json.Unmarshal([]byte(line), &got), line)
			return true
		})
		require.Equal(t, "e2e.greeting", got.Topic)
		require.Equal(t, n1.id, got.Publisher)
		require.Equal(t, admin.ContentJSON, got.ContentType)
		require.JSONEq(t, `{"hello": "mesh"}`, string(got.JSON))

		// At least once: publish returns once the subscriber's node acked.
		r := cli(t, "--admin", n0.admin, "publish", "e2e.plain", "plain words", "--qos", "1")
		require.Zero(t, r.code, "%v", r)
		eventually(t, 10*time.Second, "the acknowledged event is printed", func() bool {
			out, _ := os.ReadFile(subOut)
			return strings.Contains(string(out), `"text":"plain words"`)
		})

		// Interrupting subscribe ends it with exit code 0.
		require.NoError(t, sub.Process.Signal(os.Interrupt))
		select {
		case <-subDone:
		case <-time.After(10 * time.Second):
			t.Fatal("subscribe did not stop on SIGINT")
		}
		require.Zero(t, sub.ProcessState.ExitCode(), "%v", sub.ProcessState)

		var st admin.Stats
		r = cli(t, "--admin", n2.admin, "stats", "--json")
		require.Zero(t, r.code, "%v", r)
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &st), r.stdout)
		require.GreaterOrEqual(t, st.PubSub.In, uint64(2), "messages in counts the events received")
		require.Equal(t, 3, st.MembersAlive)
		require.Positive(t, st.UptimeSeconds)
		r = cli(t, "--admin", n2.admin, "stats")
		require.Zero(t, r.code, "%v", r)
		require.Contains(t, r.stdout, "messages")
	})

	t.Run("call _peer.health answers", func(t *testing.T) {
		r := cli(t, "--admin", n0.admin, "call", macula.HealthProcedure, "--node", n1.id.Short(), "--json")
		require.Zero(t, r.code, "%v", r)
		var reply admin.CallReply
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &reply), r.stdout)
		require.Equal(t, n1.id, reply.Provider)
		var health macula.Health
		require.NoError(t, json.Unmarshal(reply.JSON, &health), r.stdout)
		require.Equal(t, n1.id, health.NodeID)
		require.Equal(t, e2eRealm, health.Realm)
		require.NotEmpty(t, health.Version)
		require.Positive(t, health.Uptime)

		// Without --node the mesh picks a provider: every node serves
		// _peer.health, and the caller's own comes first.
		r = cli(t, "--admin", n2.admin, "call", macula.HealthProcedure, "-v")
		require.Zero(t, r.code, "%v", r)
		require.Contains(t, r.stdout, `"node_id": "`+n2.id.String()+`"`, "indented JSON result")
		require.Contains(t, r.stderr, "answered by "+n2.id.Short())

		r = cli(t, "--admin", n0.admin, "call", "no.such.procedure", `{"x": 1}`, "--timeout", "5s")
		requireOneLineError(t, r, "macula call: ")
		require.Contains(t, r.stderr, "no provider")

		var st admin.Stats
		r = cli(t, "--admin", n0.admin, "stats", "--json")
		require.Zero(t, r.code, "%v", r)
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &st), r.stdout)
		require.GreaterOrEqual(t, st.RPC.Calls, uint64(2))
		require.GreaterOrEqual(t, st.RPC.Failed, uint64(1))
	})

	t.Run("ping", func(t *testing.T) {
		r := cli(t, "--admin", n0.admin, "ping", n1.id.Short())
		require.Zero(t, r.code, "%v", r)
		require.Contains(t, r.stdout, "reply from "+n1.id.Short()+": rtt ")

		unknown := unusedPrefix(nodes)
		r = cli(t, "--admin", n0.admin, "ping", unknown)
		requireOneLineError(t, r, fmt.Sprintf(`macula ping: unknown node %q`, unknown))
		require.Equal(t, exitError, r.code)
	})

	t.Run("peers and routes", func(t *testing.T) {
		r := cli(t, "--admin", n0.admin, "peers", "--json")
		require.Zero(t, r.code, "%v", r)
		var ps []admin.Peer
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &ps), r.stdout)
		require.Len(t, ps, 2)
		r = cli(t, "--admin", n0.admin, "routes")
		require.Zero(t, r.code, "%v", r)
		require.Contains(t, r.stdout, n1.id.Short())
		require.Contains(t, r.stdout, n2.id.Short())
	})

	t.Run("keyring rotation spreads to every node", func(t *testing.T) {
		keyring := func(n *nodeProc, args ...string) admin.Keyring {
			t.Helper()
			r := cli(t, append(append([]string{"--admin", n.admin, "keyring"}, args...), "--json")...)
			require.Zero(t, r.code, "%v", r)
			var kr admin.Keyring
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &kr), r.stdout)
			return kr
		}
		// Every node started with a random key of its own and learned the
		// others' when it joined n0, so n0 holds them all.
		before := keyring(n0, "list", "--show-keys")
		r := cli(t, "keyring", "generate")
		require.Zero(t, r.code, "%v", r)
		newKey := strings.TrimSpace(r.stdout)
		k, err := base64.StdEncoding.DecodeString(newKey)
		require.NoError(t, err)
		newFP := admin.KeyFingerprint(k)

		// Install the new key on n0, use it and remove the old ones. Each
		// change spreads with state exchanges: at the next push/pull (every
		// 30 s), at once between nodes that cannot open each other's
		// packets, and at once with macula join, which n1 and n2 run.
		keyring(n0, "install", newKey)
		kr := keyring(n0, "use", newKey)
		require.Equal(t, newFP, kr.Keys[0].Fingerprint)
		for _, old := range before.Keys {
			keyring(n0, "remove", old.Key)
		}
		for _, n := range []*nodeProc{n1, n2} {
			r := cli(t, "--admin", n.admin, "join", n0.uri)
			require.Zero(t, r.code, "%v", r)
		}
		received := make(map[string]uint64)
		for _, n := range nodes {
			eventually(t, 15*time.Second, n.name+" lists only the new key, as the primary", func() bool {
				kr := keyring(n, "list")
				received[n.name] = kr.Packets.Received
				return len(kr.Keys) == 1 && kr.Keys[0].Fingerprint == newFP && kr.Keys[0].Primary &&
					kr.Generation > before.Generation
			})
		}
		// Gossip still flows: packets sealed with the new key, the only one
		// left anywhere, open, and every member stays alive.
		for _, n := range nodes {
			eventually(t, 10*time.Second, n.name+" opens gossip packets after the rotation", func() bool {
				return keyring(n, "list").Packets.Received > received[n.name]
			})
			ms := members(t, n)
			for _, o := range nodes {
				require.Equal(t, "alive", ms[o.id].State, "%s sees %s", n.name, o.name)
			}
		}
		r = cli(t, "--admin", n1.admin, "keyring", "list")
		require.Zero(t, r.code, "%v", r)
		require.Contains(t, r.stdout, "* "+newFP+"  256\n")
		require.NotContains(t, r.stdout, newKey, "no key material without --show-keys")
	})

	t.Run("kill -9 shows dead within the detection bound", func(t *testing.T) {
		bound := membership.DefaultConfig().DetectionBound(len(nodes))
		killed := time.Now()
		require.NoError(t, n2.cmd.Process.Signal(syscall.SIGKILL))
		eventually(t, bound+10*time.Second, "n0 and n1 see n2 dead", func() bool {
			return members(t, n0)[n2.id].State == "dead" && members(t, n1)[n2.id].State == "dead"
		})
		elapsed := time.Since(killed)
		require.LessOrEqual(t, elapsed, bound, "detection took %v, bound %v", elapsed, bound)
		t.Logf("n2 marked dead everywhere %v after kill -9 (bound %v)", elapsed.Round(time.Millisecond), bound)
	})

	t.Run("SIGTERM exits 0 and shows left", func(t *testing.T) {
		require.NoError(t, n1.cmd.Process.Signal(syscall.SIGTERM))
		select {
		case <-n1.done:
		case <-time.After(30 * time.Second):
			t.Fatal("n1 did not stop on SIGTERM")
		}
		require.Zero(t, n1.cmd.ProcessState.ExitCode(), "%v", n1.cmd.ProcessState)
		eventually(t, 10*time.Second, "n0 sees n1 left", func() bool {
			return members(t, n0)[n1.id].State == "left"
		})
		logs, err := os.ReadFile(n1.log)
		require.NoError(t, err)
		require.Contains(t, string(logs), `"msg":"stopped"`, "JSON logs with --log-format json")

		r := cli(t, "--admin", n1.admin, "members")
		requireOneLineError(t, r, "cannot reach the admin API at unix:"+n1.admin+": is `macula start` running?")
		_, err = os.Stat(n1.admin)
		require.ErrorIs(t, err, os.ErrNotExist, "the stopped node removed its socket")
	})

	require.NoError(t, n0.cmd.Process.Signal(os.Interrupt))
	select {
	case <-n0.done:
	case <-time.After(30 * time.Second):
		t.Fatal("n0 did not stop on SIGINT")
	}
	require.Zero(t, n0.cmd.ProcessState.ExitCode(), "%v", n0.cmd.ProcessState)
}

// rowOf returns the line of a table that contains id, or "".
func rowOf(lines []string, id string) string {
	for _, l := range lines {
		if strings.Contains(l, id) {
			return l
		}
	}
	return ""
}

// unusedPrefix returns an 8-digit hex prefix of no node's ID.
func unusedPrefix(nodes []*nodeProc) string {
	for _, p := range []string{"ffffffff", "00000000", "12345678"} {
		used := false
		for _, n := range nodes {
			used = used || strings.HasPrefix(n.id.String(), p)
		}
		if !used {
			return p
		}
	}
	panic("unreachable")
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
