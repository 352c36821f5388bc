package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

func TestParseDiscovery(t *testing.T) {
	opts, err := parseDiscovery([]string{"mdns", "mdns:lo", "dns:_macula._udp.example.org.", "static:10.0.0.7:4433"})
	require.NoError(t, err)
	require.Len(t, opts, 3, "two WithMDNS and one WithDiscovery for the dns and static sources")

	opts, err = parseDiscovery(nil)
	require.NoError(t, err)
	require.Empty(t, opts)

	for entry, want := range map[string]string{
		"mdns:no-such-iface0": "no-such-iface0",
		"dns":                 "want dns:NAME",
		"static:":             "want static:ADDR",
		"consul:web":          "unknown source",
	} {
		_, err := parseDiscovery([]string{entry})
		require.ErrorContains(t, err, want, entry)
		require.ErrorContains(t, err, "--discovery", entry)
	}
}

func TestNodeOptionsValidate(t *testing.T) {
	f := startFlags{realm: "Not A Realm", listen: "127.0.0.1:0", topologyK: 2}
	_, err := f.nodeOptions(zap.NewNop())
	require.ErrorContains(t, err, "--realm")

	f.realm = "org.example.test"
	f.caFile = "ca.crt"
	_, err = f.nodeOptions(zap.NewNop())
	require.ErrorContains(t, err, "--ca needs --cert")
}

func TestNewLogger(t *testing.T) {
	var out strings.Builder
	log, err := newLogger("json", "info", &out)
	require.NoError(t, err)
	log.Debug("hidden")
	log.Info("shown", zap.String("k", "v"))
	var line map[string]any
	require.NoError(t, json.Unmarshal([]byte(out.String()), &line), out.String())
	require.Equal(t, "shown", line["msg"])
	require.Equal(t, "v", line["k"])

	out.Reset()
	log, err = newLogger("console", "debug", &out)
	require.NoError(t, err)
	log.Debug("readable", zap.Int("n", 1))
	require.Contains(t, out.String(), "DEBUG\treadable\t{\"n\": 1}")
	require.NotContains(t, out.String(), "\x1b[", "no colours when not writing to a terminal")

	_, err = newLogger("xml", "info", &out)
	require.ErrorContains(t, err, "want console or json")
	_, err = newLogger("json", "loud", &out)
	require.ErrorContains(t, err, "want debug, info, warn or error")
}
