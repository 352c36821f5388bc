package membership

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/org/macula/security"
)

func TestConfigDefaultsAndValidation(t *testing.T) {
	got, err := Config{}.withDefaults()
	require.NoError(t, err)
	require.Equal(t, DefaultConfig(), got, "a zero Config means the defaults")

	partial, err := Config{ProbeInterval: 2 * time.Second, SuspicionMult: 6}.withDefaults()
	require.NoError(t, err)
	require.Equal(t, 2*time.Second, partial.ProbeInterval)
	require.Equal(t, 6, partial.SuspicionMult)
	require.Equal(t, DefaultConfig().GossipInterval, partial.GossipInterval)

	bad := []Config{
		{ProbeInterval: -time.Second},
		{SuspicionMult: -1},
		{ProbeInterval: time.Second, ProbeTimeout: time.Second},
		{ReconnectInterval: -1},
	}
	for _, c := range bad {
		_, err := c.withDefaults()
		require.ErrorIs(t, err, ErrInvalidConfig, "%+v", c)
		require.ErrorIs(t, c.Validate(), ErrInvalidConfig, "%+v", c)
	}
	require.NoError(t, Config{}.Validate())
}

func TestDetectionBound(t *testing.T) {
	c := DefaultConfig()
	// n=10: 10 intervals to be probed, 6*4*log10(10)=24 s of suspicion, 1 s of gossip.
	require.Equal(t, 35*time.Second, c.DetectionBound(10))
	// Below 10 members log10 is floored at 1.
	require.Equal(t, 2*time.Second+24*time.Second+time.Second, c.DetectionBound(2))
}

func TestMetaEncodingFitsTheLimit(t *testing.T) {
	id := security.NodeID{1}
	m := Meta{Addrs: []string{"10.0.0.1:4433"}, Version: "v", Tags: map[string]string{"zone": "a"}, Links: []security.NodeID{id, {2}}, Leaving: true}
	b, err := m.encode(memberlist.MetaMaxSize)
	require.NoError(t, err)
	require.Equal(t, m, decodeMeta(b))

	// Too many links: they are dropped rather than the whole metadata.
	many := m
	for i := range 20 {
		many.Links = append(many.Links, security.NodeID{byte(i + 3)})
	}
	b, err = many.encode(memberlist.MetaMaxSize)
	require.NoError(t, err)
	require.LessOrEqual(t, len(b), memberlist.MetaMaxSize)
	got := decodeMeta(b)
	require.Empty(t, got.Links)
	require.Equal(t, m.Addrs, got.Addrs)

	// Metadata that cannot fit even without links is refused.
	huge := Meta{Tags: map[string]string{"x": strings.Repeat("y", 600)}}
	_, err = huge.encode(memberlist.MetaMaxSize)
	require.ErrorIs(t, err, ErrInvalidConfig)

	// A peer's garbage metadata decodes as empty, without panicking.
	require.Equal(t, Meta{}, decodeMeta([]byte("{not json")))
}

func TestMemberlistLogsReachZapAtTheirLevel(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	l := newStdLogger(zap.New(core))
	l.Printf("[WARN] memberlist: Was able to connect to x over TCP but UDP probes failed")
	l.Printf("[ERR] memberlist: Failed to encode message")
	l.Printf("[INFO] memberlist: Suspect x has failed")
	l.Printf("[DEBUG] memberlist: Initiating push/pull sync")
	l.Printf("no level at all")
	entries := logs.All()
	require.Len(t, entries, 5)
	want := []zapcore.Level{zapcore.WarnLevel, zapcore.ErrorLevel, zapcore.InfoLevel, zapcore.DebugLevel, zapcore.DebugLevel}
	for i, e := range entries {
		require.Equal(t, want[i], e.Level, e.Message)
		require.False(t, strings.HasPrefix(e.Message, "["), "level prefix stripped: %q", e.Message)
	}
}

func TestStateAndEventNames(t *testing.T) {
	for s, name := range map[State]string{StateAlive: "alive", StateSuspect: "suspect", StateDead: "dead", StateLeft: "left", State(9): "State(9)"} {
		require.Equal(t, name, s.String())
	}
	for e, name := range map[EventType]string{EventJoin: "join", EventLeave: "leave", EventFail: "fail", EventUpdate: "update", EventType(7): "EventType(7)"} {
		require.Equal(t, name, e.String())
	}
	b, err := StateLeft.MarshalText()
	require.NoError(t, err)
	require.Equal(t, "left", string(b))
}
