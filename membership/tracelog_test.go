package membership_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// traceLog keeps, in memory, the log lines of many members that a test of
// liveness needs to explain a failure: suspicions, refutations, deaths,
// and the direct refutations and nudges of liveness.go. Other lines are
// dropped before they are encoded.
type traceLog struct {
	start time.Time
	mu    sync.Mutex
	lines []traceLine
}

type traceLine struct {
	at   time.Duration // since the trace began
	text string
}

// traceKept are the messages (by prefix) a traceLog keeps.
var traceKept = []string{
	"memberlist: Marking", "memberlist: Suspect", "memberlist: Refuting",
	"accused", "refutation sent", "suspicion sent", "member ", "alive message about this node",
}

// maxTraceLines bounds a traceLog's memory.
const maxTraceLines = 1_000_000

func newTraceLog() *traceLog { return &traceLog{start: time.Now()} }

// logger is a logger for member i whose kept lines go to the trace.
func (l *traceLog) logger(i int) *zap.Logger {
	return zap.New(&traceCore{log: l, member: i})
}

// about returns the kept lines from..to after the trace began that
// mention any of words, at most limit of them (the last ones).
func (l *traceLog) about(from, to time.Duration, limit int, words ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		if line.at < from || line.at > to {
			continue
		}
		if slices.ContainsFunc(words, func(w string) bool { return strings.Contains(line.text, w) }) {
			out = append(out, line.text)
		}
	}
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out
}

type traceCore struct {
	log    *traceLog
	member int
	fields []zapcore.Field
}

func (c *traceCore) Enabled(zapcore.Level) bool { return true }

func (c *traceCore) With(fs []zapcore.Field) zapcore.Core {
	return &traceCore{log: c.log, member: c.member, fields: append(slices.Clone(c.fields), fs...)}
}

func (c *traceCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	for _, p := range traceKept {
		if strings.HasPrefix(e.Message, p) {
			return ce.AddCore(e, c)
		}
	}
	return ce
}

func (c *traceCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fs {
		f.AddTo(enc)
	}
	at := time.Since(c.log.start)
	line := traceLine{at, fmt.Sprintf("%9.3fs m%d %s %v", at.Seconds(), c.member, e.Message, enc.Fields)}
	c.log.mu.Lock()
	if len(c.log.lines) < maxTraceLines {
		c.log.lines = append(c.log.lines, line)
	}
	c.log.mu.Unlock()
	return nil
}

func (c *traceCore) Sync() error { return nil }
