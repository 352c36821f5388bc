package discovery

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// Defaults of [ConsulConfig].
const (
	// DefaultConsulAddr is the default address of the Consul agent.
	DefaultConsulAddr = "http://127.0.0.1:8500"
	// DefaultConsulService is the default Consul service name of Macula
	// nodes.
	DefaultConsulService = "macula"
)

// ConsulConfig configures the Consul [Source] returned by [Consul].
type ConsulConfig struct {
	// Addr is the base URL of the Consul HTTP API, e.g.
	// "https://consul.example.org:8501". A bare "host:port" means http.
	// Default [DefaultConsulAddr] ("http://127.0.0.1:8500").
	Addr string
	// Service is the Consul service name. Default [DefaultConsulService]
	// ("macula").
	Service string
	// Token is sent as the X-Consul-Token header when not empty. Default:
	// none (anonymous).
	Token string
	// Datacenter selects a datacenter (the dc parameter). Default: the
	// agent's own.
	Datacenter string
	// Tag keeps only instances with this tag. Default: all instances.
	Tag string
	// Client makes the requests. Default: a client with a 10 s timeout
	// per request and otherwise [http.DefaultTransport]'s settings.
	Client *http.Client
}

// consulSource is the Source returned by Consul.
type consulSource struct {
	name   string
	url    string
	token  string
	client *http.Client
}

// Consul returns a [Source] named "consul:<Service>" that asks a Consul
// agent for the healthy instances of a service:
// GET <Addr>/v1/health/service/<Service>?passing=1[&dc=...][&tag=...].
// Each instance yields "host:port" with the service's address, or the
// node's address when the service has none, and the service's port.
// Instances with a check that is not passing are skipped, as are entries
// without a usable address or port.
//
// Discover fails, with an error wrapping [ErrSourceFailed], on transport
// errors, a status other than 200 or a body that is not the API's JSON.
// Invalid configurations yield an error wrapping [ErrInvalidConfig].
func Consul(cfg ConsulConfig) (Source, error) {
	addr := cfg.Addr
	if addr == "" {
		addr = DefaultConsulAddr
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	base, err := url.Parse(addr)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" || base.RawQuery != "" || base.Fragment != "" {
		return nil, configErrorf("consul: Addr %q is not an http(s) base URL", cfg.Addr)
	}
	service := cfg.Service
	if service == "" {
		service = DefaultConsulService
	}
	if !validHost(service) {
		return nil, configErrorf("consul: invalid Service %q", service)
	}
	if strings.ContainsAny(cfg.Token, "\r\n") {
		return nil, configErrorf("consul: Token contains a line break")
	}
	q := url.Values{"passing": {"1"}}
	if cfg.Datacenter != "" {
		q.Set("dc", cfg.Datacenter)
	}
	if cfg.Tag != "" {
		q.Set("tag", cfg.Tag)
	}
	u := *base
	u.Path = strings.TrimSuffix(base.Path, "/") + "/v1/health/service/" + service
	u.RawPath = ""
	u.RawQuery = q.Encode()
	client := cfg.Client
	if client == nil {
		client = &http.Client{Timeout: defaultHTTPTimeout}
	}
	return &consulSource{
		name:   "consul:" + service,
		url:    u.String(),
		token:  cfg.Token,
		client: client,
	}, nil
}

// Name returns "consul:" followed by the service name.
func (s *consulSource) Name() string { return s.name }

// Discover asks Consul for the healthy instances; see [Consul].
func (s *consulSource) Discover(ctx context.Context) ([]string, error) {
	h := http.Header{}
	if s.token != "" {
		h.Set("X-Consul-Token", s.token)
	}
	body, err := getJSON(ctx, s.name, s.client, s.url, h)
	if err != nil {
		return nil, err
	}
	addrs, err := parseConsulHealth(body)
	if err != nil {
		return nil, sourceError(s.name, err)
	}
	return addrs, nil
}

// consulHealthEntry is the part of one element of the response of
// /v1/health/service/<service> that we use.
type consulHealthEntry struct {
	Node struct {
		Address string `json:"Address"`
	} `json:"Node"`
	Service struct {
		Address string `json:"Address"`
		Port    int64  `json:"Port"`
	} `json:"Service"`
	Checks []struct {
		Status string `json:"Status"`
	} `json:"Checks"`
}

// parseConsulHealth turns a /v1/health/service response into addresses.
func parseConsulHealth(body []byte) ([]string, error) {
	var entries []consulHealthEntry
	if err := json.Unmarshal(body, &entries); err != nil {
		return nil, err
	}
	var addrs []string
	for _, e := range entries {
		if !allPassing(e) {
			continue
		}
		host := e.Service.Address
		if host == "" {
			host = e.Node.Address
		}
		if a, ok := hostPort(host, e.Service.Port); ok {
			addrs = append(addrs, a)
		}
	}
	return addrs, nil
}

// allPassing reports whether every check of e passes.
func allPassing(e consulHealthEntry) bool {
	for _, c := range e.Checks {
		if c.Status != "passing" {
			return false
		}
	}
	return true
}
