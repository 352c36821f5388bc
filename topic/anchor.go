package topic

import "strings"

// Anchor returns the anchor under which a subscription to pattern is stored:
// the literal prefix before its first wildcard segment, without the trailing
// dot. It is pattern itself when pattern has no wildcard, and "" when pattern
// starts with one. For example, "a.b.*.d" is anchored at "a.b", "a.#" at "a",
// "*.b" at "" and "a.b" at "a.b".
//
// A topic matched by pattern (see [Match]) always has the pattern's anchor
// among its [Anchors]. Anchor does not validate pattern; check it with
// [ValidatePattern] first.
func Anchor(pattern string) string {
	switch i := firstWildcard(pattern); i {
	case -1:
		return pattern
	case 0:
		return ""
	default:
		return pattern[:i-1]
	}
}

// Anchors returns every anchor a publisher on topic must resolve to find the
// subscriptions that can match it: "", then each prefix of topic that ends
// before a dot, in order of length, ending with topic itself. For "a.b.c"
// they are "", "a", "a.b" and "a.b.c". The anchors are substrings of topic.
//
// Anchors returns nil when topic is not valid under [Validate] (patterns
// included): no subscription matches such a topic. See [AppendAnchors] for a
// variant that does not allocate.
func Anchors(topic string) []string {
	if !check(topic, false).ok() {
		return nil
	}
	return appendAnchors(make([]string, 0, strings.Count(topic, ".")+2), topic)
}

// AppendAnchors appends the anchors of topic, as returned by [Anchors], to dst
// and returns the extended slice. It allocates only when dst lacks capacity;
// a topic has at most [MaxDepth]+1 anchors. When topic is not valid under
// [Validate], AppendAnchors returns dst unchanged.
func AppendAnchors(dst []string, topic string) []string {
	if !check(topic, false).ok() {
		return dst
	}
	return appendAnchors(dst, topic)
}

// appendAnchors appends the anchors of the valid topic to dst.
func appendAnchors(dst []string, topic string) []string {
	dst = append(dst, "")
	for i := 0; i < len(topic); i++ {
		if topic[i] == '.' {
			dst = append(dst, topic[:i])
		}
	}
	return append(dst, topic)
}
