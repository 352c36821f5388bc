package security

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/org/macula/topic"
	"github.com/stretchr/testify/require"
)

const aclYAML = `
# Sensors publish readings; operators may do anything; nobody reads secrets.
default: deny
rules:
  - effect: deny
    subject: "*"
    action: subscribe
    pattern: sensors.secret
  - effect: allow
    subject: role:sensor
    action: publish
    pattern: sensors.#
  - effect: allow
    subject: role:operator
    action: "*"
    pattern: "#"
  - effect: allow
    subject: node:NODE_A
    action: call
    pattern: svc.*
`

const aclJSON = `{
  "default": "deny",
  "rules": [
    {"effect": "deny", "subject": "*", "action": "subscribe", "pattern": "sensors.secret"},
    {"effect": "allow", "subject": "role:sensor", "action": "publish", "pattern": "sensors.#"},
    {"effect": "allow", "subject": "role:operator", "action": "*", "pattern": "#"},
    {"effect": "allow", "subject": "node:NODE_A", "action": "call", "pattern": "svc.*"}
  ]
}`

func TestParseACLYAMLAndJSON(t *testing.T) {
	yamlDoc := []byte(withNodeA(aclYAML))
	jsonDoc := []byte(withNodeA(aclJSON))
	want := []Rule{
		DenyRule("*", ActionSubscribe, "sensors.secret"),
		AllowRule("role:sensor", ActionPublish, "sensors.#"),
		AllowRule("role:operator", ActionAny, "#"),
		AllowRule("node:"+aclNodeA.String(), ActionCall, "svc.*"),
	}
	for name, doc := range map[string][]byte{"yaml": yamlDoc, "json": jsonDoc} {
		t.Run(name, func(t *testing.T) {
			acl, err := ParseACL(doc)
			require.NoError(t, err)
			require.Equal(t, EffectDeny, acl.Default())
			require.Equal(t, want, acl.Rules())

			sensor := Subject{ID: aclNodeB, Roles: []string{"sensor"}}
			operator := Subject{ID: aclNodeB, Roles: []string{"operator"}}
			require.True(t, acl.Allowed(sensor, ActionPublish, "sensors.kitchen"))
			require.False(t, acl.Allowed(sensor, ActionSubscribe, "sensors.kitchen"))
			require.True(t, acl.Allowed(operator, ActionSubscribe, "sensors.kitchen"))
			require.False(t, acl.Allowed(operator, ActionSubscribe, "#")) // would receive sensors.secret
			require.True(t, acl.Allowed(Subject{ID: aclNodeA}, ActionCall, "svc.get"))
			require.False(t, acl.Allowed(Subject{ID: aclNodeB}, ActionCall, "svc.get"))
		})
	}
}

// withNodeA replaces the placeholder NODE_A in a test document with
// aclNodeA.
func withNodeA(doc string) string {
	return strings.ReplaceAll(doc, "NODE_A", aclNodeA.String())
}

func TestParseACLErrors(t *testing.T) {
	cases := []struct {
		name     string
		doc      string
		sentinel error
		contains string
	}{
		{"empty", "", nil, "empty document"},
		{"only comments", "# nothing\n", nil, "empty document"},
		{"missing default yaml", "rules: []\n", nil, "missing default"},
		{"missing default json", `{"rules": []}`, nil, "missing default"},
		{"bad default", "default: maybe\n", nil, `default "maybe"`},
		{"unknown field yaml", "default: deny\nrulez: []\n", nil, "rulez"},
		{"unknown field json", `{"default": "deny", "rulez": []}`, nil, "rulez"},
		{"unknown rule field", "default: deny\nrules:\n  - effect: allow\n    subject: '*'\n    action: call\n    pattern: a\n    topic: b\n", nil, "topic"},
		{"two yaml documents", "default: deny\n---\ndefault: allow\n", nil, "more than one document"},
		{"json trailing data", `{"default": "deny"} {"default": "allow"}`, nil, "data after"},
		{"json syntax", `{"default": "deny",}`, nil, "json"},
		{"yaml syntax", "default: [deny\n", nil, "yaml"},
		{"yaml unquoted star", "default: deny\nrules:\n  - effect: allow\n    subject: *\n    action: call\n    pattern: a\n", nil, "yaml"},
		{"yaml unquoted hash", "default: deny\nrules:\n  - effect: allow\n    subject: '*'\n    action: call\n    pattern: #\n", nil, "rules[0]: missing pattern"},
		{"missing effect", "default: deny\nrules:\n  - subject: '*'\n    action: call\n    pattern: a\n", nil, "rules[0]: missing effect"},
		{"missing subject", `{"default": "deny", "rules": [{"effect": "allow", "action": "call", "pattern": "a"}]}`, nil, "rules[0]: missing subject"},
		{"missing action", `{"default": "deny", "rules": [{"effect": "allow", "subject": "*", "pattern": "a"}]}`, nil, "rules[0]: missing action"},
		{"bad effect", `{"default": "deny", "rules": [{"effect": "permit", "subject": "*", "action": "call", "pattern": "a"}]}`, nil, `rules[0]`},
		{"unknown action", "default: allow\nrules:\n  - {effect: allow, subject: '*', action: call, pattern: a}\n  - {effect: deny, subject: '*', action: read, pattern: a}\n", nil, `rules[1] (deny * read a): action "read"`},
		{"bad pattern", "default: allow\nrules:\n  - {effect: deny, subject: '*', action: publish, pattern: 'a.#.b'}\n", topic.ErrInvalidTopic, "rules[0]"},
		{"bad node id", "default: allow\nrules:\n  - {effect: deny, subject: 'node:123', action: publish, pattern: a}\n", ErrInvalidNodeID, "rules[0]"},
		{"bad realm", "default: allow\nrules:\n  - {effect: deny, subject: 'realm:-x', action: publish, pattern: a}\n", ErrInvalidRealm, "rules[0]"},
		{"wrong type", "default: deny\nrules: {effect: allow}\n", nil, "yaml"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			acl, err := ParseACL([]byte(c.doc))
			require.Nil(t, acl)
			require.ErrorIs(t, err, ErrInvalidACL)
			if c.sentinel != nil {
				require.ErrorIs(t, err, c.sentinel)
			}
			require.Contains(t, err.Error(), c.contains)
		})
	}
}

func TestParseACLEmptyRules(t *testing.T) {
	for _, doc := range []string{"default: allow\n", `{"default": "allow", "rules": []}`, "  \n\t{\"default\": \"deny\"}"} {
		acl, err := ParseACL([]byte(doc))
		require.NoError(t, err, doc)
		require.Empty(t, acl.Rules())
	}
}

func TestLoadACL(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "acl.yaml")
	require.NoError(t, os.WriteFile(path, []byte("default: deny\nrules:\n  - {effect: allow, subject: '*', action: publish, pattern: 'a.#'}\n"), 0o600))
	acl, err := LoadACL(path)
	require.NoError(t, err)
	require.True(t, acl.Allowed(Subject{}, ActionPublish, "a.b"))
	require.False(t, acl.Allowed(Subject{}, ActionPublish, "b"))

	_, err = LoadACL(filepath.Join(dir, "missing.yaml"))
	require.ErrorIs(t, err, fs.ErrNotExist)

	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"default": "deny", "rules": [{"effect": "allow"}]}`), 0o600))
	_, err = LoadACL(bad)
	require.ErrorIs(t, err, ErrInvalidACL)
	require.Contains(t, err.Error(), bad)
}

func FuzzParseACL(f *testing.F) {
	f.Add([]byte(withNodeA(aclYAML)))
	f.Add([]byte(withNodeA(aclJSON)))
	f.Add([]byte("default: allow\n"))
	f.Add([]byte(`{"default":"deny","rules":[{"effect":"deny","subject":"role:x","action":"*","pattern":"#"}]}`))
	f.Add([]byte("default: deny\nrules:\n  - {effect: allow, subject: 'realm:a.b', action: subscribe, pattern: 'a.*.#'}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		acl, err := ParseACL(data)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidACL)
			require.Nil(t, acl)
			return
		}
		// A parsed ACL rebuilds identically from its own rules, and
		// deciding never fails on valid input.
		again, err := NewACL(acl.Default(), acl.Rules()...)
		require.NoError(t, err)
		require.Equal(t, acl.Rules(), again.Rules())
		for _, action := range []Action{ActionPublish, ActionSubscribe, ActionRegister, ActionCall} {
			require.Equal(t, acl.Allowed(Subject{ID: aclNodeA}, action, "a.b"), again.Allowed(Subject{ID: aclNodeA}, action, "a.b"))
		}
		_ = acl.Allowed(Subject{}, ActionSubscribe, "#")
	})
}
