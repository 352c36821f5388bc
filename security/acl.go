package security

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/org/macula/topic"
)

// Effect is what an ACL rule, or an ACL's default, decides: [EffectAllow]
// or [EffectDeny].
type Effect string

// The effects of ACL rules.
const (
	// EffectAllow lets the action happen.
	EffectAllow Effect = "allow"
	// EffectDeny refuses the action.
	EffectDeny Effect = "deny"
)

// valid reports whether e is EffectAllow or EffectDeny.
func (e Effect) valid() bool { return e == EffectAllow || e == EffectDeny }

// Action is what a subject attempts on a named topic or procedure.
type Action string

// The actions an [ACL] judges. [ActionAny] may only appear in rules.
const (
	// ActionPublish is publishing an event on a topic (a literal name).
	ActionPublish Action = "publish"
	// ActionSubscribe is subscribing to a topic pattern. The name may
	// hold wildcards; see [ACL] for how such a name is judged.
	ActionSubscribe Action = "subscribe"
	// ActionRegister is registering as the provider of a procedure (a
	// literal name).
	ActionRegister Action = "register"
	// ActionCall is calling a procedure (a literal name).
	ActionCall Action = "call"
	// ActionAny, in a rule, matches every action.
	ActionAny Action = "*"
)

// concrete reports whether a is an action a subject can attempt.
func (a Action) concrete() bool {
	switch a {
	case ActionPublish, ActionSubscribe, ActionRegister, ActionCall:
		return true
	}
	return false
}

// Rule is one line of an [ACL]: Effect applies when the subject matches
// Subject, the action matches Action and the name matches Pattern. It is
// also the form rules take in ACL files (see [ParseACL]).
type Rule struct {
	// Effect is [EffectAllow] or [EffectDeny]. Required.
	Effect Effect `json:"effect" yaml:"effect"`
	// Subject selects who the rule is about:
	//
	//   - "*": everyone, including unknown subjects;
	//   - "node:<id>" or the bare <id>: the node with that ID (64 hex
	//     digits, any case; the zero ID is refused);
	//   - "realm:<name>": nodes of that realm;
	//   - "role:<name>": nodes whose certificate carries that role.
	//
	// Required.
	Subject string `json:"subject" yaml:"subject"`
	// Action is one of the [Action] constants, [ActionAny] included.
	// Required.
	Action Action `json:"action" yaml:"action"`
	// Pattern is a topic pattern (see package topic): "*" matches one
	// segment, a final "#" one or more, and a pattern without wildcards
	// matches just the name equal to it. It applies to topics for publish
	// and subscribe and to procedure names for register and call.
	// Required.
	Pattern string `json:"pattern" yaml:"pattern"`
}

// AllowRule returns a rule allowing subject to perform action on names
// matching pattern. It is checked when the rule is given to [NewACL].
func AllowRule(subject string, action Action, pattern string) Rule {
	return Rule{Effect: EffectAllow, Subject: subject, Action: action, Pattern: pattern}
}

// DenyRule returns a rule denying subject action on names matching
// pattern. It is checked when the rule is given to [NewACL].
func DenyRule(subject string, action Action, pattern string) Rule {
	return Rule{Effect: EffectDeny, Subject: subject, Action: action, Pattern: pattern}
}

// String renders the rule as "<effect> <subject> <action> <pattern>", for
// example "deny role:guest publish sensors.#".
func (r Rule) String() string {
	return fmt.Sprintf("%s %s %s %s", r.Effect, r.Subject, r.Action, r.Pattern)
}

// ACL is an ordered list of allow and deny rules with a default effect. For
// a subject, an action and a name it finds the first rule whose subject,
// action and pattern match, and applies that rule's effect; when no rule
// matches, the default applies.
//
// # Subscriptions
//
// A subscription names a pattern, and whoever holds it receives every topic
// the pattern matches, so the ACL judges the whole set of topics. Walking
// the rules that apply to the subject and action, in order:
//
//   - an allow rule whose pattern covers the subscribed pattern (matches
//     every topic it matches) allows it: an allow rule for "sensors.#"
//     allows subscribing to "sensors.*";
//   - a deny rule whose pattern overlaps the subscribed pattern (some topic
//     matches both) denies it, unless that overlap is covered by a single
//     earlier allow rule: a deny rule for "sensors.secret" denies
//     subscribing to "sensors.#", "sensors.*" and "#", because those would
//     receive sensors.secret;
//   - rules that overlap only partly without deciding (allow rules that do
//     not cover), and rules that do not overlap at all, are passed over.
//
// If the walk ends, the default applies. This is sound: a subscription is
// allowed only if every topic it can receive would be allowed on its own
// (as a subscription to that literal topic). It is conservative where
// several allow rules would be needed together: under a deny default, allow
// rules for "a.b" and "a.c" do not allow "a.*" (a.d is not allowed), and
// neither do allow rules for "a.*" and "a.*.#" allow "a.#" — write one
// rule that covers the subscription. For a name without wildcards all of
// this reduces to "the first matching rule wins".
//
// A nil *ACL, and the zero ACL, allow everything, so code that enforces an
// optional ACL needs no nil checks. An ACL is immutable and safe for
// concurrent use; to reload one, build a new ACL and swap it in (for
// example through an atomic.Pointer[ACL], whose nil also means "allow").
type ACL struct {
	def   Effect
	rules []aclRule
}

// aclRule is a checked Rule in a form quick to evaluate.
type aclRule struct {
	Rule
	sel  selector
	segs []string // Pattern split into segments
}

// NewACL builds an ACL from rules, in order, with def as the effect when no
// rule matches. It fails with an error wrapping [ErrInvalidACL] for a def
// other than [EffectAllow] or [EffectDeny] and for an invalid rule; the
// error names the rule as rules[i], counted from 0, and also wraps the
// sentinel of the underlying problem where there is one
// ([ErrInvalidNodeID], [ErrInvalidRealm], topic.ErrInvalidTopic). The rules
// are copied.
func NewACL(def Effect, rules ...Rule) (*ACL, error) {
	if !def.valid() {
		return nil, fmt.Errorf("%w: default %q, want %q or %q", ErrInvalidACL, def, EffectAllow, EffectDeny)
	}
	acl := &ACL{def: def, rules: make([]aclRule, len(rules))}
	for i, r := range rules {
		compiled, err := compileRule(r)
		if err != nil {
			return nil, fmt.Errorf("%w: rules[%d] (%s): %w", ErrInvalidACL, i, r, err)
		}
		acl.rules[i] = compiled
	}
	return acl, nil
}

// compileRule checks r and prepares it for evaluation.
func compileRule(r Rule) (aclRule, error) {
	if !r.Effect.valid() {
		return aclRule{}, fmt.Errorf("effect %q, want %q or %q", r.Effect, EffectAllow, EffectDeny)
	}
	if !r.Action.concrete() && r.Action != ActionAny {
		return aclRule{}, fmt.Errorf("action %q, want one of publish, subscribe, register, call or *", r.Action)
	}
	sel, err := parseSelector(r.Subject)
	if err != nil {
		return aclRule{}, err
	}
	if err := topic.ValidatePattern(r.Pattern); err != nil {
		return aclRule{}, fmt.Errorf("pattern: %w", err)
	}
	return aclRule{Rule: r, sel: sel, segs: splitPattern(r.Pattern)}, nil
}

// Default returns the effect applied when no rule matches: [EffectAllow]
// for a nil or zero ACL.
func (a *ACL) Default() Effect {
	if a == nil || a.def == "" {
		return EffectAllow
	}
	return a.def
}

// Rules returns a copy of the ACL's rules, in order; the indices are those
// that [ACLDeniedError.Index] refers to.
func (a *ACL) Rules() []Rule {
	if a == nil || len(a.rules) == 0 {
		return nil
	}
	out := make([]Rule, len(a.rules))
	for i, r := range a.rules {
		out[i] = r.Rule
	}
	return out
}

// Allowed reports whether subj may perform action on name. It is false
// whenever [ACL.Check] returns an error. For an action other than
// subscribe it does not allocate.
func (a *ACL) Allowed(subj Subject, action Action, name string) bool {
	allowed, _, err := a.decide(subj, action, name)
	return allowed && err == nil
}

// Check returns nil if subj may perform action on name, and otherwise an
// [*ACLDeniedError] (matching [ErrACLDenied]) naming the subject, the
// action, the name and the rule that denied (or the default).
//
// action must be publish, subscribe, register or call. name must be valid
// under topic.ValidatePattern for subscribe and under topic.Validate (no
// wildcards) for the other actions. Anything else is denied, with the
// problem as the error's Cause (wrapping [ErrInvalidACL] or
// topic.ErrInvalidTopic). A nil or zero ACL returns nil for everything.
func (a *ACL) Check(subj Subject, action Action, name string) error {
	allowed, rule, err := a.decide(subj, action, name)
	if allowed && err == nil {
		return nil
	}
	denied := &ACLDeniedError{
		Subject: Subject{ID: subj.ID, Realm: subj.Realm, Roles: append([]string(nil), subj.Roles...), RolesUnknown: subj.RolesUnknown},
		Action:  action,
		Name:    name,
		Index:   rule,
		Cause:   err,
	}
	if rule >= 0 {
		denied.Rule = a.rules[rule].Rule
	}
	return denied
}

// decide evaluates the ACL. It returns whether the action is allowed, the
// index of the deciding rule (-1 for the default or an invalid request) and
// the problem with an invalid request.
func (a *ACL) decide(subj Subject, action Action, name string) (bool, int, error) {
	if a == nil || a.def == "" {
		return true, -1, nil
	}
	if !action.concrete() {
		return false, -1, fmt.Errorf("%w: action %q, want publish, subscribe, register or call", ErrInvalidACL, action)
	}
	if action == ActionSubscribe {
		if err := topic.ValidatePattern(name); err != nil {
			return false, -1, err
		}
		if topic.IsPattern(name) {
			return a.decidePattern(subj, action, splitPattern(name))
		}
	} else if err := topic.Validate(name); err != nil {
		return false, -1, err
	}
	for i := range a.rules {
		r := &a.rules[i]
		if r.applies(subj, action) && topic.Match(r.Pattern, name) {
			return r.Effect == EffectAllow, i, nil
		}
	}
	return a.def == EffectAllow, -1, nil
}

// decidePattern evaluates the ACL for a subscription to a pattern with
// wildcards, split into segments, as described on [ACL].
func (a *ACL) decidePattern(subj Subject, action Action, sub []string) (bool, int, error) {
	for i := range a.rules {
		r := &a.rules[i]
		if !r.applies(subj, action) || !patternOverlaps(r.segs, sub) {
			continue
		}
		if r.Effect == EffectAllow {
			if patternCovers(r.segs, sub) {
				return true, i, nil
			}
			continue
		}
		if !a.shadowed(subj, action, i, patternIntersect(r.segs, sub)) {
			return false, i, nil
		}
	}
	return a.def == EffectAllow, -1, nil
}

// shadowed reports whether an allow rule before rules[end] that applies to
// subj and action covers the pattern overlap: every topic in overlap is then
// allowed before rules[end] is reached.
func (a *ACL) shadowed(subj Subject, action Action, end int, overlap []string) bool {
	for j := range end {
		r := &a.rules[j]
		if r.Effect == EffectAllow && r.applies(subj, action) && patternCovers(r.segs, overlap) {
			return true
		}
	}
	return false
}

// applies reports whether the rule's subject and action match.
func (r *aclRule) applies(subj Subject, action Action) bool {
	if r.Action != ActionAny && r.Action != action {
		return false
	}
	if r.sel.kind == selectRole && subj.RolesUnknown {
		// Assume the worst: the subject has every role a deny rule names
		// and none an allow rule names.
		return r.Effect == EffectDeny
	}
	return r.sel.matches(subj)
}

// selectorKind is the kind of a rule's subject selector.
type selectorKind uint8

const (
	selectAny   selectorKind = iota // "*"
	selectNode                      // "node:<id>" or "<id>"
	selectRealm                     // "realm:<name>"
	selectRole                      // "role:<name>"
)

// Prefixes of subject selectors.
const (
	nodePrefix  = "node:"
	realmPrefix = "realm:"
	rolePrefix  = "role:"
)

// selector is a parsed Rule.Subject.
type selector struct {
	kind  selectorKind
	id    NodeID // selectNode
	value string // selectRealm, selectRole
}

// parseSelector parses a rule's subject selector.
func parseSelector(s string) (selector, error) {
	switch {
	case s == "*":
		return selector{kind: selectAny}, nil
	case strings.HasPrefix(s, nodePrefix):
		return parseNodeSelector(s[len(nodePrefix):])
	case strings.HasPrefix(s, realmPrefix):
		realm := s[len(realmPrefix):]
		if err := ValidateRealm(realm); err != nil {
			return selector{}, fmt.Errorf("subject %q: %w", s, err)
		}
		return selector{kind: selectRealm, value: realm}, nil
	case strings.HasPrefix(s, rolePrefix):
		role := s[len(rolePrefix):]
		if role == "" || strings.IndexFunc(role, unicode.IsControl) >= 0 || strings.TrimSpace(role) != role {
			return selector{}, fmt.Errorf("subject %q: role must be non-empty, without control characters or surrounding spaces", s)
		}
		return selector{kind: selectRole, value: role}, nil
	case len(s) == nodeIDHexLen:
		return parseNodeSelector(s)
	}
	return selector{}, fmt.Errorf("subject %q: want *, node:<id>, <id>, realm:<name> or role:<name>", s)
}

// parseNodeSelector parses the node ID of a node selector.
func parseNodeSelector(hexID string) (selector, error) {
	id, err := ParseNodeID(hexID)
	if err != nil {
		return selector{}, fmt.Errorf("subject: %w", err)
	}
	if id.IsZero() {
		return selector{}, fmt.Errorf("subject: %w: the zero node ID stands for an unknown node", ErrInvalidNodeID)
	}
	return selector{kind: selectNode, id: id}, nil
}

// matches reports whether subj is selected.
func (s selector) matches(subj Subject) bool {
	switch s.kind {
	case selectAny:
		return true
	case selectNode:
		return subj.ID == s.id
	case selectRealm:
		return subj.Realm == s.value
	case selectRole:
		return subj.HasRole(s.value)
	}
	return false
}

// ACLDeniedError is the error [ACL.Check] returns for an action the ACL
// does not allow. It matches [ErrACLDenied] under [errors.Is] and unwraps
// to Cause, so an invalid request also matches the sentinel of its
// problem.
type ACLDeniedError struct {
	// Subject is who attempted the action.
	Subject Subject
	// Action is what was attempted.
	Action Action
	// Name is the topic, pattern or procedure acted on.
	Name string
	// Index is the position in [ACL.Rules] of the deny rule that decided,
	// or -1 when the ACL's default decided or the request was invalid.
	Index int
	// Rule is the deny rule that decided; the zero Rule when Index is -1.
	Rule Rule
	// Cause is why the request itself was refused before any rule was
	// consulted (an unknown action or an invalid name), or nil.
	Cause error
}

// Error describes the denial, for example `macula: denied by acl: node
// 1a2b3c4d (realm org.example.mesh) may not publish "a.b": rules[2] (deny *
// publish a.#)`.
func (e *ACLDeniedError) Error() string {
	var by string
	switch {
	case e.Cause != nil:
		by = e.Cause.Error()
	case e.Index >= 0:
		by = fmt.Sprintf("rules[%d] (%s)", e.Index, e.Rule)
	default:
		by = "no rule matched and the default is deny"
	}
	return fmt.Sprintf("%s: %s may not %s %q: %s", ErrACLDenied, e.Subject, e.Action, e.Name, by)
}

// Is reports whether target is [ErrACLDenied].
func (e *ACLDeniedError) Is(target error) bool { return target == ErrACLDenied }

// Unwrap returns Cause.
func (e *ACLDeniedError) Unwrap() error { return e.Cause }

// UsesRoles reports whether any rule selects its subjects by role, so
// that a decision can depend on roles. A nil ACL uses none.
func (a *ACL) UsesRoles() bool {
	if a == nil {
		return false
	}
	for _, r := range a.rules {
		if r.sel.kind == selectRole {
			return true
		}
	}
	return false
}
