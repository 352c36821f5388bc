package security

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// aclProp is a randomly drawn ACL together with its rules, for comparing
// ACL decisions with a brute-force reference.
type aclProp struct {
	acl   *ACL
	def   Effect
	rules []Rule
}

// propSubject is the subject of the property tests: it has the role
// "member", so rules for "role:other" never apply to it.
var propSubject = Subject{ID: aclNodeA, Realm: "org.example.mesh", Roles: []string{"member"}}

func aclPropGen() *rapid.Generator[aclProp] {
	return rapid.Custom(func(t *rapid.T) aclProp {
		def := rapid.SampledFrom([]Effect{EffectAllow, EffectDeny}).Draw(t, "default")
		n := rapid.IntRange(0, 6).Draw(t, "rules")
		rules := make([]Rule, n)
		for i := range rules {
			rules[i] = Rule{
				Effect:  rapid.SampledFrom([]Effect{EffectAllow, EffectDeny}).Draw(t, "effect"),
				Subject: rapid.SampledFrom([]string{"*", "role:member", "role:other"}).Draw(t, "subject"),
				Action:  rapid.SampledFrom([]Action{ActionSubscribe, ActionPublish, ActionAny}).Draw(t, "action"),
				Pattern: strings.Join(patternSegsGen(3).Draw(t, "pattern"), "."),
			}
		}
		acl, err := NewACL(def, rules...)
		if err != nil {
			t.Fatalf("NewACL: %v", err)
		}
		return aclProp{acl: acl, def: def, rules: rules}
	})
}

// refApplies is the reference for whether a rule's subject and action
// apply to propSubject.
func refApplies(r Rule, action Action) bool {
	return (r.Subject == "*" || r.Subject == "role:member") && (r.Action == ActionAny || r.Action == action)
}

// refDecide is the reference decision for a literal topic: the first
// applicable rule that matches wins.
func (p aclProp) refDecide(action Action, topic []string) bool {
	for _, r := range p.rules {
		if refApplies(r, action) && refMatchSegs(strings.Split(r.Pattern, "."), topic) {
			return r.Effect == EffectAllow
		}
	}
	return p.def == EffectAllow
}

func TestACLLiteralDecisionsProperty(t *testing.T) {
	// For names without wildcards, every action is decided by the first
	// matching rule, and a subscription to a literal topic is decided like
	// any other action on it.
	topics := enumTopics(4)
	rapid.Check(t, func(t *rapid.T) {
		p := aclPropGen().Draw(t, "acl")
		topic := rapid.SampledFrom(topics).Draw(t, "topic")
		name := strings.Join(topic, ".")
		for _, action := range []Action{ActionPublish, ActionSubscribe} {
			require.Equal(t, p.refDecide(action, topic), p.acl.Allowed(propSubject, action, name), "%s %s", action, name)
		}
		// The pattern walk agrees with the literal walk on literal names.
		allowed, _, err := p.acl.decidePattern(propSubject, ActionSubscribe, topic)
		require.NoError(t, err)
		require.Equal(t, p.refDecide(ActionSubscribe, topic), allowed, "pattern walk on %s", name)
	})
}

func TestACLSubscribeSoundProperty(t *testing.T) {
	// A subscription is allowed only if every topic it can receive would be
	// allowed on its own.
	topics := enumTopics(4)
	rapid.Check(t, func(t *rapid.T) {
		p := aclPropGen().Draw(t, "acl")
		sub := patternSegsGen(3).Draw(t, "subscription")
		name := strings.Join(sub, ".")
		if !p.acl.Allowed(propSubject, ActionSubscribe, name) {
			return
		}
		for _, topic := range topics {
			if refMatchSegs(sub, topic) {
				require.True(t, p.refDecide(ActionSubscribe, topic),
					"subscription %s allowed but topic %s is denied", name, strings.Join(topic, "."))
			}
		}
	})
}

func TestACLSubscribePreciseProperty(t *testing.T) {
	// Where no applicable deny rule overlaps the subscription, it is
	// allowed exactly when an applicable allow rule covers it or the
	// default is allow: the walk refuses nothing it need not.
	topics := enumTopics(4)
	rapid.Check(t, func(t *rapid.T) {
		p := aclPropGen().Draw(t, "acl")
		sub := patternSegsGen(3).Draw(t, "subscription")
		subLang := language(sub, topics)
		covered := false
		for _, r := range p.rules {
			if !refApplies(r, ActionSubscribe) {
				continue
			}
			ruleLang := language(strings.Split(r.Pattern, "."), topics)
			if r.Effect == EffectDeny {
				for topic := range subLang {
					if ruleLang[topic] {
						return // a deny rule overlaps: not this property's case
					}
				}
				continue
			}
			all := true
			for topic := range subLang {
				all = all && ruleLang[topic]
			}
			covered = covered || all
		}
		want := covered || p.def == EffectAllow
		require.Equal(t, want, p.acl.Allowed(propSubject, ActionSubscribe, strings.Join(sub, ".")))
	})
}

func TestACLRolesUnknownProperty(t *testing.T) {
	// Deciding with unknown roles allows only what is allowed whatever the
	// roles are.
	topics := enumTopics(4)
	roleSets := [][]string{nil, {"member"}, {"other"}, {"member", "other"}}
	rapid.Check(t, func(t *rapid.T) {
		p := aclPropGen().Draw(t, "acl")
		// The generator's rules name "role:member" and "role:other"; with
		// roles unknown, both kinds must be assumed either way.
		unknown := Subject{ID: aclNodeA, Realm: "org.example.mesh", RolesUnknown: true, Roles: []string{"member"}}
		action := rapid.SampledFrom([]Action{ActionPublish, ActionSubscribe}).Draw(t, "action")
		var name string
		if action == ActionSubscribe {
			name = strings.Join(patternSegsGen(3).Draw(t, "pattern"), ".")
		} else {
			name = strings.Join(rapid.SampledFrom(topics).Draw(t, "topic"), ".")
		}
		if !p.acl.Allowed(unknown, action, name) {
			return
		}
		for _, roles := range roleSets {
			subj := Subject{ID: aclNodeA, Realm: "org.example.mesh", Roles: roles}
			require.True(t, p.acl.Allowed(subj, action, name), "allowed with roles unknown, denied with roles %v: %s %s", roles, action, name)
		}
	})
}
