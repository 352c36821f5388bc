package discovery

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// serviceAccountDir is where Kubernetes mounts a pod's service-account
// token, CA certificate and namespace. Tests point it elsewhere.
var serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// DefaultKubernetesAPIServer is the API server used when neither
// [KubernetesConfig.APIServer] nor the KUBERNETES_SERVICE_HOST and
// KUBERNETES_SERVICE_PORT environment variables say otherwise.
const DefaultKubernetesAPIServer = "https://kubernetes.default.svc"

// KubernetesConfig configures the Kubernetes [Source] returned by
// [Kubernetes]. The defaults suit a pod whose service account may list
// EndpointSlices in its namespace.
type KubernetesConfig struct {
	// APIServer is the base URL of the Kubernetes API. Default:
	// https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT when both
	// are set, else [DefaultKubernetesAPIServer].
	APIServer string
	// Namespace is the namespace of the Service. Default: the pod's own,
	// read from the service-account "namespace" file; it is an error if
	// that file cannot be read.
	Namespace string
	// Service is the name of the Service whose endpoints to return;
	// required.
	Service string
	// PortName selects the port of the endpoints by name. Default (empty):
	// every port the EndpointSlices list; set it when the Service has more
	// than one port.
	PortName string
	// TokenFile holds the bearer token. It is read again on every
	// Discover, because Kubernetes rotates service-account tokens; an
	// empty file sends no Authorization header. Default
	// /var/run/secrets/kubernetes.io/serviceaccount/token.
	TokenFile string
	// CAFile holds the PEM certificates that verify an https API server
	// when Client is nil; it is read once, by Kubernetes. Default
	// /var/run/secrets/kubernetes.io/serviceaccount/ca.crt.
	CAFile string
	// Client makes the requests; CAFile is not used when it is set.
	// Default: a client with a 10 s timeout per request that trusts
	// CAFile.
	Client *http.Client
}

// kubernetesSource is the Source returned by Kubernetes.
type kubernetesSource struct {
	name      string
	url       string
	portName  string
	tokenFile string
	client    *http.Client
}

// Kubernetes returns a [Source] named "kubernetes:<namespace>/<service>"
// that lists the EndpointSlices of a Service from the Kubernetes API:
// GET <APIServer>/apis/discovery.k8s.io/v1/namespaces/<ns>/endpointslices?labelSelector=kubernetes.io/service-name=<svc>.
// Each ready endpoint (conditions.ready not false) yields "address:port"
// for each of its addresses and each selected port (see
// [KubernetesConfig.PortName]).
//
// Discover fails, with an error wrapping [ErrSourceFailed], if the token
// file cannot be read, on transport errors, a status other than 200 or a
// body that is not the API's JSON. Invalid configurations, including an
// unreadable namespace or CA file when they are needed, yield an error
// wrapping [ErrInvalidConfig].
func Kubernetes(cfg KubernetesConfig) (Source, error) {
	if !isDNSLabel(cfg.Service) {
		return nil, configErrorf("kubernetes: Service %q is not a DNS label", cfg.Service)
	}
	if cfg.PortName != "" && !isDNSLabel(cfg.PortName) {
		return nil, configErrorf("kubernetes: PortName %q is not a DNS label", cfg.PortName)
	}
	ns := cfg.Namespace
	if ns == "" {
		b, err := os.ReadFile(filepath.Join(serviceAccountDir, "namespace"))
		if err != nil {
			return nil, configErrorf("kubernetes: no Namespace given and %v", err)
		}
		ns = strings.TrimSpace(string(b))
	}
	if !isDNSLabel(ns) {
		return nil, configErrorf("kubernetes: Namespace %q is not a DNS label", ns)
	}
	server := cfg.APIServer
	if server == "" {
		server = DefaultKubernetesAPIServer
		host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
		if host != "" && port != "" {
			server = "https://" + net.JoinHostPort(host, port)
		}
	}
	base, err := url.Parse(server)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" || base.RawQuery != "" || base.Fragment != "" {
		return nil, configErrorf("kubernetes: APIServer %q is not an http(s) base URL", server)
	}
	u := *base
	u.Path = strings.TrimSuffix(base.Path, "/") + "/apis/discovery.k8s.io/v1/namespaces/" + ns + "/endpointslices"
	u.RawPath = ""
	u.RawQuery = url.Values{"labelSelector": {"kubernetes.io/service-name=" + cfg.Service}}.Encode()

	tokenFile := cfg.TokenFile
	if tokenFile == "" {
		tokenFile = filepath.Join(serviceAccountDir, "token")
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{Timeout: defaultHTTPTimeout}
		if base.Scheme == "https" {
			caFile := cfg.CAFile
			if caFile == "" {
				caFile = filepath.Join(serviceAccountDir, "ca.crt")
			}
			pem, err := os.ReadFile(caFile)
			if err != nil {
				return nil, configErrorf("kubernetes: CAFile: %v", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, configErrorf("kubernetes: CAFile %s holds no PEM certificate", caFile)
			}
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
			client.Transport = tr
		}
	}
	return &kubernetesSource{
		name:      "kubernetes:" + ns + "/" + cfg.Service,
		url:       u.String(),
		portName:  cfg.PortName,
		tokenFile: tokenFile,
		client:    client,
	}, nil
}

// isDNSLabel reports whether s is an RFC 1123 label as Kubernetes names
// require: 1 to 63 lower-case letters, digits and '-', starting and ending
// with a letter or digit.
func isDNSLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// Name returns "kubernetes:<namespace>/<service>".
func (s *kubernetesSource) Name() string { return s.name }

// Discover lists the Service's ready endpoints; see [Kubernetes].
func (s *kubernetesSource) Discover(ctx context.Context) ([]string, error) {
	token, err := os.ReadFile(s.tokenFile)
	if err != nil {
		return nil, sourceErrorf(s.name, "read token: %v", err)
	}
	token = bytes.TrimSpace(token)
	if bytes.ContainsAny(token, "\r\n") {
		return nil, sourceErrorf(s.name, "token file %s holds more than one line", s.tokenFile)
	}
	h := http.Header{}
	if len(token) > 0 {
		h.Set("Authorization", "Bearer "+string(token))
	}
	body, err := getJSON(ctx, s.name, s.client, s.url, h)
	if err != nil {
		return nil, err
	}
	addrs, err := parseEndpointSlices(body, s.portName)
	if err != nil {
		return nil, sourceError(s.name, err)
	}
	return addrs, nil
}

// endpointSliceList is the part of a discovery.k8s.io/v1 EndpointSliceList
// that we use.
type endpointSliceList struct {
	Items []struct {
		AddressType string `json:"addressType"`
		Endpoints   []struct {
			Addresses  []string `json:"addresses"`
			Conditions struct {
				Ready *bool `json:"ready"`
			} `json:"conditions"`
		} `json:"endpoints"`
		Ports []struct {
			Name *string `json:"name"`
			Port *int64  `json:"port"`
		} `json:"ports"`
	} `json:"items"`
}

// parseEndpointSlices turns an EndpointSliceList into addresses of ready
// endpoints on the ports named portName (every port if it is empty).
func parseEndpointSlices(body []byte, portName string) ([]string, error) {
	var list endpointSliceList
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, err
	}
	var addrs []string
	for _, slice := range list.Items {
		switch slice.AddressType {
		case "IPv4", "IPv6", "FQDN":
		default:
			continue
		}
		var ports []int64
		for _, p := range slice.Ports {
			name := ""
			if p.Name != nil {
				name = *p.Name
			}
			if p.Port != nil && (portName == "" || name == portName) {
				ports = append(ports, *p.Port)
			}
		}
		for _, ep := range slice.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, host := range ep.Addresses {
				for _, port := range ports {
					if a, ok := hostPort(host, port); ok {
						addrs = append(addrs, a)
					}
				}
			}
		}
	}
	return addrs, nil
}
