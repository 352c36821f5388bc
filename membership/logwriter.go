package membership

import (
	"bytes"
	"log"
	"strings"

	"go.uber.org/zap"
)

// zapWriter turns memberlist's standard-library log lines ("[WARN]
// memberlist: ...") into zap entries of the matching level, so nothing
// memberlist logs escapes the injected logger.
type zapWriter struct{ log *zap.Logger }

func newStdLogger(l *zap.Logger) *log.Logger {
	return log.New(zapWriter{l.Named("swim")}, "", 0)
}

// routineFailures are memberlist errors that are part of normal failure
// detection and shutdown (a probe or gossip to a member that is down, an
// exchange cut short by Close): logged at debug level, since the
// membership events already report what they mean.
var routineFailures = []string{
	"Failed fallback TCP ping",
	"Failed to send gossip",
	"Failed to send ping",
	"Failed to send indirect",
	"Failed to send ack",
	"Push/Pull with",
	"Failed push/pull merge",
	"membership closed",
	"transport closed",
	"context canceled",
}

func (w zapWriter) Write(p []byte) (int, error) {
	msg := string(bytes.TrimSpace(p))
	level, rest := levelOf(msg)
	for _, r := range routineFailures {
		if strings.Contains(rest, r) {
			level = "DEBUG"
			break
		}
	}
	switch level {
	case "ERR", "ERROR":
		w.log.Error(rest)
	case "WARN":
		w.log.Warn(rest)
	case "INFO":
		w.log.Info(rest)
	default:
		w.log.Debug(rest)
	}
	return len(p), nil
}

// levelOf splits "[LEVEL] text" into LEVEL and text.
func levelOf(msg string) (string, string) {
	if len(msg) > 2 && msg[0] == '[' {
		if end := bytes.IndexByte([]byte(msg), ']'); end > 0 {
			return msg[1:end], string(bytes.TrimSpace([]byte(msg[end+1:])))
		}
	}
	return "", msg
}
