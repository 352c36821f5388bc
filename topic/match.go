package topic

// Match reports whether topic, a literal topic, matches pattern. A literal
// pattern segment matches an equal topic segment, "*" matches any one segment
// and a final "#" matches one or more remaining segments, so "a.#" matches
// "a.b" and "a.b.c" but not "a". Match returns false when pattern is not
// valid under [ValidatePattern] or topic is not valid under [Validate].
//
// Match does not allocate; it is the hot path of event delivery.
func Match(pattern, topic string) bool {
	if !check(pattern, true).ok() || !check(topic, false).ok() {
		return false
	}
	// Both are valid, so neither has empty segments, topic has no wildcards,
	// and a pattern segment starting with '*' or '#' is exactly that
	// wildcard, "#" being the last. Walk both a segment at a time; p and t
	// are at the start of a segment of each.
	p, t := 0, 0
	for {
		switch pattern[p] {
		case '#':
			return true // the rest of topic is at least one segment
		case '*':
			p++
			for t < len(topic) && topic[t] != '.' {
				t++
			}
		default:
			for p < len(pattern) && pattern[p] != '.' {
				if t == len(topic) || topic[t] != pattern[p] {
					return false
				}
				p++
				t++
			}
			if t < len(topic) && topic[t] != '.' {
				return false // the topic segment is longer
			}
		}
		// Both are at the end of a segment.
		if p == len(pattern) || t == len(topic) {
			return p == len(pattern) && t == len(topic)
		}
		p++
		t++
	}
}
