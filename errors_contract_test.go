package macula_test

import (
	"context"
	"crypto/tls"
	"go/ast"
	"go/parser"
	"go/token"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula"
	"github.com/org/macula/pubsub"
	"github.com/org/macula/rpc"
	"github.com/org/macula/security"
)

// contractCase is one error path of the public API that bad input takes.
type contractCase struct {
	// api is the exported function or method (Node.Publish) or the option
	// (WithBuffer) the case exercises.
	api string
	// input says what is wrong with the input.
	input string
	// call runs it.
	call func() error
	// want are the root sentinels the error must match.
	want []error
}

// TestErrorContract checks the contract of errors.go: every error the
// public API returns for bad input (bad addresses, nil handlers, invalid
// topics, patterns and procedure names, bad option values of every option
// kind, oversized or unencodable payloads, a closed node) matches a root
// sentinel under errors.Is, keeps the "macula: " prefix, and, for an
// option, names the option. It fails when an exported function or Node
// method returning an error, or an option constructor, has no case here
// and no reason to have none.
func TestErrorContract(t *testing.T) {
	ctx := context.Background()
	live := newContractNode(t)
	closed := newContractNode(t)
	require.NoError(t, closed.Close())

	id, err := security.GenerateIdentity()
	require.NoError(t, err)
	other := id.ID()
	key := make([]byte, 16)
	key[0] = 1
	handler := func(context.Context, *macula.Invocation) (any, error) { return nil, nil }
	onEvent := func(context.Context, *macula.Event) {}
	big := make([]byte, macula.DefaultMaxFrameSize)
	unencodable := make(chan int)
	localhost := "127.0.0.1:0"

	var cases []contractCase
	add := func(api, input string, call func() error, want ...error) {
		cases = append(cases, contractCase{api: api, input: input, call: call, want: want})
	}
	newErr := func(opts ...macula.Option) func() error {
		return func() error {
			n, err := macula.New(opts...)
			if err == nil {
				_ = n.Close()
			}
			return err
		}
	}
	// Options of New.
	opt := func(name, input string, o macula.Option, want ...error) {
		add(name, input, newErr(macula.WithListenAddr(localhost), o), append(want, macula.ErrInvalidOption)...)
	}
	opt("WithRealm", "not reverse-DNS", macula.WithRealm("Not A Realm"), macula.ErrInvalidRealm)
	opt("WithListenAddr", "no port", macula.WithListenAddr("nowhere"), macula.ErrInvalidAddress)
	opt("WithBootstrap", "port 0", macula.WithBootstrap("localhost:0"), macula.ErrInvalidAddress)
	opt("WithBootstrap", "no port", macula.WithBootstrap("127.0.0.1"), macula.ErrInvalidAddress)
	opt("WithBootstrap", "no host", macula.WithBootstrap(":4433"), macula.ErrInvalidAddress)
	opt("WithBootstrap", "bad URI", macula.WithBootstrap("macula://nothing"), macula.ErrInvalidAddress, macula.ErrInvalidURI)
	opt("WithBootstrap", "URI without address", macula.WithBootstrap("macula://"+macula.DefaultRealm+"/"+other.String()), macula.ErrInvalidAddress, macula.ErrInvalidURI)
	opt("WithIdentity", "nil", macula.WithIdentity(nil))
	opt("WithIdentityFile", "empty path", macula.WithIdentityFile(""))
	opt("WithRealmCA", "nil", macula.WithRealmCA(nil))
	opt("WithCertificate", "empty", macula.WithCertificate(tls.Certificate{}))
	opt("WithLogger", "nil", macula.WithLogger(nil))
	opt("WithAuditLog", "nil", macula.WithAuditLog(nil))
	opt("WithACL", "nil", macula.WithACL(nil))
	opt("WithTransport", "nil", macula.WithTransport(nil))
	opt("WithIdleTimeout", "zero", macula.WithIdleTimeout(0))
	opt("WithKeepAlive", "negative", macula.WithKeepAlive(-time.Second))
	opt("WithHandshakeTimeout", "zero", macula.WithHandshakeTimeout(0))
	opt("WithMaxFrameSize", "2048 bytes", macula.WithMaxFrameSize(2048))
	opt("WithAdvertiseAddrs", "no port", macula.WithAdvertiseAddrs("nohost"), macula.ErrInvalidAddress)
	opt("WithMembershipConfig", "negative probe interval", macula.WithMembershipConfig(macula.MembershipConfig{ProbeInterval: -time.Second}), macula.ErrInvalidConfig)
	opt("WithGossipKey", "5 bytes", macula.WithGossipKey([]byte("short")))
	opt("WithTopology", "degree 0", macula.WithTopology(0))
	opt("WithDiscovery", "nil source", macula.WithDiscovery(nil))
	opt("WithMDNS", "no such interface", macula.WithMDNS("macula-no-such-if0"))
	opt("WithLimits", "negative query rate", macula.WithLimits(macula.Limits{QueryRate: -2}))
	opt("WithLimits", "NaN frame rate", macula.WithLimits(macula.Limits{FrameRate: math.NaN()}))
	opt("WithLimits", "negative stream burst", macula.WithLimits(macula.Limits{StreamBurst: -5}))
	opt("WithLimits", "negative ban", macula.WithLimits(macula.Limits{BanDuration: -time.Second}))
	opt("WithLimits", "cap below the ban", macula.WithLimits(macula.Limits{BanDuration: time.Hour, MaxBanDuration: time.Minute}))
	add("WithIdentity", "with WithIdentityFile", newErr(macula.WithListenAddr(localhost),
		macula.WithIdentity(id), macula.WithIdentityFile(filepath.Join(t.TempDir(), "id.pem"))), macula.ErrInvalidOption)
	add("WithKeepAlive", "not shorter than the idle timeout", newErr(macula.WithListenAddr(localhost),
		macula.WithIdleTimeout(time.Second), macula.WithKeepAlive(time.Second)), macula.ErrInvalidOption)

	// Options of one Publish, Subscribe, Call or Register.
	pubOpt := func(name, input string, o macula.PublishOption) {
		add(name, input, func() error { return live.Publish(ctx, "a.b", "x", o) }, macula.ErrInvalidOption)
	}
	subOpt := func(name, input string, o macula.SubscribeOption, want ...error) {
		add(name, input, func() error { _, err := live.Subscribe(ctx, "a.b", onEvent, o); return err }, append(want, macula.ErrInvalidOption)...)
	}
	callOpt := func(name, input string, o macula.CallOption) {
		add(name, input, func() error { _, err := live.Call(ctx, "a.b", nil, o); return err }, macula.ErrInvalidOption, macula.ErrInvalidCallOption)
	}
	regOpt := func(name, input string, o macula.RegisterOption) {
		add(name, input, func() error { _, err := live.Register(ctx, "a.b", handler, o); return err }, macula.ErrInvalidOption, macula.ErrInvalidCallOption)
	}
	pubOpt("WithQoS", "unknown QoS", macula.WithQoS(macula.QoS(9)))
	subOpt("WithBuffer", "zero", macula.WithBuffer(0))
	subOpt("WithBuffer", "negative", macula.WithBuffer(-1))
	subOpt("WithQueueGroup", "not a name", macula.WithQueueGroup("bad group"), macula.ErrInvalidTopic)
	subOpt("WithQueueGroup", "empty", macula.WithQueueGroup(""), macula.ErrInvalidTopic)
	callOpt("WithPolicy", "unknown policy", macula.WithPolicy(macula.Policy(9)))
	callOpt("WithMaxAttempts", "zero", macula.WithMaxAttempts(0))
	regOpt("WithMaxConcurrent", "zero", macula.WithMaxConcurrent(0))
	regOpt("MaxConcurrent", "zero", macula.MaxConcurrent(0)) // the deprecated name too

	// New and the package functions.
	add("ParseNodeID", "not hex", func() error { _, err := macula.ParseNodeID("xyz"); return err }, macula.ErrInvalidNodeID)
	add("New", "several bad options: the first fails", newErr(macula.WithTopology(0), macula.WithIdleTimeout(0)), macula.ErrInvalidOption)

	// Join.
	add("Node.Join", "no address", func() error { return live.Join(ctx) }, macula.ErrInvalidAddress)
	add("Node.Join", "port 0", func() error { return live.Join(ctx, "localhost:0") }, macula.ErrInvalidAddress)
	add("Node.Join", "no port", func() error { return live.Join(ctx, "127.0.0.1") }, macula.ErrInvalidAddress)
	add("Node.Join", "bad URI", func() error { return live.Join(ctx, "macula://x") }, macula.ErrInvalidAddress, macula.ErrInvalidURI)
	add("Node.Join", "one bad among good", func() error { return live.Join(ctx, live.Addr().String(), "nowhere") }, macula.ErrInvalidAddress)
	add("Node.Join", "URI of another realm", func() error {
		return live.Join(ctx, security.URI{Realm: "org.other.mesh", NodeID: other, Addr: "127.0.0.1:1"}.String())
	}, macula.ErrRealmMismatch)
	add("Node.Join", "closed node", func() error { return closed.Join(ctx, "127.0.0.1:1") }, macula.ErrClosed)

	// Ping.
	add("Node.Ping", "unknown peer", func() error { _, err := live.Ping(ctx, other); return err }, macula.ErrNotConnected)
	add("Node.Ping", "closed node", func() error { _, err := closed.Ping(ctx, other); return err }, macula.ErrClosed)

	// Publish.
	add("Node.Publish", "wildcard topic", func() error { return live.Publish(ctx, "a.*", "x") }, macula.ErrInvalidTopic)
	add("Node.Publish", "empty segment", func() error { return live.Publish(ctx, "a..b", "x") }, macula.ErrInvalidTopic)
	add("Node.Publish", "reserved topic", func() error { return live.Publish(ctx, macula.TopicPeerConnected, "x") }, macula.ErrInvalidTopic)
	add("Node.Publish", "oversized payload", func() error { return live.Publish(ctx, "a.b", big) }, macula.ErrMessageTooLarge)
	add("Node.Publish", "unencodable payload", func() error { return live.Publish(ctx, "a.b", unencodable) }, macula.ErrEncode)
	add("Node.Publish", "closed node", func() error { return closed.Publish(ctx, "a.b", "x") }, macula.ErrClosed)

	// Subscribe.
	add("Node.Subscribe", "nil handler", func() error { _, err := live.Subscribe(ctx, "a.b", nil); return err }, macula.ErrInvalidHandler, pubsub.ErrInvalidHandler)
	add("Node.Subscribe", "bad pattern", func() error { _, err := live.Subscribe(ctx, "a.#.b", onEvent); return err }, macula.ErrInvalidTopic)
	add("Node.Subscribe", "closed node", func() error { _, err := closed.Subscribe(ctx, "a.b", onEvent); return err }, macula.ErrClosed)

	// Register.
	add("Node.Register", "nil handler", func() error { _, err := live.Register(ctx, "a.b", nil); return err }, macula.ErrInvalidHandler, rpc.ErrInvalidHandler)
	add("Node.Register", "empty segment", func() error { _, err := live.Register(ctx, "a..b", handler); return err }, macula.ErrInvalidProcedure, macula.ErrInvalidTopic)
	add("Node.Register", "wildcard", func() error { _, err := live.Register(ctx, "a.*", handler); return err }, macula.ErrInvalidProcedure)
	add("Node.Register", "reserved", func() error { _, err := live.Register(ctx, "_x", handler); return err }, macula.ErrReservedProcedure)
	add("Node.Register", "closed node", func() error { _, err := closed.Register(ctx, "a.b", handler); return err }, macula.ErrClosed)

	// Call, Cast and CallTo.
	calls := map[string]func(n *macula.Node, procedure string, args any) error{
		"Node.Call": func(n *macula.Node, p string, a any) error { _, err := n.Call(ctx, p, a); return err },
		"Node.Cast": func(n *macula.Node, p string, a any) error { return n.Cast(ctx, p, a) },
		"Node.CallTo": func(n *macula.Node, p string, a any) error {
			_, err := n.CallTo(ctx, other, p, a)
			return err
		},
	}
	for api, call := range calls {
		add(api, "empty segment", func() error { return call(live, "a..b", nil) }, macula.ErrInvalidProcedure, macula.ErrInvalidTopic)
		add(api, "wildcard", func() error { return call(live, "a.#", nil) }, macula.ErrInvalidProcedure)
		add(api, "oversized arguments", func() error { return call(live, "a.b", big) }, macula.ErrMessageTooLarge)
		add(api, "unencodable arguments", func() error { return call(live, "a.b", unencodable) }, macula.ErrEncode)
		add(api, "closed node", func() error { return call(closed, "a.b", nil) }, macula.ErrClosed)
	}

	// Gossip keys and certificates.
	add("Node.InstallGossipKey", "5 bytes", func() error { return live.InstallGossipKey([]byte("short")) }, macula.ErrInvalidGossipKey)
	add("Node.InstallGossipKey", "closed node", func() error { return closed.InstallGossipKey(key) }, macula.ErrClosed)
	add("Node.UseGossipKey", "not installed", func() error { return live.UseGossipKey(key) }, macula.ErrInvalidGossipKey)
	add("Node.UseGossipKey", "closed node", func() error { return closed.UseGossipKey(key) }, macula.ErrClosed)
	add("Node.RemoveGossipKey", "not installed", func() error { return live.RemoveGossipKey(key) }, macula.ErrInvalidGossipKey)
	add("Node.RemoveGossipKey", "primary", func() error { return live.RemoveGossipKey(live.GossipKeyring().Primary) }, macula.ErrInvalidGossipKey)
	add("Node.RemoveGossipKey", "closed node", func() error { return closed.RemoveGossipKey(key) }, macula.ErrClosed)
	add("Node.RotateCertificate", "empty", func() error { return live.RotateCertificate(tls.Certificate{}) }, macula.ErrInvalidOption)
	add("Node.RotateCertificate", "closed node", func() error { return closed.RotateCertificate(tls.Certificate{}) }, macula.ErrClosed)

	// Decoding payloads.
	add("Event.Decode", "JSON string into an int", func() error {
		var v int
		return (&macula.Event{Data: []byte(`"s"`), ContentType: "application/json"}).Decode(&v)
	}, macula.ErrDecode)

	covered := make(map[string]bool)
	for _, tc := range cases {
		covered[tc.api] = true
		t.Run(tc.api+"/"+tc.input, func(t *testing.T) {
			err := tc.call()
			require.Error(t, err)
			for _, want := range tc.want {
				require.ErrorIs(t, err, want)
			}
			require.True(t, strings.HasPrefix(err.Error(), "macula: "), "%q lacks the macula: prefix", err)
			if strings.HasPrefix(tc.api, "With") || strings.HasSuffix(tc.api, "MaxConcurrent") {
				require.Contains(t, err.Error(), tc.api, "an option error names the option")
			}
		})
	}

	t.Run("every API with an error path has a case", func(t *testing.T) {
		for _, api := range errorAPIs(t) {
			if _, ok := noUserInput[api]; ok {
				continue
			}
			require.True(t, covered[api], "%s returns errors or is an option, but TestErrorContract has no case for it (add one, or say in noUserInput why it needs none)", api)
		}
	})
}

// noUserInput lists the APIs that return errors, or are options, with no
// input that can be invalid, and why.
var noUserInput = map[string]string{
	"Node.Close":         "takes no input; later calls return nil",
	"Errorf":             "returns the error its caller asks for",
	"WithMessageSigning": "every bool is valid",
	"WithIdempotent":     "takes no value",
	"Idempotent":         "takes no value (deprecated name of WithIdempotent)",
}

// errorAPIs lists, from the package's source, the exported functions and
// Node methods that return an error, and the exported functions that
// return an option of any kind.
func errorAPIs(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob("*.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	var files []*ast.File
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		files = append(files, f)
	}
	optionTypes := map[string]bool{"Option": true, "PublishOption": true, "SubscribeOption": true, "CallOption": true, "RegisterOption": true}
	var apis []string
	for _, f := range files {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || !fn.Name.IsExported() || fn.Type.Results == nil {
				continue
			}
			name := fn.Name.Name
			if fn.Recv != nil {
				star, ok := fn.Recv.List[0].Type.(*ast.StarExpr)
				if !ok || star.X.(*ast.Ident).Name != "Node" {
					continue
				}
				name = "Node." + name
			}
			for _, r := range fn.Type.Results.List {
				if id, ok := r.Type.(*ast.Ident); ok && (id.Name == "error" || (fn.Recv == nil && optionTypes[id.Name])) {
					apis = append(apis, name)
					break
				}
			}
		}
	}
	require.Contains(t, apis, "Node.Publish", "the source was parsed")
	require.Contains(t, apis, "WithBuffer", "options of every kind are listed")
	return apis
}

// newContractNode starts a node on localhost that joins nobody.
func newContractNode(t *testing.T) *macula.Node {
	t.Helper()
	n, err := macula.New(macula.WithListenAddr("127.0.0.1:0"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close() })
	return n
}
