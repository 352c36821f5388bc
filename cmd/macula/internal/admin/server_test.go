package admin

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula"
	"github.com/org/macula/membership"
	"github.com/org/macula/topology"
)

// id returns a node ID whose hex form starts with prefix (hex digits),
// the rest filled with n.
func id(prefix string, n byte) macula.NodeID {
	s := prefix + strings.Repeat(fmt.Sprintf("%x", n%16), 64-len(prefix))
	v, err := macula.ParseNodeID(s)
	if err != nil {
		panic(err)
	}
	return v
}

var (
	self   = id("aaaa", 1)
	peerB  = id("bbbb1", 2)
	peerB2 = id("bbbb2", 3)
	deadC  = id("cccc", 4)
	farD   = id("dddd", 5) // alive, not connected
)

// fakeBackend is a Backend with canned answers that records calls.
type fakeBackend struct {
	mu        sync.Mutex
	pinged    []macula.NodeID
	joined    [][]string
	joinErr   error
	published []PublishRequest
	pubErr    error
	callErr   error
	calls     []CallRequest
	handlers  map[string]func(context.Context, *macula.Event)
	unsubbed  chan string
	subCtx    context.Context
	subCancel context.CancelFunc
	keys      [][]byte // primary first
	keyGen    uint64
}

func newFake() *fakeBackend {
	f := &fakeBackend{handlers: make(map[string]func(context.Context, *macula.Event)), unsubbed: make(chan string, 4), keys: [][]byte{keyA}, keyGen: 2}
	f.subCtx, f.subCancel = context.WithCancel(context.Background())
	return f
}

func (f *fakeBackend) Info() NodeInfo {
	return NodeInfo{ID: self, Realm: "org.example.test", Addr: "127.0.0.1:4433", URI: "macula://org.example.test/" + self.String() + "@127.0.0.1:4433", Version: "test", Started: time.Now().Add(-time.Minute)}
}

func (f *fakeBackend) Members() []macula.Member {
	return []macula.Member{
		{ID: deadC, Addr: "127.0.0.1:3", State: macula.MemberDead},
		{ID: peerB, Addr: "127.0.0.1:2", State: macula.MemberAlive, Incarnation: 1, Meta: membership.Meta{Version: "v", Links: []macula.NodeID{self}}},
		{ID: self, Addr: "127.0.0.1:4433", State: macula.MemberAlive, Incarnation: 1},
		{ID: peerB2, Addr: "127.0.0.1:5", State: macula.MemberSuspect, Incarnation: 3},
		{ID: farD, Addr: "127.0.0.1:6", State: macula.MemberAlive},
	}
}

func (f *fakeBackend) Peers() []macula.PeerInfo {
	return []macula.PeerInfo{
		{ID: peerB2, RemoteAddr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5}, RTT: 1500 * time.Microsecond},
		{ID: peerB, RemoteAddr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2}, Outbound: true, RTT: 2 * time.Millisecond},
	}
}

func (f *fakeBackend) Topology() *macula.Graph {
	g := topology.NewGraph()
	g.AddEdge(self, peerB)
	g.AddEdge(peerB, peerB2)
	return g
}

func (f *fakeBackend) Routes() []macula.Route {
	return []macula.Route{{ID: peerB2, Addrs: []string{"127.0.0.1:5"}}, {ID: peerB, Addrs: []string{"127.0.0.1:2"}}}
}

func (f *fakeBackend) Counters() (PubSubStats, RPCStats) {
	return PubSubStats{In: 3, Out: 4, Dropped: 1}, RPCStats{Calls: 2, Served: 5}
}

func (f *fakeBackend) Ping(_ context.Context, id macula.NodeID) (time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pinged = append(f.pinged, id)
	return 3 * time.Millisecond, nil
}

func (f *fakeBackend) Join(_ context.Context, addrs ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.joined = append(f.joined, addrs)
	return f.joinErr
}

func (f *fakeBackend) Publish(_ context.Context, topic string, payload any, opts ...macula.PublishOption) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	req := PublishRequest{Topic: topic, QoS: len(opts)}
	switch p := payload.(type) {
	case json.RawMessage:
		req.JSON = p
	case []byte:
		req.Data = p
	}
	f.published = append(f.published, req)
	return f.pubErr
}

func (f *fakeBackend) Subscribe(_ context.Context, pattern string, fn func(context.Context, *macula.Event)) (func(), error) {
	if pattern == "bad..pattern" {
		return nil, fmt.Errorf("%w %q: empty segment 2", macula.ErrInvalidTopic, pattern)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers[pattern] = fn
	return func() {
		f.mu.Lock()
		delete(f.handlers, pattern)
		f.mu.Unlock()
		f.unsubbed <- pattern
	}, nil
}

// deliver hands ev to the handler of pattern, as the node's subscription
// goroutine would.
func (f *fakeBackend) deliver(pattern string, ev *macula.Event) bool {
	f.mu.Lock()
	fn := f.handlers[pattern]
	f.mu.Unlock()
	if fn == nil {
		return false
	}
	fn(f.subCtx, ev)
	return true
}

func (f *fakeBackend) Call(_ context.Context, node macula.NodeID, procedure string, args any) (CallReply, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	req := CallRequest{Procedure: procedure}
	if !node.IsZero() {
		req.Node = node.String()
	}
	if raw, ok := args.(json.RawMessage); ok {
		req.JSON = raw
	}
	f.calls = append(f.calls, req)
	if f.callErr != nil {
		return CallReply{}, f.callErr
	}
	return CallReply{Provider: peerB, ContentType: ContentJSON, Body: Body{JSON: json.RawMessage(`{"ok":true}`)}}, nil
}

// Gossip keys of the fake keyring.
var (
	keyA = bytes.Repeat([]byte{0xa}, 32)
	keyB = bytes.Repeat([]byte{0xb}, 16)
)

func (f *fakeBackend) GossipKeyring() macula.GossipKeyring {
	f.mu.Lock()
	defer f.mu.Unlock()
	kr := macula.GossipKeyring{Primary: f.keys[0], Generation: f.keyGen}
	for _, k := range f.keys {
		kr.Keys = append(kr.Keys, bytes.Clone(k))
	}
	return kr
}

func (f *fakeBackend) GossipStats() macula.GossipStats {
	return macula.GossipStats{Sent: 10, Received: 9, Refused: 2, Dropped: 1}
}

// InstallGossipKey, UseGossipKey and RemoveGossipKey follow the rules of
// the node's keyring, errors included.
func (f *fakeBackend) InstallGossipKey(k []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.ContainsFunc(f.keys, func(x []byte) bool { return bytes.Equal(x, k) }) {
		f.keys = append(f.keys, bytes.Clone(k))
	}
	return nil
}

func (f *fakeBackend) UseGossipKey(k []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.keys, func(x []byte) bool { return bytes.Equal(x, k) })
	if i < 0 {
		return fmt.Errorf("%w: key not installed", macula.ErrInvalidGossipKey)
	}
	k = f.keys[i]
	f.keys = slices.Insert(slices.Delete(f.keys, i, i+1), 0, k)
	f.keyGen++
	return nil
}

func (f *fakeBackend) RemoveGossipKey(k []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.keys, func(x []byte) bool { return bytes.Equal(x, k) })
	switch {
	case i < 0:
		return fmt.Errorf("%w: key not installed", macula.ErrInvalidGossipKey)
	case i == 0:
		return fmt.Errorf("%w: the primary key cannot be removed; use another first", macula.ErrInvalidGossipKey)
	}
	f.keys = slices.Delete(f.keys, i, i+1)
	return nil
}

// serve starts a Server for b on a loopback port and returns a client.
func serve(t *testing.T, b Backend) (*Client, *Server) {
	t.Helper()
	s := NewServer(b, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.Start(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, s.Close(ctx))
	})
	addr, err := ParseAddr(ln.Addr().String())
	require.NoError(t, err)
	return NewClient(addr), s
}

func TestServerReadEndpoints(t *testing.T) {
	c, _ := serve(t, newFake())
	ctx := context.Background()

	ms, err := c.Members(ctx)
	require.NoError(t, err)
	require.Len(t, ms, 5)
	for i := 1; i < len(ms); i++ {
		require.Negative(t, ms[i-1].ID.Compare(ms[i].ID), "members sorted by ID")
	}
	require.Equal(t, self, ms[0].ID)
	require.True(t, ms[0].Self)
	require.Equal(t, "alive", ms[0].State)
	require.Equal(t, peerB2, ms[2].ID)
	require.Equal(t, "suspect", ms[2].State)
	require.Equal(t, uint32(3), ms[2].Incarnation)
	require.Equal(t, uint32(1), ms[1].Incarnation)
	require.Equal(t, "dead", ms[3].State)
	require.Zero(t, ms[3].Incarnation, "none seen")
	require.False(t, ms[3].Self)
	require.Equal(t, farD, ms[4].ID)
	require.Equal(t, []macula.NodeID{self}, ms[1].Links)

	ps, err := c.Peers(ctx)
	require.NoError(t, err)
	require.Len(t, ps, 2)
	require.Equal(t, peerB, ps[0].ID)
	require.True(t, ps[0].Outbound)
	require.InDelta(t, 2.0, ps[0].RTTMillis, 1e-9)
	require.Equal(t, "127.0.0.1:2", ps[0].RemoteAddr)

	topo, err := c.Topology(ctx)
	require.NoError(t, err)
	require.Len(t, topo.Nodes, 3)
	require.Len(t, topo.Edges, 2)
	require.True(t, topo.Connected)

	rs, err := c.Routes(ctx)
	require.NoError(t, err)
	require.Equal(t, []Route{{ID: peerB, Addrs: []string{"127.0.0.1:2"}}, {ID: peerB2, Addrs: []string{"127.0.0.1:5"}}}, rs)

	st, err := c.Stats(ctx)
	require.NoError(t, err)
	require.Equal(t, self, st.Node.ID)
	require.Equal(t, 2, st.Peers)
	require.Equal(t, 5, st.Members)
	require.Equal(t, 3, st.MembersAlive, "suspect and dead members are not alive")
	require.Equal(t, uint64(3), st.PubSub.In)
	require.Equal(t, uint64(4), st.PubSub.Out)
	require.Equal(t, uint64(5), st.RPC.Served)
	require.Equal(t, GossipStats{Sent: 10, Received: 9, Refused: 2, Dropped: 1}, st.Gossip)
	require.InDelta(t, 60, st.UptimeSeconds, 5)

	info, err := c.Node(ctx)
	require.NoError(t, err)
	require.Equal(t, "org.example.test", info.Realm)
}

func TestServerPingResolvesNodes(t *testing.T) {
	f := newFake()
	c, _ := serve(t, f)
	ctx := context.Background()

	r, err := c.Ping(ctx, "BBBB1")
	require.NoError(t, err, "a unique prefix in any case names the node")
	require.Equal(t, peerB, r.Node)
	require.InDelta(t, 3.0, r.RTTMillis, 1e-9)

	r, err = c.Ping(ctx, peerB2.String())
	require.NoError(t, err)
	require.Equal(t, peerB2, r.Node)

	// A member the node has no connection to is joined by URI first.
	r, err = c.Ping(ctx, "dddd")
	require.NoError(t, err)
	require.Equal(t, farD, r.Node)
	f.mu.Lock()
	require.Equal(t, [][]string{{"macula://org.example.test/" + farD.String() + "@127.0.0.1:6"}}, f.joined)
	f.mu.Unlock()

	for _, tc := range []struct {
		node, code, msg string
	}{
		{"ffff", CodeUnknownNode, `unknown node "ffff"`},
		{id("ffff", 9).String(), CodeUnknownNode, "unknown node"},
		{"bbbb", CodeAmbiguousNode, "ambiguous"},
		{"xyz", CodeBadRequest, `invalid node "xyz"`},
		{"", CodeBadRequest, "no node given"},
		{"aaaa", CodeBadRequest, "is this node"},
		{"cccc", CodeNotConnected, "dead"},
	} {
		t.Run(tc.node, func(t *testing.T) {
			_, err := c.Ping(ctx, tc.node)
			var apiErr *Error
			require.ErrorAs(t, err, &apiErr)
			require.Equal(t, tc.code, apiErr.Code)
			require.Contains(t, apiErr.Message, tc.msg)
			require.NotContains(t, apiErr.Message, "\n")
		})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	require.Equal(t, []macula.NodeID{peerB, peerB2, farD}, f.pinged, "failed lookups ping nobody")
}

func TestServerPublishAndErrors(t *testing.T) {
	f := newFake()
	c, _ := serve(t, f)
	ctx := context.Background()

	require.NoError(t, c.Publish(ctx, PublishRequest{Topic: "a.b", Body: Body{JSON: json.RawMessage(`{"x":1}`)}, QoS: 1}))
	require.NoError(t, c.Publish(ctx, PublishRequest{Topic: "a.b", Body: Body{Text: "hi"}}))
	f.mu.Lock()
	require.Equal(t, []PublishRequest{
		{Topic: "a.b", Body: Body{JSON: json.RawMessage(`{"x":1}`)}, QoS: 1},
		{Topic: "a.b", Body: Body{Data: []byte("hi")}},
	}, f.published)
	f.mu.Unlock()

	err := c.Publish(ctx, PublishRequest{Topic: "a.b", QoS: 2})
	var apiErr *Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, CodeBadRequest, apiErr.Code)

	f.mu.Lock()
	f.pubErr = fmt.Errorf("%w %q: empty segment 2", macula.ErrInvalidTopic, "a..b")
	f.mu.Unlock()
	err = c.Publish(ctx, PublishRequest{Topic: "a..b"})
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, CodeInvalidTopic, apiErr.Code)
	require.Equal(t, `invalid topic "a..b": empty segment 2`, apiErr.Message, "the macula: prefix is dropped")

	f.mu.Lock()
	f.joinErr = errors.Join(errors.New("first"), context.DeadlineExceeded)
	f.mu.Unlock()
	err = c.Join(ctx, "127.0.0.1:9")
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, CodeTimeout, apiErr.Code)
	require.Contains(t, apiErr.Message, "join 127.0.0.1:9: no node answered")

	f.mu.Lock()
	f.joinErr = errors.Join(errors.New("refused one"), errors.New("refused two"))
	f.mu.Unlock()
	err = c.Join(ctx, "127.0.0.1:9", "127.0.0.1:10")
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, "refused one; refused two", apiErr.Message, "joined errors become one line")

	err = c.Join(ctx)
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, CodeBadRequest, apiErr.Code)
}

func TestServerCall(t *testing.T) {
	f := newFake()
	c, _ := serve(t, f)
	ctx := context.Background()

	reply, err := c.Call(ctx, CallRequest{Procedure: "svc.echo", Node: "bbbb2", Body: Body{JSON: json.RawMessage(`[1,2]`)}})
	require.NoError(t, err)
	require.Equal(t, peerB, reply.Provider)
	require.JSONEq(t, `{"ok":true}`, string(reply.JSON))
	f.mu.Lock()
	require.Equal(t, []CallRequest{{Procedure: "svc.echo", Node: peerB2.String(), Body: Body{JSON: json.RawMessage(`[1,2]`)}}}, f.calls)
	f.callErr = fmt.Errorf("call: %w", macula.ErrNotConnected)
	f.mu.Unlock()

	_, err = c.Call(ctx, CallRequest{Procedure: "svc.echo"})
	var apiErr *Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, CodeNotConnected, apiErr.Code)

	_, err = c.Call(ctx, CallRequest{Procedure: "svc.echo", TimeoutMillis: -1})
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, CodeBadRequest, apiErr.Code)
	_, err = c.Call(ctx, CallRequest{})
	require.ErrorAs(t, err, &apiErr)
	require.Contains(t, apiErr.Message, "no procedure")
}

func TestServerKeyring(t *testing.T) {
	f := newFake()
	c, s := serve(t, f)
	ctx := context.Background()
	fpA, fpB := KeyFingerprint(keyA), KeyFingerprint(keyB)
	b64 := base64.StdEncoding.EncodeToString

	kr, err := c.Keyring(ctx, false)
	require.NoError(t, err)
	require.Equal(t, Keyring{
		Keys:       []GossipKey{{Fingerprint: fpA, Primary: true, Bits: 256}},
		Generation: 2,
		Packets:    GossipStats{Sent: 10, Received: 9, Refused: 2, Dropped: 1},
	}, kr, "no key material unless asked for")
	kr, err = c.Keyring(ctx, true)
	require.NoError(t, err)
	require.Equal(t, b64(keyA), kr.Keys[0].Key)

	kr, err = c.InstallKey(ctx, b64(keyB))
	require.NoError(t, err)
	require.Equal(t, []GossipKey{{Fingerprint: fpA, Primary: true, Bits: 256}, {Fingerprint: fpB, Bits: 128}}, kr.Keys)

	kr, err = c.UseKey(ctx, b64(keyB))
	require.NoError(t, err)
	require.Equal(t, []GossipKey{{Fingerprint: fpB, Primary: true, Bits: 128}, {Fingerprint: fpA, Bits: 256}}, kr.Keys)
	require.Equal(t, uint64(3), kr.Generation)

	// The node's refusals come back typed, naming the key and the reason.
	_, err = c.RemoveKey(ctx, b64(keyB))
	var apiErr *Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, CodeInvalidKey, apiErr.Code)
	require.Equal(t, "remove gossip key "+fpB+": invalid gossip key: the primary key cannot be removed; use another first", apiErr.Message)

	kr, err = c.RemoveKey(ctx, b64(keyA))
	require.NoError(t, err)
	require.Equal(t, []GossipKey{{Fingerprint: fpB, Primary: true, Bits: 128}}, kr.Keys)

	_, err = c.UseKey(ctx, b64(keyA))
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, CodeInvalidKey, apiErr.Code)
	require.Equal(t, "use gossip key "+fpA+": invalid gossip key: key not installed", apiErr.Message)

	// Unpadded base64 and surrounding white space are accepted.
	kr, err = c.InstallKey(ctx, " "+base64.RawStdEncoding.EncodeToString(keyA)+"\n")
	require.NoError(t, err)
	require.Len(t, kr.Keys, 2)

	// Keys that are not keys never reach the node.
	for _, tc := range []struct{ key, msg string }{
		{"not base64!", "invalid gossip key: not base64"},
		{b64(make([]byte, 10)), "invalid gossip key: 10 bytes, want 16, 24 or 32"},
		{"", "invalid gossip key: empty"},
	} {
		_, err := c.InstallKey(ctx, tc.key)
		require.ErrorAs(t, err, &apiErr, tc.key)
		require.Equal(t, CodeInvalidKey, apiErr.Code, tc.key)
		require.Contains(t, apiErr.Message, tc.msg)
	}
	require.Len(t, f.GossipKeyring().Keys, 2)

	// Status codes: 400 for an invalid key and for a malformed request.
	h := s.Handler()
	for _, tc := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{http.MethodPost, "/v1/keyring/use", `{"key":"` + b64(keyA[:24]) + `"}`, http.StatusBadRequest, CodeInvalidKey},
		{http.MethodPost, "/v1/keyring/install", `{"key":32}`, http.StatusBadRequest, CodeBadRequest},
		{http.MethodGet, "/v1/keyring?keys=maybe", "", http.StatusBadRequest, CodeBadRequest},
		{http.MethodDelete, "/v1/keyring", "", http.StatusMethodNotAllowed, ""},
	} {
		req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, tc.status, rec.Code, "%s %s: %s", tc.method, tc.path, rec.Body)
		if tc.code != "" {
			var e Error
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e))
			require.Equal(t, tc.code, e.Code, "%s %s", tc.method, tc.path)
		}
	}
}

func TestKeyFingerprint(t *testing.T) {
	fp := KeyFingerprint(keyA)
	require.Len(t, fp, 16)
	require.Equal(t, fp, KeyFingerprint(bytes.Clone(keyA)), "a function of the key")
	require.NotEqual(t, fp, KeyFingerprint(keyB))
}

func TestServerRefusesBrowsers(t *testing.T) {
	s := NewServer(newFake(), nil)
	h := s.Handler()

	req := httptest.NewRequest(http.MethodGet, "/v1/members", nil)
	req.Header.Set("Origin", "http://evil.example")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusForbidden, rec.Code)

	req = httptest.NewRequest(http.MethodPost, "/v1/publish", strings.NewReader(`{"topic":"a","text":"x"}`))
	req.Header.Set("Content-Type", "text/plain")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusUnsupportedMediaType, rec.Code)

	req = httptest.NewRequest(http.MethodPost, "/v1/publish", strings.NewReader(`{"topic":"a","bogus":1}`))
	req.Header.Set("Content-Type", "application/json")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusBadRequest, rec.Code, "unknown fields are refused")

	req = httptest.NewRequest(http.MethodGet, "/v1/members", nil)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)

	req = httptest.NewRequest(http.MethodDelete, "/v1/members", nil)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusMethodNotAllowed, rec.Code)
}

func TestSubscribeStream(t *testing.T) {
	f := newFake()
	c, _ := serve(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	msgs := make(chan StreamMessage, 8)
	done := make(chan error, 1)
	go func() {
		done <- c.Subscribe(ctx, "sensors.*", func(m StreamMessage) error {
			msgs <- m
			return nil
		})
	}()
	first := <-msgs
	require.Equal(t, StreamSubscribed, first.Type)
	require.Equal(t, "sensors.*", first.Pattern)
	require.Equal(t, self, *first.Node)

	data := []byte(`{"c":21.5}`)
	ev := &macula.Event{Topic: "sensors.temp", Data: data, ContentType: ContentJSON, Publisher: peerB, Seq: 7, Time: time.Unix(1700000000, 0).UTC()}
	require.True(t, f.deliver("sensors.*", ev))
	data[2] = 'X' // the server copied the payload before the handler returned
	got := <-msgs
	require.Equal(t, StreamEvent, got.Type)
	require.Equal(t, "sensors.temp", got.Event.Topic)
	require.Equal(t, peerB, got.Event.Publisher)
	require.Equal(t, uint64(7), got.Event.Seq)
	require.True(t, ev.Time.Equal(got.Event.Time))
	require.JSONEq(t, `{"c":21.5}`, string(got.Event.JSON))

	require.True(t, f.deliver("sensors.*", &macula.Event{Topic: "sensors.raw", Data: []byte{0xff, 0}, ContentType: ContentBytes, Publisher: peerB}))
	got = <-msgs
	require.Equal(t, []byte{0xff, 0}, got.Event.Data)

	// The client going away ends the subscription on the node.
	cancel()
	require.NoError(t, <-done)
	select {
	case p := <-f.unsubbed:
		require.Equal(t, "sensors.*", p)
	case <-time.After(5 * time.Second):
		t.Fatal("the subscription outlived its client")
	}

	err := c.Subscribe(context.Background(), "bad..pattern", func(StreamMessage) error { return nil })
	var apiErr *Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, CodeInvalidTopic, apiErr.Code)
	f.subCancel()
}

func TestServerCloseEndsStreams(t *testing.T) {
	f := newFake()
	defer f.subCancel()
	s := NewServer(f, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.Start(ln)
	addr, err := ParseAddr(ln.Addr().String())
	require.NoError(t, err)
	c := NewClient(addr)

	subscribed := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- c.Subscribe(context.Background(), "a.#", func(m StreamMessage) error {
			if m.Type == StreamSubscribed {
				close(subscribed)
			}
			return nil
		})
	}()
	<-subscribed
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	require.NoError(t, s.Close(ctx))
	require.Less(t, time.Since(start), 2*time.Second, "Close does not wait for subscribers to leave")
	err = <-done
	require.ErrorContains(t, err, "ended the subscription stream")
	require.Equal(t, "a.#", <-f.unsubbed)
}

func TestClientUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	for _, a := range []string{addr, "unix:" + t.TempDir() + "/none.sock"} {
		parsed, err := ParseAddr(a)
		require.NoError(t, err)
		_, err = NewClient(parsed).Members(context.Background())
		require.ErrorIs(t, err, ErrUnreachable)
		require.Contains(t, err.Error(), "cannot reach the admin API at "+a+": is `macula start` running?")
	}
}

func TestServerOverUnixSocket(t *testing.T) {
	dir, err := shortTempDir(t)
	require.NoError(t, err)
	a, err := ParseAddr(dir + "/admin.sock")
	require.NoError(t, err)
	ln, err := Listen(a)
	require.NoError(t, err)
	s := NewServer(newFake(), nil)
	s.Start(ln)
	_, err = NewClient(a).Members(context.Background())
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, s.Close(ctx))
}

func TestBodyRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		data  []byte
		ct    string
		want  Body
		value any
	}{
		{"json", []byte(`{"a":1}`), ContentJSON, Body{JSON: json.RawMessage(`{"a":1}`)}, json.RawMessage(`{"a":1}`)},
		{"json with params", []byte(`2`), ContentJSON + "; charset=utf-8", Body{JSON: json.RawMessage(`2`)}, json.RawMessage(`2`)},
		{"invalid json is text", []byte(`{x`), ContentJSON, Body{Text: "{x"}, []byte("{x")},
		{"text", []byte("héllo"), ContentBytes, Body{Text: "héllo"}, []byte("héllo")},
		{"binary", []byte{0xff, 0xfe}, ContentBytes, Body{Data: []byte{0xff, 0xfe}}, []byte{0xff, 0xfe}},
		{"empty", nil, ContentBytes, Body{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := BodyOf(tc.data, tc.ct)
			require.Equal(t, tc.want, b)
			require.Equal(t, tc.value, b.Value())
			enc, err := json.Marshal(b)
			require.NoError(t, err)
			var back Body
			require.NoError(t, json.Unmarshal(enc, &back))
			require.Equal(t, tc.want, back)
		})
	}
}

// shortTempDir makes a temporary directory with a path short enough for
// a unix socket (at most 108 bytes), which t.TempDir may exceed.
func shortTempDir(t *testing.T) (string, error) {
	d, err := os.MkdirTemp("", "macula")
	if err != nil {
		return "", err
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d, nil
}

func TestCodeOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code string
	}{
		{fmt.Errorf("call: %w", macula.ErrNoProvider), CodeNoProvider},
		{&macula.CallError{Procedure: "a", Err: macula.ErrTimeout}, CodeTimeout},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), CodeTimeout},
		{&macula.CallError{Procedure: "a", Err: &macula.RemoteError{Message: "boom"}}, CodeRemoteError},
		{&macula.CallError{Procedure: "a", Err: macula.ErrUnavailable}, CodeCallFailed},
		{fmt.Errorf("%w: empty", macula.ErrInvalidProcedure), CodeInvalidProcedure},
		{fmt.Errorf("%w: empty", macula.ErrInvalidTopic), CodeInvalidTopic},
		{fmt.Errorf("macula: join: %w: \"x\": invalid port", macula.ErrInvalidAddress), CodeBadRequest},
		{&macula.PublishError{}, CodeNotAcknowledged},
		{macula.ErrClosed, CodeUnavailable},
		{fmt.Errorf("use gossip key 0a0b: %w: key not installed", macula.ErrInvalidGossipKey), CodeInvalidKey},
		{errors.New("other"), CodeCallFailed},
	} {
		require.Equal(t, tc.code, codeOf(tc.err, CodeCallFailed), "%v", tc.err)
	}
}
