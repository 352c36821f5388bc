package macula_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula"
	"github.com/org/macula/security"
)

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

// audited reports whether log holds an ACL denial of action on name (by
// peer, unless peer is empty).
func audited(t *testing.T, log *syncBuffer, peer, action, name string) bool {
	for _, rec := range auditLines(t, log) {
		if rec["kind"] == "acl_denied" && rec["action"] == action && rec["name"] == name &&
			(peer == "" || rec["peer"] == peer) {
			return true
		}
	}
	return false
}

// TestACLAdversarial: each row states what an attacker tries against a
// node with an ACL, and checks that it is refused, audited, and that the
// node still serves a well-behaved peer. The "modified" peer has no ACL of
// its own, so it stands for a peer that skips the local checks.
func TestACLAdversarial(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	newNode := func(opts ...macula.Option) *macula.Node {
		n, err := macula.New(append([]macula.Option{macula.WithListenAddr("127.0.0.1:0")}, opts...)...)
		require.NoError(t, err)
		t.Cleanup(func() { _ = n.Close() })
		return n
	}
	modified := newNode()
	good := newNode()
	acl, err := security.NewACL(security.EffectAllow,
		security.DenyRule("node:"+modified.ID().String(), security.ActionPublish, "secret.#"),
		security.DenyRule("node:"+modified.ID().String(), security.ActionCall, "admin.#"),
		security.DenyRule("*", security.ActionAny, "forbidden.#"),
	)
	require.NoError(t, err)
	var audit syncBuffer
	guarded := newNode(macula.WithACL(acl), macula.WithAuditLog(&audit))
	require.NoError(t, modified.Join(ctx, guarded.URI()))
	require.NoError(t, good.Join(ctx, guarded.URI()))

	var mu sync.Mutex
	var received []string
	_, err = guarded.Subscribe(ctx, "secret.#", func(_ context.Context, ev *macula.Event) {
		mu.Lock()
		defer mu.Unlock()
		received = append(received, string(ev.Data)+"@"+ev.Publisher.Short())
	})
	require.NoError(t, err)
	_, err = guarded.Register(ctx, "admin.reset", func(context.Context, *macula.Invocation) (any, error) { return "done", nil })
	require.NoError(t, err)
	gotEvent := func(want string) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range received {
			if r == want {
				return true
			}
		}
		return false
	}
	handler := func(context.Context, *macula.Event) {}
	proc := func(context.Context, *macula.Invocation) (any, error) { return nil, nil }

	rows := []struct {
		attack string
		try    func() error
		action string
		name   string
		peer   string // who the audit names; empty for the node itself
	}{
		{"subscribe against a deny rule (local)", func() error {
			_, err := guarded.Subscribe(ctx, "forbidden.#", handler)
			return err
		}, "subscribe", "forbidden.#", ""},
		{"publish against a deny rule (local)", func() error {
			return guarded.Publish(ctx, "forbidden.x", "x")
		}, "publish", "forbidden.x", ""},
		{"register against a deny rule (local)", func() error {
			_, err := guarded.Register(ctx, "forbidden.proc", proc)
			return err
		}, "register", "forbidden.proc", ""},
		{"call against a deny rule (local)", func() error {
			_, err := guarded.Call(ctx, "forbidden.proc", nil)
			return err
		}, "call", "forbidden.proc", ""},
		{"call against a deny rule from a modified peer", func() error {
			_, err := modified.CallTo(ctx, guarded.ID(), "admin.reset", nil)
			return err
		}, "call", "admin.reset", modified.ID().String()},
	}
	for _, row := range rows {
		t.Run(row.attack, func(t *testing.T) {
			err := row.try()
			require.ErrorIs(t, err, macula.ErrACLDenied)
			require.Eventually(t, func() bool { return audited(t, &audit, row.peer, row.action, row.name) },
				5*time.Second, 10*time.Millisecond, "audited: %s", audit.String())
		})
	}

	t.Run("publish against a deny rule from a modified peer", func(t *testing.T) {
		// The modified peer skips the check and sends; the subscriber's
		// node refuses the event (and acknowledges it, so it is not resent).
		require.NoError(t, modified.Publish(ctx, "secret.plans", []byte("stolen"), macula.WithQoS(macula.AtLeastOnce)))
		require.Eventually(t, func() bool {
			return audited(t, &audit, modified.ID().String(), "publish", "secret.plans")
		}, 5*time.Second, 10*time.Millisecond)
		require.False(t, gotEvent("stolen@"+modified.ID().Short()), "the refused event never reaches the handler")
		require.Positive(t, guarded.PubSubStats().Refused)
	})

	t.Run("the node still serves a well-behaved peer", func(t *testing.T) {
		require.NoError(t, good.Publish(ctx, "secret.plans", []byte("memo"), macula.WithQoS(macula.AtLeastOnce)))
		require.True(t, gotEvent("memo@"+good.ID().Short()))
		reply, err := good.CallTo(ctx, guarded.ID(), "admin.reset", nil)
		require.NoError(t, err)
		var out string
		require.NoError(t, reply.Decode(&out))
		require.Equal(t, "done", out)
		_, err = guarded.Ping(ctx, modified.ID())
		require.NoError(t, err, "the modified peer is refused actions, not disconnected")
	})
	_, err = macula.New(macula.WithACL(nil))
	require.ErrorIs(t, err, macula.ErrInvalidOption)
}
