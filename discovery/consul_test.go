package discovery

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// consulHealthJSON is a /v1/health/service/macula response as Consul
// returns it (without ?passing): three instances, one failing a check,
// one registered without a service address, one on IPv6.
const consulHealthJSON = `[
  {
    "Node": {
      "ID": "40e4a748-2192-161a-0510-9bf59fe950b5",
      "Node": "node-a",
      "Address": "10.1.10.12",
      "Datacenter": "dc1",
      "TaggedAddresses": {"lan": "10.1.10.12", "wan": "10.1.10.12"},
      "Meta": {"instance_type": "t2.medium"},
      "CreateIndex": 10,
      "ModifyIndex": 12
    },
    "Service": {
      "ID": "macula-1",
      "Service": "macula",
      "Tags": ["primary", "v1"],
      "Address": "10.1.10.100",
      "TaggedAddresses": {
        "lan": {"address": "10.1.10.100", "port": 4433},
        "wan": {"address": "198.18.0.53", "port": 443}
      },
      "Meta": {"macula_version": "0.1.0"},
      "Port": 4433,
      "Weights": {"Passing": 10, "Warning": 1},
      "EnableTagOverride": false,
      "Proxy": {"Mode": "", "MeshGateway": {}, "Expose": {}},
      "Connect": {},
      "Namespace": "default",
      "Partition": "default",
      "PeerName": "",
      "CreateIndex": 15,
      "ModifyIndex": 15
    },
    "Checks": [
      {
        "Node": "node-a",
        "CheckID": "serfHealth",
        "Name": "Serf Health Status",
        "Status": "passing",
        "Notes": "",
        "Output": "Agent alive and reachable",
        "ServiceID": "",
        "ServiceName": "",
        "ServiceTags": [],
        "Type": "",
        "Interval": "",
        "Timeout": "",
        "ExposedPort": 0,
        "Definition": {},
        "CreateIndex": 10,
        "ModifyIndex": 10
      },
      {
        "Node": "node-a",
        "CheckID": "service:macula-1",
        "Name": "Service 'macula' check",
        "Status": "passing",
        "Notes": "",
        "Output": "UDP connect 10.1.10.100:4433: Success",
        "ServiceID": "macula-1",
        "ServiceName": "macula",
        "ServiceTags": ["primary", "v1"],
        "Type": "udp",
        "Interval": "10s",
        "Timeout": "5s",
        "ExposedPort": 0,
        "Definition": {},
        "CreateIndex": 15,
        "ModifyIndex": 16
      }
    ]
  },
  {
    "Node": {
      "ID": "5c2a8a80-1c4d-4a6c-8c4d-0b7a7a1d2e3f",
      "Node": "node-b",
      "Address": "10.1.10.13",
      "Datacenter": "dc1",
      "TaggedAddresses": {"lan": "10.1.10.13", "wan": "10.1.10.13"},
      "Meta": {},
      "CreateIndex": 11,
      "ModifyIndex": 11
    },
    "Service": {
      "ID": "macula-2",
      "Service": "macula",
      "Tags": ["v1"],
      "Address": "",
      "TaggedAddresses": null,
      "Meta": null,
      "Port": 4434,
      "Weights": {"Passing": 1, "Warning": 1},
      "EnableTagOverride": false,
      "CreateIndex": 20,
      "ModifyIndex": 20
    },
    "Checks": [
      {
        "Node": "node-b",
        "CheckID": "serfHealth",
        "Name": "Serf Health Status",
        "Status": "passing",
        "Output": "Agent alive and reachable",
        "ServiceID": "",
        "ServiceName": "",
        "ServiceTags": [],
        "Type": "",
        "CreateIndex": 11,
        "ModifyIndex": 11
      }
    ]
  },
  {
    "Node": {
      "ID": "7d1b1c2a-3e4f-5a6b-7c8d-9e0f1a2b3c4d",
      "Node": "node-c",
      "Address": "10.1.10.14",
      "Datacenter": "dc1",
      "TaggedAddresses": {"lan": "10.1.10.14", "wan": "10.1.10.14"},
      "Meta": {},
      "CreateIndex": 13,
      "ModifyIndex": 13
    },
    "Service": {
      "ID": "macula-3",
      "Service": "macula",
      "Tags": ["primary"],
      "Address": "10.1.10.102",
      "Port": 4433,
      "Weights": {"Passing": 1, "Warning": 1},
      "EnableTagOverride": false,
      "CreateIndex": 21,
      "ModifyIndex": 25
    },
    "Checks": [
      {
        "Node": "node-c",
        "CheckID": "serfHealth",
        "Name": "Serf Health Status",
        "Status": "passing",
        "Output": "Agent alive and reachable",
        "ServiceID": "",
        "ServiceName": "",
        "ServiceTags": [],
        "Type": "",
        "CreateIndex": 13,
        "ModifyIndex": 13
      },
      {
        "Node": "node-c",
        "CheckID": "service:macula-3",
        "Name": "Service 'macula' check",
        "Status": "critical",
        "Output": "UDP connect 10.1.10.102:4433: connection refused",
        "ServiceID": "macula-3",
        "ServiceName": "macula",
        "ServiceTags": ["primary"],
        "Type": "udp",
        "CreateIndex": 21,
        "ModifyIndex": 25
      }
    ]
  },
  {
    "Node": {
      "ID": "8e2c2d3b-4f5a-6b7c-8d9e-0f1a2b3c4d5e",
      "Node": "node-d",
      "Address": "2001:db8::d",
      "Datacenter": "dc1",
      "TaggedAddresses": {"lan": "2001:db8::d"},
      "Meta": {},
      "CreateIndex": 14,
      "ModifyIndex": 14
    },
    "Service": {
      "ID": "macula-4",
      "Service": "macula",
      "Tags": ["primary"],
      "Address": "",
      "Port": 4433,
      "CreateIndex": 22,
      "ModifyIndex": 22
    },
    "Checks": []
  }
]`

// consulAPI imitates a Consul agent's /v1/health/service endpoint over
// the entries of consulHealthJSON, honouring passing and tag.
type consulAPI struct {
	t        *testing.T
	token    string
	requests chan *http.Request
}

func (c *consulAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.requests <- r
	if r.Method != http.MethodGet || r.URL.Path != "/v1/health/service/macula" {
		http.NotFound(w, r)
		return
	}
	if c.token != "" && r.Header.Get("X-Consul-Token") != c.token {
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("ACL not found"))
		return
	}
	var entries []map[string]any
	require.NoError(c.t, json.Unmarshal([]byte(consulHealthJSON), &entries))
	var out []map[string]any
	for _, e := range entries {
		if _, ok := r.URL.Query()["passing"]; ok {
			passing := true
			for _, ch := range e["Checks"].([]any) {
				passing = passing && ch.(map[string]any)["Status"] == "passing"
			}
			if !passing {
				continue
			}
		}
		if tag := r.URL.Query().Get("tag"); tag != "" {
			tags, _ := e["Service"].(map[string]any)["Tags"].([]any)
			found := false
			for _, tg := range tags {
				found = found || tg == tag
			}
			if !found {
				continue
			}
		}
		out = append(out, e)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Consul-Index", "25")
	w.Header().Set("X-Consul-Knownleader", "true")
	_ = json.NewEncoder(w).Encode(out)
}

func newConsulAPI(t *testing.T, token string) (*consulAPI, *httptest.Server) {
	api := &consulAPI{t: t, token: token, requests: make(chan *http.Request, 10)}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return api, srv
}

func TestConsul(t *testing.T) {
	api, srv := newConsulAPI(t, "s3cr3t")
	src, err := Consul(ConsulConfig{Addr: srv.URL, Token: "s3cr3t", Datacenter: "dc1", Client: srv.Client()})
	require.NoError(t, err)
	require.Equal(t, "consul:macula", src.Name())

	got, err := src.Discover(context.Background())
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"10.1.10.100:4433", "10.1.10.13:4434", "[2001:db8::d]:4433"}, got)

	r := <-api.requests
	require.Equal(t, "s3cr3t", r.Header.Get("X-Consul-Token"))
	require.Equal(t, "application/json", r.Header.Get("Accept"))
	require.Equal(t, "1", r.URL.Query().Get("passing"))
	require.Equal(t, "dc1", r.URL.Query().Get("dc"))
	require.False(t, r.URL.Query().Has("tag"))
}

func TestConsulTag(t *testing.T) {
	api, srv := newConsulAPI(t, "")
	src, err := Consul(ConsulConfig{Addr: srv.URL, Service: "macula", Tag: "primary"})
	require.NoError(t, err)
	got, err := src.Discover(context.Background())
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"10.1.10.100:4433", "[2001:db8::d]:4433"}, got)
	r := <-api.requests
	require.Equal(t, "primary", r.URL.Query().Get("tag"))
	require.False(t, r.URL.Query().Has("dc"))
	require.Empty(t, r.Header.Values("X-Consul-Token"), "no token, no header")
}

func TestConsulAddrWithoutScheme(t *testing.T) {
	_, srv := newConsulAPI(t, "")
	src, err := Consul(ConsulConfig{Addr: srv.Listener.Addr().String()})
	require.NoError(t, err)
	got, err := src.Discover(context.Background())
	require.NoError(t, err)
	require.Len(t, got, 3)
}

func TestConsulFiltersFailingChecks(t *testing.T) {
	// Even if the server ignores ?passing, failing instances are skipped.
	got, err := parseConsulHealth([]byte(consulHealthJSON))
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"10.1.10.100:4433", "10.1.10.13:4434", "[2001:db8::d]:4433"}, got)

	got, err = parseConsulHealth([]byte(`[
		{"Node": {"Address": "10.0.0.1"}, "Service": {"Port": 1}, "Checks": [{"Status": "warning"}]},
		{"Node": {"Address": "10.0.0.2"}, "Service": {"Port": 2}, "Checks": [{"Status": "maintenance"}]},
		{"Node": {"Address": ""}, "Service": {"Address": "", "Port": 3}, "Checks": []},
		{"Node": {"Address": "10.0.0.4"}, "Service": {"Port": 0}},
		{"Node": {"Address": "10.0.0.5"}, "Service": {"Port": 70000}},
		{"Node": {"Address": "not a host"}, "Service": {"Port": 6}},
		{"Node": {"Address": "10.0.0.7"}, "Service": {"Address": "node7.example.org", "Port": 7}}
	]`))
	require.NoError(t, err)
	require.Equal(t, []string{"node7.example.org:7"}, got)

	got, err = parseConsulHealth([]byte(`null`))
	require.NoError(t, err)
	require.Empty(t, got)
}

func TestConsulFailures(t *testing.T) {
	for _, tc := range []struct {
		desc    string
		handler http.HandlerFunc
		want    string
	}{
		{"HTTP 500", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "rpc error making call: No cluster leader", http.StatusInternalServerError)
		}, "No cluster leader"},
		{"ACL denied", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "Permission denied", http.StatusForbidden)
		}, "403"},
		{"malformed JSON", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`[{"Node": {"Address": "10.0.0.1"}, "Service": {"Port": 44`))
		}, "unexpected end"},
		{"object instead of array", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"Node": {}}`))
		}, "cannot unmarshal"},
		{"port not a number", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`[{"Service": {"Port": "4433"}}]`))
		}, "cannot unmarshal"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			src, err := Consul(ConsulConfig{Addr: srv.URL})
			require.NoError(t, err)
			_, err = src.Discover(context.Background())
			require.ErrorIs(t, err, ErrSourceFailed)
			require.ErrorContains(t, err, "consul:macula")
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestConsulServerDown(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	src, err := Consul(ConsulConfig{Addr: url})
	require.NoError(t, err)
	_, err = src.Discover(context.Background())
	require.ErrorIs(t, err, ErrSourceFailed)
}

func TestConsulContext(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	src, err := Consul(ConsulConfig{Addr: srv.URL})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = src.Discover(ctx)
	require.ErrorIs(t, err, ErrSourceFailed)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestConsulConfig(t *testing.T) {
	src, err := Consul(ConsulConfig{})
	require.NoError(t, err)
	require.Equal(t, "consul:macula", src.Name())
	cs := src.(*consulSource)
	require.Equal(t, "http://127.0.0.1:8500/v1/health/service/macula?passing=1", cs.url)
	require.Equal(t, defaultHTTPTimeout, cs.client.Timeout)

	src, err = Consul(ConsulConfig{Addr: "https://consul.example.org:8501/prefix/", Service: "mesh-1", Datacenter: "eu west", Tag: "a&b"})
	require.NoError(t, err)
	require.Equal(t, "https://consul.example.org:8501/prefix/v1/health/service/mesh-1?dc=eu+west&passing=1&tag=a%26b", src.(*consulSource).url)

	for name, cfg := range map[string]ConsulConfig{
		"bad scheme":     {Addr: "ftp://consul:21"},
		"no host":        {Addr: "http://"},
		"query in addr":  {Addr: "http://consul:8500/?x=1"},
		"unparsable":     {Addr: "http://[::1"},
		"service slash":  {Service: "a/../b"},
		"service space":  {Service: "a b"},
		"token newline":  {Token: "a\nb"},
		"service dotdot": {Service: ".."},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Consul(cfg)
			require.ErrorIs(t, err, ErrInvalidConfig)
		})
	}
}

// FuzzConsulResponse feeds arbitrary bytes to the Consul response parser:
// it must never panic and must only return usable host:port addresses.
func FuzzConsulResponse(f *testing.F) {
	// Small seeds: the fuzzer minimizes every new input it finds
	// interesting, which takes long on a large one.
	f.Add([]byte(`[{"Node":{"Node":"a","Address":"10.0.0.1"},"Service":{"ID":"m","Service":"macula","Tags":["x"],"Address":"","Port":4433},"Checks":[{"CheckID":"serfHealth","Status":"passing"}]}]`))
	f.Add([]byte(`[{"Node":{"Address":"10.0.0.1"},"Service":{"Address":"2001:db8::1","Port":1},"Checks":[{"Status":"critical"}]}]`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[{"Service":{"Port":-1,"Address":"::"}}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		addrs, err := parseConsulHealth(b)
		if err != nil {
			require.Empty(t, addrs)
		}
		for _, a := range addrs {
			requireHostPort(t, a)
		}
	})
}
