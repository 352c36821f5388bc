package macula_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/org/macula"
	"github.com/org/macula/internal/testcert"
	"github.com/org/macula/protocol"
	"github.com/org/macula/routing"
	"github.com/org/macula/security"
	"github.com/org/macula/topic"
	"github.com/org/macula/transport"
)

const adversarialRealm = "org.example.adversarial"

// realmFixture is a production-mode realm: a CA, a guarded node with an
// ACL, an audit log and required signatures, a well-behaved member, and a
// rogue member: a node with a valid certificate running modified software
// (a bare transport that writes whatever it likes).
type realmFixture struct {
	ca      *security.CA
	audit   *syncBuffer
	guarded *macula.Node
	good    *macula.Node
	rogueID *security.Identity
	rogue   *transport.Transport

	mu       sync.Mutex
	received []string // "topic data@publisher" at the guarded node
}

func newRealmFixture(t *testing.T, ctx context.Context) *realmFixture {
	t.Helper()
	ca, err := security.NewRealmCA(adversarialRealm, time.Hour)
	require.NoError(t, err)
	f := &realmFixture{ca: ca, audit: &syncBuffer{}}
	f.rogueID, err = security.GenerateIdentity()
	require.NoError(t, err)
	acl, err := security.NewACL(security.EffectAllow,
		security.DenyRule("node:"+f.rogueID.ID().String(), security.ActionPublish, "secret.#"),
		security.DenyRule("node:"+f.rogueID.ID().String(), security.ActionSubscribe, "secret.#"),
		security.DenyRule("node:"+f.rogueID.ID().String(), security.ActionRegister, "admin.#"),
		security.DenyRule("node:"+f.rogueID.ID().String(), security.ActionCall, "admin.#"),
		security.DenyRule("*", security.ActionAny, "forbidden.#"),
	)
	require.NoError(t, err)
	f.guarded = f.member(t, macula.WithACL(acl), macula.WithAuditLog(f.audit))
	f.good = f.member(t)
	require.NoError(t, f.good.Join(ctx, f.guarded.URI()))

	rogueCert, err := ca.IssueTLSCertificate(f.rogueID, security.IssueOptions{})
	require.NoError(t, err)
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	f.rogue, err = transport.New(transport.Config{
		Identity: f.rogueID, Realm: adversarialRealm, Conn: conn,
		Certificate: &rogueCert, RealmCA: ca.CertPool(),
	})
	require.NoError(t, err)
	require.NoError(t, f.rogue.Start())
	t.Cleanup(func() { _ = f.rogue.Close() })

	_, err = f.guarded.Subscribe(ctx, "secret.#", func(_ context.Context, ev *macula.Event) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.received = append(f.received, ev.Topic+" "+string(ev.Data)+"@"+ev.Publisher.Short())
	})
	require.NoError(t, err)
	_, err = f.guarded.Register(ctx, "admin.reset", func(context.Context, *macula.Invocation) (any, error) { return "done", nil })
	require.NoError(t, err)
	return f
}

// member starts a node of the realm with a CA-issued certificate, signing
// its messages and requiring signatures.
func (f *realmFixture) member(t *testing.T, opts ...macula.Option) *macula.Node {
	t.Helper()
	id, err := security.GenerateIdentity()
	require.NoError(t, err)
	cert, err := f.ca.IssueTLSCertificate(id, security.IssueOptions{})
	require.NoError(t, err)
	return startNode(t, append([]macula.Option{
		macula.WithRealm(adversarialRealm), macula.WithIdentity(id), macula.WithCertificate(cert),
		macula.WithRealmCA(f.ca.CertPool()), macula.WithMessageSigning(true),
	}, opts...)...)
}

// startNode starts a node on loopback, closed at the end of the test.
func startNode(t testing.TB, opts ...macula.Option) *macula.Node {
	t.Helper()
	n, err := macula.New(append([]macula.Option{macula.WithListenAddr("127.0.0.1:0")}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close() })
	return n
}

func (f *realmFixture) got(entry string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.received {
		if r == entry {
			return true
		}
	}
	return false
}

// auditCount counts the audit records of kind (naming peer, unless peer
// is empty).
func (f *realmFixture) auditCount(t *testing.T, kind, peer string) int {
	n := 0
	for _, rec := range auditLines(t, f.audit) {
		if rec["kind"] == kind && (peer == "" || rec["peer"] == peer) {
			n++
		}
	}
	return n
}

// stillServes checks that the guarded node serves the well-behaved member:
// an at-least-once event is delivered and a call answered, both signed.
func (f *realmFixture) stillServes(t *testing.T, ctx context.Context, tag string) {
	t.Helper()
	require.NoError(t, f.good.Publish(ctx, "secret.memo", tag, macula.WithQoS(macula.AtLeastOnce)))
	require.True(t, f.got("secret.memo \""+tag+"\"@"+f.good.ID().Short()), "the good member's event arrives")
	rep, err := f.good.CallTo(ctx, f.guarded.ID(), "admin.reset", nil)
	require.NoError(t, err)
	require.Equal(t, f.guarded.ID(), rep.Signer)
}

// rawDial opens a QUIC connection to n presenting cert, trusting any
// server certificate: a modified client that skips every check of its
// own. It returns the handshake's error.
func rawDial(ctx context.Context, n *macula.Node, cert tls.Certificate) error {
	conn, err := quic.DialAddr(ctx, n.Addr().String(), &tls.Config{
		Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true,
		NextProtos: []string{protocol.ALPN}, MinVersion: tls.VersionTLS13,
	}, &quic.Config{HandshakeIdleTimeout: 2 * time.Second})
	if err != nil {
		return err
	}
	// The server checks the client certificate after its own handshake
	// flight: wait for its verdict.
	select {
	case <-conn.Context().Done():
		return context.Cause(conn.Context())
	case <-time.After(2 * time.Second):
		_ = conn.CloseWithError(0, "")
		return nil
	}
}

// rogueEvent sends ev on an event stream from the rogue member to the
// guarded node, as modified software could.
func (f *realmFixture) rogueEvent(ctx context.Context, ev *protocol.Event) error {
	if _, err := f.rogue.Connect(ctx, f.guarded.ID(), []string{f.guarded.Addr().String()}); err != nil {
		return err
	}
	s, err := f.rogue.OpenStream(ctx, f.guarded.ID(), protocol.StreamEvents)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.WriteFrame(&protocol.Envelope{Body: &protocol.Envelope_Event{Event: ev}}); err != nil {
		return err
	}
	time.Sleep(100 * time.Millisecond) // let it land before the stream closes
	return nil
}

// rogueRaw opens a stream of type typ from the rogue member to the
// guarded node, writes raw bytes on it, and returns the code the guarded
// node aborted the stream with.
func (f *realmFixture) rogueRaw(t *testing.T, ctx context.Context, typ protocol.StreamType, raw []byte) protocol.ErrorCode {
	t.Helper()
	_, err := f.rogue.Connect(ctx, f.guarded.ID(), []string{f.guarded.Addr().String()})
	require.NoError(t, err)
	s, err := f.rogue.OpenStream(ctx, f.guarded.ID(), typ)
	require.NoError(t, err)
	defer s.Abort(protocol.CodeCancelled)
	if len(raw) > 0 {
		_, err = s.Write(raw)
		require.NoError(t, err)
	}
	require.NoError(t, s.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = io.ReadAll(s)
	code, ok := transport.StreamCode(err)
	require.True(t, ok, "the stream is aborted with a code, got %v", err)
	return code
}

func signedEvent(by *security.Identity, publisher security.NodeID, topic, data string) *protocol.Event {
	ev := &protocol.Event{Topic: topic, Data: []byte(data), Publisher: publisher[:], Seq: 1, TimeUnixNano: time.Now().UnixNano()}
	ev.Signature = by.Sign(protocol.EventSigningBytes(ev.Topic, ev.Data, ev.ContentType, ev.Publisher, ev.Seq, ev.TimeUnixNano, ev.Qos))
	ev.PublisherKey = by.PublicKey()
	return ev
}

// attackRow is one row of TestAdversarial.
type attackRow struct {
	attack string
	try    func(t *testing.T) error
	want   error  // what the attacker sees; nil when it sees nothing
	kind   string // audit kind at the guarded node
	peer   string // node the audit names; empty when unknown
}

// TestAdversarial: each row is what an attacker tries against a guarded
// node of a production realm (realm CA, ACL, audit log, required
// signatures). Every row must end refused (with the typed error the
// attacker sees, where it sees one), audited with the right kind, and
// with the guarded node still serving a well-behaved member.
func TestAdversarial(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f := newRealmFixture(t, ctx)
	rogueID := f.rogueID.ID().String()
	otherCA, err := security.NewRealmCA(adversarialRealm, time.Hour)
	require.NoError(t, err)

	rows := []attackRow{
		{
			attack: "a client of another realm connects, skipping its own realm check",
			try: func(t *testing.T) error {
				id, err := security.GenerateIdentity()
				require.NoError(t, err)
				cert, err := security.SelfSignedCertificate(id, "org.example.elsewhere", 0)
				require.NoError(t, err)
				require.Error(t, rawDial(ctx, f.guarded, cert), "the handshake must fail")
				return nil
			},
			kind: "realm_mismatch",
		},
		{
			attack: "a dev-mode node with a self-signed certificate joins the CA realm",
			try: func(t *testing.T) error {
				n := startNode(t, macula.WithRealm(adversarialRealm))
				return n.Join(ctx, f.guarded.URI())
			},
			want: transport.ErrPeerRefused, kind: "untrusted_certificate",
		},
		{
			attack: "a client presents an expired certificate of the realm CA",
			try: func(t *testing.T) error {
				id, err := security.GenerateIdentity()
				require.NoError(t, err)
				cert, err := f.ca.IssueTLSCertificate(id, security.IssueOptions{ValidFor: time.Second})
				require.NoError(t, err)
				leaf, err := x509.ParseCertificate(cert.Certificate[0])
				require.NoError(t, err)
				time.Sleep(time.Until(leaf.NotAfter) + 50*time.Millisecond)
				require.Error(t, rawDial(ctx, f.guarded, cert), "the handshake must fail")
				return nil
			},
			kind: "certificate_expired",
		},
		{
			attack: "a client presents a certificate from another CA naming this realm",
			try: func(t *testing.T) error {
				id, err := security.GenerateIdentity()
				require.NoError(t, err)
				cert, err := otherCA.IssueTLSCertificate(id, security.IssueOptions{})
				require.NoError(t, err)
				require.Error(t, rawDial(ctx, f.guarded, cert), "the handshake must fail")
				return nil
			},
			kind: "untrusted_certificate",
		},
		{
			attack: "a client presents a certificate from another realm's CA",
			try: func(t *testing.T) error {
				elsewhere, err := security.NewRealmCA("org.example.elsewhere", time.Hour)
				require.NoError(t, err)
				id, err := security.GenerateIdentity()
				require.NoError(t, err)
				cert, err := elsewhere.IssueTLSCertificate(id, security.IssueOptions{})
				require.NoError(t, err)
				require.Error(t, rawDial(ctx, f.guarded, cert), "the handshake must fail")
				return nil
			},
			kind: "realm_mismatch",
		},
		{
			attack: "a client claims the good member's node ID with its own key",
			try: func(t *testing.T) error {
				cert, err := testcert.ForgedSAN(adversarialRealm, f.good.ID())
				require.NoError(t, err)
				require.Error(t, rawDial(ctx, f.guarded, cert), "the handshake must fail")
				return nil
			},
			kind: "identity_mismatch",
		},
		{
			attack: "a member sends an unsigned event",
			try: func(t *testing.T) error {
				return f.rogueEvent(ctx, &protocol.Event{Topic: "secret.unsigned", Data: []byte("x"), Publisher: idBytes(f.rogueID.ID()), Seq: 1})
			},
			kind: "bad_signature", peer: rogueID,
		},
		{
			attack: "a member sends an event in the good member's name, signed with its own key",
			try: func(t *testing.T) error {
				return f.rogueEvent(ctx, signedEvent(f.rogueID, f.good.ID(), "secret.forged", "x"))
			},
			kind: "bad_signature", peer: rogueID,
		},
		{
			attack: "a member publishes against a deny rule, skipping its own check",
			try: func(t *testing.T) error {
				return f.rogueEvent(ctx, signedEvent(f.rogueID, f.rogueID.ID(), "secret.stolen", "x"))
			},
			kind: "acl_denied", peer: rogueID,
		},
	}
	rows = append(rows, []attackRow{
		{
			attack: "a member sends a frame larger than the maximum",
			try: func(t *testing.T) error {
				code := f.rogueRaw(t, ctx, protocol.StreamRPC, binary.AppendUvarint(nil, macula.DefaultMaxFrameSize+1))
				require.Equal(t, protocol.CodeFrameTooLarge, code)
				return nil
			},
			kind: "protocol_violation", peer: rogueID,
		},
		{
			attack: "a member sends a message of a type nobody knows",
			try: func(t *testing.T) error {
				// An Envelope whose only field, number 999, is not in the
				// protocol.
				body := protowire.AppendTag(nil, 999, protowire.BytesType)
				body = protowire.AppendBytes(body, []byte("from the future"))
				code := f.rogueRaw(t, ctx, protocol.StreamEvents, protowire.AppendBytes(nil, body))
				require.Equal(t, protocol.CodeUnknownMessage, code)
				return nil
			},
			kind: "protocol_violation", peer: rogueID,
		},
		{
			attack: "a member opens a stream of an unknown type",
			try: func(t *testing.T) error {
				code := f.rogueRaw(t, ctx, protocol.StreamType(99), nil)
				require.Equal(t, protocol.CodeUnknownStreamType, code)
				return nil
			},
			kind: "protocol_violation", peer: rogueID,
		},
		{
			attack: "a member floods the node with streams that never send a call",
			try: func(t *testing.T) error {
				var streams []*transport.Stream
				defer func() {
					for _, s := range streams {
						s.Abort(protocol.CodeCancelled)
					}
				}()
				for range transport.DefaultMaxStreamsPerPeer + 50 {
					s, err := f.rogue.OpenStream(ctx, f.guarded.ID(), protocol.StreamRPC)
					require.NoError(t, err)
					streams = append(streams, s)
				}
				last := streams[len(streams)-1]
				require.NoError(t, last.SetReadDeadline(time.Now().Add(5*time.Second)))
				var env protocol.Envelope
				return last.ReadFrame(&env)
			},
			want: transport.ErrRateLimited, kind: "rate_limited", peer: rogueID,
		},
	}...)
	handler := func(context.Context, *macula.Event) {}
	proc := func(context.Context, *macula.Invocation) (any, error) { return nil, nil }
	rows = append(rows, []attackRow{
		{
			attack: "the node's own code subscribes against a deny rule",
			try: func(t *testing.T) error {
				_, err := f.guarded.Subscribe(ctx, "forbidden.#", handler)
				return err
			},
			want: macula.ErrACLDenied, kind: "acl_denied", peer: f.guarded.ID().String(),
		},
		{
			attack: "the node's own code publishes against a deny rule",
			try:    func(t *testing.T) error { return f.guarded.Publish(ctx, "forbidden.x", "x") },
			want:   macula.ErrACLDenied, kind: "acl_denied", peer: f.guarded.ID().String(),
		},
		{
			attack: "the node's own code registers against a deny rule",
			try: func(t *testing.T) error {
				_, err := f.guarded.Register(ctx, "forbidden.proc", proc)
				return err
			},
			want: macula.ErrACLDenied, kind: "acl_denied", peer: f.guarded.ID().String(),
		},
		{
			attack: "the node's own code calls against a deny rule",
			try: func(t *testing.T) error {
				_, err := f.guarded.Call(ctx, "forbidden.proc", nil)
				return err
			},
			want: macula.ErrACLDenied, kind: "acl_denied", peer: f.guarded.ID().String(),
		},
		{
			attack: "a member calls against a deny rule, skipping its own check",
			try: func(t *testing.T) error {
				s, err := f.rogue.OpenStream(ctx, f.guarded.ID(), protocol.StreamRPC)
				require.NoError(t, err)
				defer s.Close()
				require.NoError(t, s.WriteFrame(&protocol.Envelope{Body: &protocol.Envelope_RpcCall{RpcCall: &protocol.RpcCall{CallId: 1, Procedure: "admin.reset"}}}))
				var env protocol.Envelope
				require.NoError(t, s.ReadFrame(&env))
				require.Equal(t, protocol.CodeACLDenied, env.GetRpcError().GetCode(), "answered %v", env.Body)
				return nil
			},
			kind: "acl_denied", peer: rogueID,
		},
	}...)
	rogueDHT, err := routing.New(routing.Config{
		Self:     routing.Contact{ID: f.rogueID.ID(), Addrs: []string{f.rogue.Addr().String()}},
		Realm:    adversarialRealm,
		Identity: f.rogueID,
		Querier:  routing.NewQUICQuerier(f.rogue),
		TTL:      time.Second,
	})
	require.NoError(t, err)
	defer rogueDHT.Close()
	querier := routing.NewQUICQuerier(f.rogue)
	guardedContact := routing.Contact{ID: f.guarded.ID(), Addrs: []string{f.guarded.Addr().String()}}
	subRecord := func(pattern string) *routing.Record {
		value, err := proto.Marshal(&protocol.Interest{Subscriptions: []*protocol.Subscribe{{Pattern: pattern, SubscriptionId: 1}}})
		require.NoError(t, err)
		rec, err := rogueDHT.NewRecord(routing.KindSub, topic.Anchor(pattern), value)
		require.NoError(t, err)
		return rec
	}
	rows = append(rows, []attackRow{
		{
			attack: "a member stores a subscription against a deny rule, skipping its own check",
			try: func(t *testing.T) error {
				return querier.Store(ctx, guardedContact, subRecord("secret.#"))
			},
			want: routing.ErrStoreRefused, kind: "acl_denied", peer: rogueID,
		},
		{
			attack: "a member stores a registration against a deny rule, skipping its own check",
			try: func(t *testing.T) error {
				value, err := proto.Marshal(&protocol.Provider{Procedure: "admin.reset"})
				require.NoError(t, err)
				rec, err := rogueDHT.NewRecord(routing.KindRPC, "admin.reset", value)
				require.NoError(t, err)
				return querier.Store(ctx, guardedContact, rec)
			},
			want: routing.ErrStoreRefused, kind: "acl_denied", peer: rogueID,
		},
		{
			attack: "a member forges a subscription record in the good member's name",
			try: func(t *testing.T) error {
				rec := subRecord("public.news")
				rec.Owner = f.good.ID()
				return querier.Store(ctx, guardedContact, rec)
			},
			want: routing.ErrInvalidRecord, kind: "bad_signature", peer: rogueID,
		},
		{
			attack: "a member replays an expired subscription record",
			try: func(t *testing.T) error {
				rec := subRecord("public.old")
				time.Sleep(time.Until(rec.Expires) + 10*time.Millisecond)
				return querier.Store(ctx, guardedContact, rec)
			},
			want: routing.ErrInvalidRecord, kind: "record_refused", peer: rogueID,
		},
		{
			attack: "a member floods the node with DHT stores",
			try: func(t *testing.T) error {
				// Eight senders store until the node refuses. The bucket
				// holds DefaultStoreBurst (2,000) and refills at
				// DefaultStoreRate (200/s), so any flood faster than 200/s
				// is refused after burst/(speed-200) seconds: under
				// -race on a loaded 2-core machine the senders manage
				// about 600/s, about 5 s. A fixed count of stores would
				// race the refill; the cap only bounds a broken limiter.
				rec := subRecord("public.flood")
				const most = 50 * routing.DefaultStoreBurst
				var (
					sent    atomic.Int64
					refused atomic.Pointer[error]
					wg      sync.WaitGroup
				)
				for range 8 {
					wg.Go(func() {
						for refused.Load() == nil && sent.Add(1) <= most {
							if err := querier.Store(ctx, guardedContact, rec); errors.Is(err, routing.ErrRateLimited) {
								refused.CompareAndSwap(nil, &err)
							}
						}
					})
				}
				wg.Wait()
				if err := refused.Load(); err != nil {
					return *err
				}
				return nil
			},
			want: routing.ErrRateLimited, kind: "rate_limited", peer: rogueID,
		},
	}...)
	for _, row := range rows {
		t.Run(row.attack, func(t *testing.T) {
			before := f.auditCount(t, row.kind, row.peer)
			err := row.try(t)
			t.Logf("attacker sees: %v", err)
			if row.want != nil {
				// errors.Is, not require.ErrorIs: testify cannot print
				// some quic-go errors' chains.
				require.True(t, errors.Is(err, row.want), "want %v, got %v", row.want, err)
			} else {
				require.NoError(t, err)
			}
			require.Eventually(t, func() bool { return f.auditCount(t, row.kind, row.peer) > before },
				5*time.Second, 10*time.Millisecond, "audited as %s: %s", row.kind, f.audit.String())
			f.stillServes(t, ctx, row.attack)
		})
	}
	require.Positive(t, f.guarded.PubSubStats().Refused)
	abuse := f.guarded.AbuseStats()
	require.Positive(t, abuse.Limits.StreamsRefused, "the stream flood was counted")
	require.Positive(t, abuse.Records.RateLimited, "the store flood was counted")
	require.Positive(t, abuse.Records.Unauthorized)
	require.Positive(t, abuse.Records.BadSignature)
	require.Positive(t, abuse.Records.Expired)
	require.Less(t, f.auditCount(t, "rate_limited", rogueID), 10,
		"floods are audited about once a second, not once per refused stream or store (refused stores: %d)", abuse.Records.RateLimited)
	_, err = macula.New(macula.WithACL(nil))
	require.ErrorIs(t, err, macula.ErrInvalidOption)
	_, err = f.guarded.Ping(ctx, f.rogueID.ID())
	require.NoError(t, err, "the rogue member is refused actions, not disconnected")
	for _, topic := range []string{"secret.unsigned", "secret.forged", "secret.stolen"} {
		for _, r := range f.received {
			require.NotContains(t, r, topic, "a refused event never reaches the handler")
		}
	}
}

func idBytes(id security.NodeID) []byte { return id[:] }

// auditLines parses the JSON lines of an audit log.
func auditLines(t *testing.T, log *syncBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		out = append(out, rec)
	}
	return out
}
