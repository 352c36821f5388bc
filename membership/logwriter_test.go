package membership

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestMemberlistLogLevels(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	std := newStdLogger(zap.New(core))
	std.Print("[ERR] memberlist: Failed fallback TCP ping: io: read/write on closed pipe")
	std.Print("[ERR] memberlist: Push/Pull with abc failed: dial: timeout")
	std.Print("[ERR] memberlist: Something unexpected")
	std.Print("[WARN] memberlist: Was able to connect to x over TCP but UDP probes failed")
	std.Print("[DEBUG] memberlist: Stream connection from=1.2.3.4")
	std.Print("no level at all")
	var got []zapcore.Level
	for _, e := range logs.All() {
		got = append(got, e.Level)
	}
	require.Equal(t, []zapcore.Level{
		zapcore.DebugLevel, zapcore.DebugLevel, zapcore.ErrorLevel,
		zapcore.WarnLevel, zapcore.DebugLevel, zapcore.DebugLevel,
	}, got)
	require.Equal(t, "Something unexpected", logs.All()[2].Message[len("memberlist: "):])
}
