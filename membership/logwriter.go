package membership

import (
	"bytes"
	"log"

	"go.uber.org/zap"
)

// zapWriter turns memberlist's standard-library log lines ("[WARN]
// memberlist: ...") into zap entries of the matching level, so nothing
// memberlist logs escapes the injected logger.
type zapWriter struct{ log *zap.Logger }

func newStdLogger(l *zap.Logger) *log.Logger {
	return log.New(zapWriter{l.Named("swim")}, "", 0)
}

func (w zapWriter) Write(p []byte) (int, error) {
	msg := string(bytes.TrimSpace(p))
	level, rest := levelOf(msg)
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
