package security

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/org/macula/topic"
	"github.com/stretchr/testify/require"
)

// Fixed node IDs for ACL tests.
var (
	aclNodeA = NodeID{0xa1, 0xa1, 0xa1, 0xa1, 1}
	aclNodeB = NodeID{0xb2, 0xb2, 0xb2, 0xb2, 2}
)

func mustACL(t testing.TB, def Effect, rules ...Rule) *ACL {
	t.Helper()
	acl, err := NewACL(def, rules...)
	require.NoError(t, err)
	return acl
}

func TestNewACLValidation(t *testing.T) {
	good := AllowRule("*", ActionPublish, "a.#")
	cases := []struct {
		name     string
		def      Effect
		rule     Rule
		sentinel error  // also wrapped, besides ErrInvalidACL
		contains string // in the message
	}{
		{"bad default", "permit", good, nil, `default "permit"`},
		{"empty default", "", good, nil, `default ""`},
		{"bad effect", EffectDeny, Rule{Effect: "block", Subject: "*", Action: ActionCall, Pattern: "a"}, nil, `effect "block"`},
		{"empty effect", EffectDeny, Rule{Subject: "*", Action: ActionCall, Pattern: "a"}, nil, `effect ""`},
		{"unknown action", EffectDeny, AllowRule("*", "delete", "a"), nil, `action "delete"`},
		{"action case", EffectDeny, AllowRule("*", "Publish", "a"), nil, `action "Publish"`},
		{"empty action", EffectDeny, AllowRule("*", "", "a"), nil, `action ""`},
		{"bad pattern", EffectDeny, AllowRule("*", ActionPublish, "a.#.b"), topic.ErrInvalidTopic, "pattern"},
		{"partial wildcard", EffectDeny, AllowRule("*", ActionPublish, "a*"), topic.ErrInvalidTopic, "pattern"},
		{"empty pattern", EffectDeny, AllowRule("*", ActionPublish, ""), topic.ErrInvalidTopic, "pattern"},
		{"short node id", EffectDeny, AllowRule("node:abcd", ActionCall, "a"), ErrInvalidNodeID, "subject"},
		{"non-hex node id", EffectDeny, AllowRule("node:"+strings.Repeat("zz", 32), ActionCall, "a"), ErrInvalidNodeID, "subject"},
		{"zero node id", EffectDeny, AllowRule(strings.Repeat("0", 64), ActionCall, "a"), ErrInvalidNodeID, "zero node ID"},
		{"bad realm", EffectDeny, AllowRule("realm:Org.Example", ActionCall, "a"), ErrInvalidRealm, "realm:Org.Example"},
		{"empty role", EffectDeny, AllowRule("role:", ActionCall, "a"), nil, `"role:"`},
		{"spaced role", EffectDeny, AllowRule("role: admin", ActionCall, "a"), nil, `"role: admin"`},
		{"unknown selector", EffectDeny, AllowRule("user:bob", ActionCall, "a"), nil, `"user:bob"`},
		{"empty subject", EffectDeny, AllowRule("", ActionCall, "a"), nil, `subject ""`},
		{"wildcard subject", EffectDeny, AllowRule("node:*", ActionCall, "a"), ErrInvalidNodeID, "subject"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The bad rule is the third: the error must say so.
			acl, err := NewACL(c.def, good, good, c.rule)
			require.Nil(t, acl)
			require.ErrorIs(t, err, ErrInvalidACL)
			if c.sentinel != nil {
				require.ErrorIs(t, err, c.sentinel)
			}
			require.Contains(t, err.Error(), c.contains)
			if c.def.valid() {
				require.Contains(t, err.Error(), "rules[2]")
			}
		})
	}
}

func TestNewACLAcceptsSelectors(t *testing.T) {
	hexID := aclNodeA.String()
	for _, subject := range []string{
		"*", "node:" + hexID, hexID, strings.ToUpper(hexID), "node:" + strings.ToUpper(hexID),
		"realm:org.example.mesh", "realm:a", "role:sensor", "role:Field Engineer",
	} {
		_, err := NewACL(EffectDeny, AllowRule(subject, ActionAny, "#"))
		require.NoError(t, err, subject)
	}
}

func TestACLSubjectSelectors(t *testing.T) {
	a := Subject{ID: aclNodeA, Realm: "org.example.mesh", Roles: []string{"operator", "sensor"}}
	b := Subject{ID: aclNodeB, Realm: "org.other", Roles: []string{"guest"}}
	unknown := Subject{}
	cases := []struct {
		selector string
		matches  []Subject
		misses   []Subject
	}{
		{"*", []Subject{a, b, unknown}, nil},
		{"node:" + aclNodeA.String(), []Subject{a}, []Subject{b, unknown}},
		{aclNodeA.String(), []Subject{a}, []Subject{b, unknown}},
		{strings.ToUpper(aclNodeB.String()), []Subject{b}, []Subject{a, unknown}},
		{"realm:org.example.mesh", []Subject{a}, []Subject{b, unknown}},
		{"role:sensor", []Subject{a}, []Subject{b, unknown}},
		{"role:guest", []Subject{b}, []Subject{a, unknown}},
		{"role:Sensor", nil, []Subject{a, b, unknown}}, // roles are case-sensitive
	}
	for _, c := range cases {
		acl := mustACL(t, EffectDeny, AllowRule(c.selector, ActionPublish, "t"))
		for _, s := range c.matches {
			require.True(t, acl.Allowed(s, ActionPublish, "t"), "%s should match %s", c.selector, s)
		}
		for _, s := range c.misses {
			require.False(t, acl.Allowed(s, ActionPublish, "t"), "%s should not match %s", c.selector, s)
		}
	}
}

func TestACLRolesUnknown(t *testing.T) {
	// A storing node judging a record handed over by a third node knows
	// the owner but not its certificate.
	owner := Subject{ID: aclNodeA, Realm: "org.example.mesh", RolesUnknown: true, Roles: []string{"admin"}}
	cases := []struct {
		name  string
		def   Effect
		rules []Rule
		want  bool
	}{
		{"role allow does not apply", EffectDeny, []Rule{AllowRule("role:sensor", ActionAny, "#")}, false},
		{"Roles is ignored", EffectDeny, []Rule{AllowRule("role:admin", ActionAny, "#")}, false},
		{"role deny applies", EffectAllow, []Rule{DenyRule("role:guest", ActionAny, "#")}, false},
		{"role deny for another action does not", EffectAllow, []Rule{DenyRule("role:guest", ActionCall, "#")}, true},
		{"role deny for another name does not", EffectAllow, []Rule{DenyRule("role:guest", ActionAny, "b.#")}, true},
		{"node allow applies", EffectDeny, []Rule{
			AllowRule("node:"+aclNodeA.String(), ActionSubscribe, "a.#"),
			DenyRule("role:guest", ActionAny, "#"),
		}, true},
		{"realm allow after a role deny", EffectDeny, []Rule{
			DenyRule("role:guest", ActionAny, "a.secret"),
			AllowRule("realm:org.example.mesh", ActionSubscribe, "a.#"),
		}, false},
		{"role allow cannot shadow a deny", EffectAllow, []Rule{
			AllowRule("role:admin", ActionSubscribe, "a.secret"),
			DenyRule("*", ActionSubscribe, "a.secret"),
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			acl := mustACL(t, c.def, c.rules...)
			require.Equal(t, c.want, acl.Allowed(owner, ActionSubscribe, "a.*"))
		})
	}
	err := mustACL(t, EffectDeny).Check(owner, ActionCall, "x")
	require.Contains(t, err.Error(), "roles unknown")
}

func TestACLFirstMatchWins(t *testing.T) {
	subj := Subject{ID: aclNodeA, Roles: []string{"sensor"}}
	acl := mustACL(t, EffectAllow,
		DenyRule("*", ActionPublish, "sensors.secret"),
		AllowRule("role:sensor", ActionPublish, "sensors.#"),
		DenyRule("*", ActionAny, "sensors.#"),
		AllowRule("*", ActionCall, "sensors.read"), // shadowed by rules[2]
	)
	cases := []struct {
		action Action
		name   string
		want   bool
		rule   int
	}{
		{ActionPublish, "sensors.secret", false, 0},
		{ActionPublish, "sensors.kitchen", true, 1},
		{ActionSubscribe, "sensors.kitchen", false, 2},
		{ActionCall, "sensors.read", false, 2},
		{ActionCall, "other.read", true, -1},
		{ActionRegister, "sensors", true, -1}, // "sensors.#" needs another segment
	}
	for _, c := range cases {
		allowed, rule, err := acl.decide(subj, c.action, c.name)
		require.NoError(t, err)
		require.Equal(t, c.want, allowed, "%s %s", c.action, c.name)
		require.Equal(t, c.rule, rule, "%s %s", c.action, c.name)
		require.Equal(t, c.want, acl.Allowed(subj, c.action, c.name))
		require.Equal(t, c.want, acl.Check(subj, c.action, c.name) == nil)
	}
}

func TestACLDefaults(t *testing.T) {
	subj := Subject{ID: aclNodeA}
	for _, action := range []Action{ActionPublish, ActionSubscribe, ActionRegister, ActionCall} {
		require.True(t, mustACL(t, EffectAllow).Allowed(subj, action, "x"))
		require.False(t, mustACL(t, EffectDeny).Allowed(subj, action, "x"))
		// An ACL whose rules do not apply falls back to its default.
		other := AllowRule("node:"+aclNodeB.String(), ActionAny, "#")
		require.False(t, mustACL(t, EffectDeny, other).Allowed(subj, action, "x"))
	}
	require.Equal(t, EffectDeny, mustACL(t, EffectDeny).Default())
}

func TestNilAndZeroACLAllowEverything(t *testing.T) {
	for _, acl := range []*ACL{nil, {}} {
		require.True(t, acl.Allowed(Subject{}, ActionPublish, "a"))
		require.True(t, acl.Allowed(Subject{}, ActionSubscribe, "#"))
		require.NoError(t, acl.Check(Subject{}, ActionCall, "a"))
		require.Equal(t, EffectAllow, acl.Default())
		require.Nil(t, acl.Rules())
	}
}

func TestACLSubscribePatterns(t *testing.T) {
	subj := Subject{ID: aclNodeA, Roles: []string{"sensor"}}
	cases := []struct {
		name  string
		def   Effect
		rules []Rule
		sub   string
		want  bool
	}{
		{"allow covers", EffectDeny, []Rule{AllowRule("*", ActionSubscribe, "sensors.#")}, "sensors.*", true},
		{"allow covers itself", EffectDeny, []Rule{AllowRule("*", ActionSubscribe, "sensors.#")}, "sensors.#", true},
		{"allow narrower than sub", EffectDeny, []Rule{AllowRule("*", ActionSubscribe, "sensors.*")}, "sensors.#", false},
		{"deny literal blocks #", EffectAllow, []Rule{DenyRule("*", ActionSubscribe, "sensors.secret")}, "#", false},
		{"deny literal blocks a.#", EffectAllow, []Rule{DenyRule("*", ActionSubscribe, "sensors.secret")}, "sensors.#", false},
		{"deny literal blocks a.*", EffectAllow, []Rule{DenyRule("*", ActionSubscribe, "sensors.secret")}, "sensors.*", false},
		{"deny literal blocks *.secret", EffectAllow, []Rule{DenyRule("*", ActionSubscribe, "sensors.secret")}, "*.secret", false},
		{"deny elsewhere", EffectAllow, []Rule{DenyRule("*", ActionSubscribe, "sensors.secret")}, "sensors.*.temp", true},
		{"deny deeper", EffectAllow, []Rule{DenyRule("*", ActionSubscribe, "sensors.secret.#")}, "sensors.*", true},
		{"allow before deny covers", EffectDeny, []Rule{
			AllowRule("*", ActionSubscribe, "sensors.#"),
			DenyRule("*", ActionSubscribe, "sensors.secret"), // shadowed for everyone
		}, "sensors.*", true},
		{"deny before allow", EffectAllow, []Rule{
			DenyRule("*", ActionSubscribe, "sensors.secret"),
			AllowRule("*", ActionSubscribe, "sensors.#"),
		}, "sensors.*", false},
		{"partial allow then default deny", EffectDeny, []Rule{AllowRule("*", ActionSubscribe, "sensors.public.#")}, "sensors.#", false},
		{"partial allow then default allow", EffectAllow, []Rule{AllowRule("*", ActionSubscribe, "sensors.public.#")}, "sensors.#", true},
		{"overlap shadowed by earlier allow", EffectAllow, []Rule{
			AllowRule("*", ActionSubscribe, "a.b"),
			DenyRule("*", ActionSubscribe, "a.*"),
		}, "*.b", true},
		{"overlap not shadowed", EffectAllow, []Rule{
			AllowRule("*", ActionSubscribe, "a.b"),
			DenyRule("*", ActionSubscribe, "a.*"),
		}, "*.*", false},
		{"shadowing allow must apply to subject", EffectAllow, []Rule{
			AllowRule("role:admin", ActionSubscribe, "a.b"),
			DenyRule("*", ActionSubscribe, "a.*"),
		}, "*.b", false},
		{"two allows do not add up", EffectDeny, []Rule{
			AllowRule("*", ActionSubscribe, "a.b"),
			AllowRule("*", ActionSubscribe, "a.c"),
		}, "a.*", false},
		{"deny for another action", EffectAllow, []Rule{DenyRule("*", ActionPublish, "#")}, "#", true},
		{"deny any action", EffectAllow, []Rule{DenyRule("*", ActionAny, "sensors.secret")}, "#", false},
		{"role deny", EffectAllow, []Rule{DenyRule("role:sensor", ActionSubscribe, "cmd.#")}, "*.reboot", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			acl := mustACL(t, c.def, c.rules...)
			require.Equal(t, c.want, acl.Allowed(subj, ActionSubscribe, c.sub))
			err := acl.Check(subj, ActionSubscribe, c.sub)
			if c.want {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, ErrACLDenied)
			}
		})
	}
}

func TestACLCheckError(t *testing.T) {
	subj := Subject{ID: aclNodeA, Realm: "org.example.mesh", Roles: []string{"guest"}}
	acl := mustACL(t, EffectDeny,
		AllowRule("*", ActionSubscribe, "public.#"),
		DenyRule("role:guest", ActionPublish, "public.#"),
	)

	err := acl.Check(subj, ActionPublish, "public.news")
	require.ErrorIs(t, err, ErrACLDenied)
	var denied *ACLDeniedError
	require.ErrorAs(t, err, &denied)
	require.Equal(t, subj, denied.Subject)
	require.Equal(t, ActionPublish, denied.Action)
	require.Equal(t, "public.news", denied.Name)
	require.Equal(t, 1, denied.Index)
	require.Equal(t, DenyRule("role:guest", ActionPublish, "public.#"), denied.Rule)
	require.NoError(t, denied.Cause)
	msg := err.Error()
	for _, want := range []string{"macula: denied by acl", aclNodeA.Short(), "org.example.mesh", "guest",
		"publish", `"public.news"`, "rules[1]", "deny role:guest publish public.#"} {
		require.Contains(t, msg, want)
	}
	require.False(t, errors.Is(err, ErrInvalidACL))

	// The default decides.
	err = acl.Check(subj, ActionCall, "x")
	require.ErrorAs(t, err, &denied)
	require.Equal(t, -1, denied.Index)
	require.Equal(t, Rule{}, denied.Rule)
	require.Contains(t, err.Error(), "default is deny")

	// The error keeps its own copy of the roles.
	subj.Roles[0] = "changed"
	require.Equal(t, []string{"guest"}, denied.Subject.Roles)
}

func TestACLInvalidRequests(t *testing.T) {
	acl := mustACL(t, EffectAllow)
	cases := []struct {
		action   Action
		name     string
		sentinel error
	}{
		{ActionAny, "a", ErrInvalidACL},
		{"delete", "a", ErrInvalidACL},
		{"", "a", ErrInvalidACL},
		{ActionPublish, "a.*", topic.ErrInvalidTopic}, // publishing needs a literal topic
		{ActionRegister, "a.#", topic.ErrInvalidTopic},
		{ActionCall, "", topic.ErrInvalidTopic},
		{ActionSubscribe, "a.#.b", topic.ErrInvalidTopic},
		{ActionSubscribe, "a b", topic.ErrInvalidTopic},
	}
	for _, c := range cases {
		require.False(t, acl.Allowed(Subject{}, c.action, c.name), "%s %q", c.action, c.name)
		err := acl.Check(Subject{}, c.action, c.name)
		require.ErrorIs(t, err, ErrACLDenied, "%s %q", c.action, c.name)
		require.ErrorIs(t, err, c.sentinel, "%s %q", c.action, c.name)
		var denied *ACLDeniedError
		require.ErrorAs(t, err, &denied)
		require.Equal(t, -1, denied.Index)
	}
}

func TestACLRulesIsACopy(t *testing.T) {
	rules := []Rule{AllowRule("*", ActionPublish, "a"), DenyRule("*", ActionAny, "#")}
	acl := mustACL(t, EffectAllow, rules...)
	rules[0].Effect = EffectDeny // the ACL copied its input
	got := acl.Rules()
	require.Equal(t, AllowRule("*", ActionPublish, "a"), got[0])
	got[1].Effect = EffectAllow // and returns a copy
	require.False(t, acl.Allowed(Subject{}, ActionPublish, "b"))
}

func TestACLAllowedDoesNotAllocate(t *testing.T) {
	acl := mustACL(t, EffectDeny,
		DenyRule("role:guest", ActionAny, "admin.#"),
		AllowRule("realm:org.example.mesh", ActionPublish, "sensors.*.temp"),
		AllowRule("node:"+aclNodeA.String(), ActionCall, "svc.#"),
	)
	subj := Subject{ID: aclNodeA, Realm: "org.example.mesh", Roles: []string{"sensor"}}
	allocs := testing.AllocsPerRun(100, func() {
		if !acl.Allowed(subj, ActionPublish, "sensors.kitchen.temp") || !acl.Allowed(subj, ActionCall, "svc.get") {
			panic("denied")
		}
		if acl.Allowed(subj, ActionRegister, "svc.get") {
			panic("allowed")
		}
	})
	require.Zero(t, allocs)
}

func TestACLConcurrentUse(t *testing.T) {
	acl := mustACL(t, EffectDeny,
		DenyRule("*", ActionSubscribe, "sensors.secret"),
		AllowRule("*", ActionAny, "sensors.#"),
	)
	subj := Subject{ID: aclNodeA}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 500 {
				if !acl.Allowed(subj, ActionPublish, "sensors.a") ||
					acl.Allowed(subj, ActionSubscribe, "sensors.*") ||
					acl.Check(subj, ActionCall, "other") == nil {
					t.Error("wrong decision under concurrency")
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestRuleString(t *testing.T) {
	require.Equal(t, "deny role:guest publish sensors.#", DenyRule("role:guest", ActionPublish, "sensors.#").String())
	require.Equal(t, "allow * * #", AllowRule("*", ActionAny, "#").String())
}

func TestACLUsesRoles(t *testing.T) {
	byID, err := NewACL(EffectDeny, AllowRule("*", ActionAny, "#"))
	require.NoError(t, err)
	require.False(t, byID.UsesRoles())
	byRole, err := NewACL(EffectDeny, AllowRule("*", ActionPublish, "a.#"), AllowRule("role:sensor", ActionPublish, "#"))
	require.NoError(t, err)
	require.True(t, byRole.UsesRoles())
	require.False(t, (*ACL)(nil).UsesRoles())
}
