package topic

import (
	"fmt"
	"unicode/utf8"
)

const (
	// MaxLength is the largest size of a topic or pattern, in bytes.
	MaxLength = 256
	// MaxDepth is the largest number of dot-separated segments in a topic or
	// pattern.
	MaxDepth = 32
)

// Validate reports whether topic is a valid literal topic: one to [MaxDepth]
// dot-separated segments, each made of one or more of the characters
// A-Z, a-z, 0-9, '_' and '-', and at most [MaxLength] bytes in all. Wildcard
// segments are not allowed; use [ValidatePattern] for subscription patterns.
// Reserved topics (see [IsReserved]) are valid.
//
// The error wraps [ErrInvalidTopic] and names the first problem found, with
// segments counted from 1 and byte offsets from 0.
func Validate(topic string) error {
	return check(topic, false).err(topic)
}

// ValidatePattern reports whether pattern is a valid subscription pattern: a
// topic as accepted by [Validate] whose segments may also be exactly "*"
// (matches one segment) or, as the last segment only, exactly "#" (matches one
// or more segments). A wildcard character inside a longer segment, as in "a*"
// or "#b", is invalid. Every valid topic is also a valid pattern.
//
// The error wraps [ErrInvalidTopic] and names the first problem found, with
// segments counted from 1 and byte offsets from 0.
func ValidatePattern(pattern string) error {
	return check(pattern, true).err(pattern)
}

// IsReserved reports whether topic is reserved for the mesh's own system
// events, that is, whether it starts with '_' (for example
// "_mesh.peer.connected"). It does not validate topic: a reserved topic is
// still a valid one.
func IsReserved(topic string) bool {
	return len(topic) > 0 && topic[0] == '_'
}

// IsPattern reports whether pattern has a wildcard segment, one that is
// exactly "*" or "#". It does not validate pattern.
func IsPattern(pattern string) bool {
	return firstWildcard(pattern) >= 0
}

// firstWildcard returns the byte offset of the first segment of s that is
// exactly "*" or "#", or -1 when there is none.
func firstWildcard(s string) int {
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			continue
		}
		if i-start == 1 && (s[start] == '*' || s[start] == '#') {
			return start
		}
		start = i + 1
	}
	return -1
}

// segmentChar holds the bytes allowed in a literal segment.
var segmentChar = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	t['_'] = true
	t['-'] = true
	return t
}()

// problemKind says what is wrong with a topic or pattern.
type problemKind uint8

const (
	problemNone            problemKind = iota
	problemEmpty                       // the whole string is empty
	problemTooLong                     // longer than MaxLength bytes
	problemTooDeep                     // more than MaxDepth segments
	problemEmptySegment                // leading, trailing or doubled dot
	problemBadChar                     // a byte outside the segment alphabet
	problemWildcard                    // a wildcard where only a literal topic is allowed
	problemPartialWildcard             // '*' or '#' sharing a segment with other bytes
	problemHashNotLast                 // a "#" segment followed by another segment
)

// problem is the first thing wrong with a topic or pattern. It is a plain
// value so that checking never allocates; err turns it into an error only
// when one is needed.
type problem struct {
	kind    problemKind
	segment int // 1-based segment number
	offset  int // 0-based byte offset into the string
}

// check scans s once and returns its first problem, if any. With wildcards
// set, segments that are exactly "*", or exactly "#" as the last segment, are
// allowed.
func check(s string, wildcards bool) problem {
	if s == "" {
		return problem{kind: problemEmpty}
	}
	if len(s) > MaxLength {
		return problem{kind: problemTooLong}
	}
	segment, start, i := 1, 0, 0
	for {
		// Skip the ordinary characters of the segment starting at start.
		for i < len(s) && segmentChar[s[i]] {
			i++
		}
		if i < len(s) && s[i] != '.' {
			c := s[i]
			switch {
			case c != '*' && c != '#':
				return problem{problemBadChar, segment, i}
			case !wildcards:
				return problem{problemWildcard, segment, i}
			case i != start || (i+1 < len(s) && s[i+1] != '.'):
				return problem{problemPartialWildcard, segment, i}
			case c == '#' && i+1 != len(s):
				return problem{problemHashNotLast, segment, i}
			}
			i++ // the segment is exactly one wildcard
		}
		// s[start:i] is a complete segment, and s[i] is a dot if any.
		if i == start {
			return problem{problemEmptySegment, segment, i}
		}
		if i == len(s) {
			break
		}
		i++
		start = i
		segment++
		if segment > MaxDepth {
			return problem{problemTooDeep, segment, i}
		}
	}
	return problem{}
}

// ok reports whether no problem was found.
func (p problem) ok() bool { return p.kind == problemNone }

// err describes p as an error wrapping ErrInvalidTopic, or returns nil when
// there is no problem.
func (p problem) err(s string) error {
	switch p.kind {
	case problemNone:
		return nil
	case problemEmpty:
		return fmt.Errorf("%w: empty", ErrInvalidTopic)
	case problemTooLong:
		return fmt.Errorf("%w %q...: %d bytes, more than the maximum of %d",
			ErrInvalidTopic, s[:32], len(s), MaxLength)
	case problemTooDeep:
		return fmt.Errorf("%w %q: more than the maximum of %d segments",
			ErrInvalidTopic, s, MaxDepth)
	case problemEmptySegment:
		return fmt.Errorf("%w %q: empty segment %d", ErrInvalidTopic, s, p.segment)
	case problemBadChar:
		return fmt.Errorf("%w %q: invalid character %s at byte %d in segment %d",
			ErrInvalidTopic, s, describeByte(s, p.offset), p.offset, p.segment)
	case problemWildcard:
		return fmt.Errorf("%w %q: wildcard %q at byte %d in segment %d (wildcards are allowed only in patterns)",
			ErrInvalidTopic, s, s[p.offset], p.offset, p.segment)
	case problemPartialWildcard:
		return fmt.Errorf("%w %q: wildcard %q at byte %d must be the whole of segment %d",
			ErrInvalidTopic, s, s[p.offset], p.offset, p.segment)
	case problemHashNotLast:
		return fmt.Errorf("%w %q: wildcard '#' in segment %d must be the last segment",
			ErrInvalidTopic, s, p.segment)
	default:
		return fmt.Errorf("%w %q", ErrInvalidTopic, s)
	}
}

// describeByte quotes the character starting at s[i]: the whole rune when it
// is valid UTF-8, else the single byte in hex.
func describeByte(s string, i int) string {
	r, size := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && size <= 1 {
		return fmt.Sprintf("%#02x", s[i])
	}
	return fmt.Sprintf("%q", r)
}
