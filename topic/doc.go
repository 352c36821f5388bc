// Package topic defines the topics and subscription patterns of Macula's
// publish/subscribe mesh: their syntax, how a pattern matches a topic, and
// the anchors under which subscriptions are stored and looked up.
//
// A topic is one or more dot-separated segments, each made of the characters
// A-Z, a-z, 0-9, '_' and '-', such as "sensors.kitchen.temperature". It is at
// most [MaxLength] bytes long and at most [MaxDepth] segments deep. A topic
// whose first character is '_' is reserved for the mesh's own system events,
// such as "_mesh.peer.connected"; it is valid, and [IsReserved] tells it apart
// so that callers can keep applications from publishing on it.
//
// A pattern is a topic whose segments may also be wildcards:
//
//   - "*" matches exactly one segment: "sensors.*.temperature" matches
//     "sensors.kitchen.temperature" but not "sensors.temperature".
//   - "#", allowed only as the last segment, matches one or more segments:
//     "sensors.#" matches "sensors.kitchen" and "sensors.kitchen.temperature"
//     but not "sensors".
//
// A wildcard must be a whole segment: "sensor*" and "a#" are invalid.
//
// # Anchors
//
// The mesh stores each subscription under its anchor, the literal prefix of
// its pattern before the first wildcard segment ([Anchor]): "sensors.*.temp"
// is stored under "sensors", a pattern without wildcards under itself, and a
// pattern that starts with a wildcard under the empty anchor "". A publisher
// on "a.b.c" then looks up the anchors "", "a", "a.b" and "a.b.c"
// ([Anchors]) and keeps the subscriptions whose pattern matches the topic
// ([Match]). Every pattern that matches a topic is anchored at one of the
// topic's anchors, so wildcard subscriptions are found across the mesh.
//
// # Usage
//
// Validate what comes from users before using it; the errors wrap
// [ErrInvalidTopic] and say what is wrong and where:
//
//	if err := topic.ValidatePattern(pattern); err != nil {
//		return err // errors.Is(err, topic.ErrInvalidTopic)
//	}
//	store(topic.Anchor(pattern), pattern)
//
// On the publishing side, resolve the anchors and filter with [Match], which
// does not allocate. [AppendAnchors] reuses a buffer:
//
//	var buf [topic.MaxDepth + 1]string
//	for _, anchor := range topic.AppendAnchors(buf[:0], t) {
//		for _, sub := range lookup(anchor) {
//			if topic.Match(sub.Pattern, t) {
//				deliver(sub, event)
//			}
//		}
//	}
//
// All functions are safe for concurrent use; the package has no state.
package topic
