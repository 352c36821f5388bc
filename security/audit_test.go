package security

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// auditLines parses JSON lines into maps, failing on any malformed line.
func auditLines(t *testing.T, data []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var rec map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &rec), "line %q", sc.Text())
		out = append(out, rec)
	}
	require.NoError(t, sc.Err())
	return out
}

func TestAuditorJSONLines(t *testing.T) {
	var buf bytes.Buffer
	aud := NewAuditor(AuditConfig{Writer: &buf})
	at := time.Date(2025, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))
	aud.Record(AuditEvent{
		Time: at, Kind: AuditACLDenied, Peer: aclNodeA, RemoteAddr: "192.0.2.1:4433",
		Realm: "org.example.mesh", Action: ActionPublish, Name: "a.b", Reason: "because",
	})
	aud.Record(AuditEvent{Kind: AuditRateLimited}) // everything else unknown
	require.NoError(t, aud.Close())

	lines := auditLines(t, buf.Bytes())
	require.Len(t, lines, 2)
	require.Equal(t, map[string]any{
		"time": "2025-01-02T02:04:05.000000006Z", "kind": "acl_denied", "peer": aclNodeA.String(),
		"remote": "192.0.2.1:4433", "realm": "org.example.mesh", "action": "publish", "name": "a.b",
		"reason": "because",
	}, lines[0])
	require.Equal(t, []string{"kind", "time"}, slices.Sorted(maps.Keys(lines[1])))
	require.Equal(t, "rate_limited", lines[1]["kind"])
	stamped, err := time.Parse(time.RFC3339Nano, lines[1]["time"].(string))
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), stamped, time.Minute) // stamped by Record
	require.Equal(t, AuditStats{Recorded: 2}, aud.Stats())
}

func TestAuditorEscapesHostileInput(t *testing.T) {
	// A name or reason chosen by an attacker cannot forge a second record.
	var buf bytes.Buffer
	aud := NewAuditor(AuditConfig{Writer: &buf})
	hostile := "x\n{\"kind\":\"forged\"}\r\n\"\x00\xff"
	aud.Record(AuditEvent{Kind: AuditBadSignature, Name: hostile, Reason: hostile})
	require.NoError(t, aud.Close())
	lines := auditLines(t, buf.Bytes())
	require.Len(t, lines, 1)
	require.Equal(t, "bad_signature", lines[0]["kind"])
	require.True(t, strings.HasPrefix(lines[0]["name"].(string), "x\n{"))
}

func TestAuditorZap(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	aud := NewAuditor(AuditConfig{Logger: zap.New(core)})
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	aud.Record(AuditEvent{Time: at, Kind: AuditRealmMismatch, RemoteAddr: "[::1]:1", Realm: "org.other", Reason: "r"})
	require.NoError(t, aud.Close())

	entries := logs.All()
	require.Len(t, entries, 1)
	require.Equal(t, zapcore.WarnLevel, entries[0].Level)
	require.Equal(t, "security audit", entries[0].Message)
	fields := entries[0].ContextMap()
	require.Equal(t, map[string]any{
		"time": at, "kind": "realm_mismatch", "remote": "[::1]:1", "realm": "org.other", "reason": "r",
	}, fields)
}

func TestNilAuditorIsANoOp(t *testing.T) {
	var aud *Auditor
	aud.Record(AuditEvent{Kind: AuditACLDenied})
	aud.HandshakeFailure(nil, errors.New("x"))
	require.Equal(t, AuditStats{}, aud.Stats())
	require.NoError(t, aud.Close())
}

func TestAuditorWithoutSinks(t *testing.T) {
	aud := NewAuditor(AuditConfig{})
	aud.Record(AuditEvent{Kind: AuditACLDenied})
	require.NoError(t, aud.Close())
	require.Equal(t, AuditStats{Recorded: 1}, aud.Stats())
}

// gateWriter blocks every Write until released, and reports each Write
// starting.
type gateWriter struct {
	entered chan struct{}
	release chan struct{}
	mu      sync.Mutex
	buf     bytes.Buffer
}

func (w *gateWriter) Write(p []byte) (int, error) {
	w.entered <- struct{}{}
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func TestAuditorSlowWriterDoesNotBlockRecord(t *testing.T) {
	w := &gateWriter{entered: make(chan struct{}, 100), release: make(chan struct{})}
	aud := NewAuditor(AuditConfig{Writer: w, QueueSize: 4})

	aud.Record(AuditEvent{Kind: AuditACLDenied, Name: "first"})
	<-w.entered // the writer goroutine holds "first" and is stuck in Write

	recorded := make(chan struct{})
	go func() {
		defer close(recorded)
		for i := range 14 { // 4 fit in the queue, 10 do not
			aud.Record(AuditEvent{Kind: AuditACLDenied, Name: fmt.Sprintf("n%d", i)})
		}
	}()
	select {
	case <-recorded:
	case <-time.After(10 * time.Second):
		t.Fatal("Record blocked on a stuck writer")
	}
	require.Equal(t, AuditStats{Recorded: 5, Dropped: 10}, aud.Stats())

	close(w.release) // the writer recovers
	require.NoError(t, aud.Close())
	lines := auditLines(t, w.buf.Bytes())
	var got []string
	for _, l := range lines {
		if l["kind"] == string(AuditDropped) {
			got = append(got, "dropped: "+l["reason"].(string))
			continue
		}
		got = append(got, l["name"].(string))
	}
	require.Equal(t, []string{
		"first",
		"dropped: 10 audit records dropped: the audit writer could not keep up",
		"n0", "n1", "n2", "n3",
	}, got)
}

func TestAuditorClose(t *testing.T) {
	var buf bytes.Buffer
	aud := NewAuditor(AuditConfig{Writer: &buf})
	for i := range 50 {
		aud.Record(AuditEvent{Kind: AuditBadSignature, Name: fmt.Sprint(i)})
	}
	require.NoError(t, aud.Close())
	require.Len(t, auditLines(t, buf.Bytes()), 50) // Close wrote everything queued

	aud.Record(AuditEvent{Kind: AuditBadSignature}) // after Close: dropped
	require.NoError(t, aud.Close())                 // idempotent
	require.Equal(t, AuditStats{Recorded: 50, Dropped: 1}, aud.Stats())
	require.Len(t, auditLines(t, buf.Bytes()), 50)
}

// failWriter fails every other Write.
type failWriter struct {
	n   int
	buf bytes.Buffer
}

func (w *failWriter) Write(p []byte) (int, error) {
	w.n++
	if w.n%2 == 0 {
		return 0, errors.New("disk full")
	}
	return w.buf.Write(p)
}

func TestAuditorWriteErrors(t *testing.T) {
	w := &failWriter{}
	aud := NewAuditor(AuditConfig{Writer: w})
	for range 6 {
		aud.Record(AuditEvent{Kind: AuditRateLimited})
	}
	require.NoError(t, aud.Close())
	require.Equal(t, AuditStats{Recorded: 6, WriteErrors: 3}, aud.Stats())
	require.Len(t, auditLines(t, w.buf.Bytes()), 3) // it kept writing after a failure
}

func TestAuditorConcurrentRecord(t *testing.T) {
	var buf bytes.Buffer
	aud := NewAuditor(AuditConfig{Writer: &buf, QueueSize: 10000})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				aud.Record(AuditEvent{Kind: AuditRateLimited, Name: fmt.Sprintf("g%d.n%d", g, i)})
			}
		})
	}
	// Close while recording is still going on: nothing may panic, and
	// every event is either written or counted as dropped.
	closed := make(chan error, 1)
	go func() { closed <- aud.Close() }()
	wg.Wait()
	require.NoError(t, <-closed)
	stats := aud.Stats()
	require.Equal(t, uint64(1600), stats.Recorded+stats.Dropped)
	require.Len(t, auditLines(t, buf.Bytes()), int(stats.Recorded))
}

func TestClassifyError(t *testing.T) {
	const realm = "org.example.mesh"
	id := newTestIdentity(t)
	other := newTestIdentity(t)
	ca := newTestCA(t, realm)
	selfCert, err := SelfSignedCertificate(id, realm, 0)
	require.NoError(t, err)
	verify := func(chain [][]byte, opts VerifyOptions) error {
		opts.Realm = realm
		_, _, err := VerifyPeer(chain, opts)
		require.Error(t, err)
		return err
	}
	expired := leafTmpl(t, realm, id.ID())
	expired.NotBefore, expired.NotAfter = time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
	otherRealm, err := SelfSignedCertificate(id, "org.other", 0)
	require.NoError(t, err)
	denied := mustACL(t, EffectDeny).Check(Subject{}, ActionCall, "x")

	cases := []struct {
		name string
		err  error
		want AuditKind
	}{
		{"nil", nil, ""},
		{"unknown", errors.New("timeout"), ""},
		{"no certificate", verify(nil, VerifyOptions{}), AuditNoCertificate},
		{"garbage certificate", verify([][]byte{{1, 2, 3}}, VerifyOptions{}), AuditInvalidCertificate},
		{"forged identity", verify([][]byte{selfSigned(t, other, leafTmpl(t, realm, id.ID()))}, VerifyOptions{}), AuditIdentityMismatch},
		{"wrong realm", verify(otherRealm.Certificate, VerifyOptions{}), AuditRealmMismatch},
		{"expired", verify([][]byte{selfSigned(t, id, expired)}, VerifyOptions{}), AuditCertificateExpired},
		{"self-signed in CA realm", verify(selfCert.Certificate, VerifyOptions{RealmCA: ca.CertPool()}), AuditUntrustedCertificate},
		{"other realm's CA", verify(issued(t, newTestCA(t, realm), id), VerifyOptions{RealmCA: ca.CertPool()}), AuditUntrustedCertificate},
		{"unexpected peer", verify(selfCert.Certificate, VerifyOptions{ExpectedID: other.ID()}), AuditUnexpectedPeer},
		{"acl denial", denied, AuditACLDenied},
		{"wrapped twice", fmt.Errorf("transport: %w", fmt.Errorf("tls: %w", ErrRealmMismatch)), AuditRealmMismatch},
		{"joined", errors.Join(errors.New("x"), ErrCertificateExpired), AuditCertificateExpired},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, ClassifyError(c.err))
		})
	}
}

// issued returns a chain holding a certificate for id issued by ca.
func issued(t *testing.T, ca *CA, id *Identity) [][]byte {
	t.Helper()
	der, err := ca.Issue(id.PublicKey(), IssueOptions{})
	require.NoError(t, err)
	return [][]byte{der}
}

func TestAuditorHandshakeFailure(t *testing.T) {
	var buf bytes.Buffer
	aud := NewAuditor(AuditConfig{Writer: &buf})
	remote := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 4433}
	aud.HandshakeFailure(remote, fmt.Errorf("handshake: %w: peer realm %q", ErrRealmMismatch, "org.other"))
	aud.HandshakeFailure(remote, errors.New("timeout: no recent network activity"))
	aud.HandshakeFailure(nil, fmt.Errorf("x: %w", ErrUntrustedCertificate))
	require.NoError(t, aud.Close())

	lines := auditLines(t, buf.Bytes())
	require.Len(t, lines, 3)
	require.Equal(t, "realm_mismatch", lines[0]["kind"])
	require.Equal(t, "192.0.2.7:4433", lines[0]["remote"])
	require.Contains(t, lines[0]["reason"], "org.other")
	require.Equal(t, "handshake_failed", lines[1]["kind"])
	require.Equal(t, "timeout: no recent network activity", lines[1]["reason"])
	require.Equal(t, "untrusted_certificate", lines[2]["kind"])
	require.NotContains(t, lines[2], "remote")
}

func TestAuditEventFromError(t *testing.T) {
	subj := Subject{ID: aclNodeA, Realm: "org.example.mesh", Roles: []string{"guest"}}
	err := mustACL(t, EffectDeny).Check(subj, ActionSubscribe, "a.#")
	remote := &net.TCPAddr{IP: net.IPv6loopback, Port: 9}
	ev := AuditEventFromError(remote, fmt.Errorf("rpc: %w", err))
	require.Equal(t, AuditEvent{
		Kind: AuditACLDenied, Peer: aclNodeA, RemoteAddr: "[::1]:9", Realm: "org.example.mesh",
		Action: ActionSubscribe, Name: "a.#", Reason: "rpc: " + err.Error(),
	}, ev)

	ev = AuditEventFromError(nil, errors.New("boom"))
	require.Equal(t, AuditEvent{Reason: "boom"}, ev)
	require.Equal(t, AuditEvent{}, AuditEventFromError(nil, nil))
}
