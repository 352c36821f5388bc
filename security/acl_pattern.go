package security

import "strings"

// Set operations on topic patterns (see package topic), used by the ACL to
// decide subscriptions, which are patterns themselves.
//
// A valid pattern P stands for the set L(P) of literal topics it matches
// (topic.Match). The helpers below take patterns already split into
// segments and already valid under topic.ValidatePattern, and decide, one
// segment at a time and without enumerating anything:
//
//   - patternCovers(a, b):    L(b) ⊆ L(a)
//   - patternOverlaps(a, b):  L(a) ∩ L(b) ≠ ∅
//   - patternIntersect(a, b): a pattern I with L(I) = L(a) ∩ L(b), when they
//     overlap (the language is closed under intersection)
//
// They reason about topics of any length and depth, ignoring topic.MaxLength
// and topic.MaxDepth. That errs on the safe side for the ACL: "covers" is
// then only reported when it holds for every topic (so also for the valid
// ones), and "overlaps" may be reported for two patterns whose only common
// topics are too long to be valid, which can only make a deny rule apply
// more widely.

// splitPattern splits a pattern into its segments.
func splitPattern(p string) []string { return strings.Split(p, ".") }

// patternCovers reports whether every topic matched by b is matched by a.
func patternCovers(a, b []string) bool {
	for i := 0; ; i++ {
		switch {
		case i == len(a):
			return i == len(b)
		case a[i] == "#":
			// a takes one or more further segments of anything; b, not yet
			// ended, always has at least one more.
			return i < len(b)
		case i == len(b):
			return false // a needs another segment, b's topics have none
		case b[i] == "#":
			// b goes on for any number of segments, a (no "#" here) does not
			// accept them all: either its length is fixed from here, or it
			// needs more segments than b's shortest topics.
			return false
		case a[i] == "*":
			// Any one segment of b's is fine.
		case a[i] != b[i]:
			return false // a needs a literal that b does not always have
		}
	}
}

// patternOverlaps reports whether some topic is matched by both a and b.
func patternOverlaps(a, b []string) bool {
	for i := 0; ; i++ {
		switch {
		case i == len(a) || i == len(b):
			return i == len(a) && i == len(b)
		case a[i] == "#" || b[i] == "#":
			// Both have a remaining, non-empty suffix, and "#" matches
			// whatever topic suffix the other one matches.
			return true
		case a[i] != b[i] && a[i] != "*" && b[i] != "*":
			return false
		}
	}
}

// patternIntersect returns a pattern matching exactly the topics both a and
// b match. a and b must overlap (see patternOverlaps).
func patternIntersect(a, b []string) []string {
	out := make([]string, 0, max(len(a), len(b)))
	for i := 0; i < len(a) && i < len(b); i++ {
		switch {
		case a[i] == "#":
			return append(out, b[i:]...)
		case b[i] == "#":
			return append(out, a[i:]...)
		case a[i] == "*":
			out = append(out, b[i])
		default:
			out = append(out, a[i])
		}
	}
	return out
}
