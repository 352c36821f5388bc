package discovery

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// endpointSlicesJSON is an EndpointSliceList as the API server returns it
// for labelSelector=kubernetes.io/service-name=macula in namespace mesh:
// two slices (IPv4, IPv6) of a Service with two named ports, with a
// not-ready (terminating) endpoint and one of unknown readiness.
const endpointSlicesJSON = `{
  "kind": "EndpointSliceList",
  "apiVersion": "discovery.k8s.io/v1",
  "metadata": {"resourceVersion": "123456"},
  "items": [
    {
      "metadata": {
        "name": "macula-7xk2p",
        "generateName": "macula-",
        "namespace": "mesh",
        "uid": "5e1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",
        "resourceVersion": "123450",
        "generation": 7,
        "creationTimestamp": "2025-01-02T03:04:05Z",
        "labels": {
          "app.kubernetes.io/name": "macula",
          "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
          "kubernetes.io/service-name": "macula"
        },
        "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": "2025-01-02T03:04:05Z"},
        "ownerReferences": [
          {"apiVersion": "v1", "kind": "Service", "name": "macula", "uid": "0a1b2c3d-0000-0000-0000-000000000001", "controller": true, "blockOwnerDeletion": true}
        ],
        "managedFields": [
          {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "discovery.k8s.io/v1", "time": "2025-01-02T03:04:05Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:addressType": {}}}
        ]
      },
      "addressType": "IPv4",
      "endpoints": [
        {
          "addresses": ["10.244.1.5"],
          "conditions": {"ready": true, "serving": true, "terminating": false},
          "hostname": "macula-0",
          "targetRef": {"kind": "Pod", "namespace": "mesh", "name": "macula-0", "uid": "11111111-2222-3333-4444-555555555555"},
          "nodeName": "worker-1",
          "zone": "eu-west-1a",
          "hints": {"forZones": [{"name": "eu-west-1a"}]}
        },
        {
          "addresses": ["10.244.2.7"],
          "conditions": {"ready": false, "serving": true, "terminating": true},
          "targetRef": {"kind": "Pod", "namespace": "mesh", "name": "macula-1", "uid": "22222222-2222-3333-4444-555555555555"},
          "nodeName": "worker-2",
          "zone": "eu-west-1b"
        },
        {
          "addresses": ["10.244.3.9"],
          "conditions": {},
          "targetRef": {"kind": "Pod", "namespace": "mesh", "name": "macula-2", "uid": "33333333-2222-3333-4444-555555555555"},
          "nodeName": "worker-3"
        }
      ],
      "ports": [
        {"name": "quic", "protocol": "UDP", "port": 4433},
        {"name": "metrics", "protocol": "TCP", "port": 9090, "appProtocol": "http"}
      ]
    },
    {
      "metadata": {
        "name": "macula-v6abc",
        "generateName": "macula-",
        "namespace": "mesh",
        "labels": {"kubernetes.io/service-name": "macula"}
      },
      "addressType": "IPv6",
      "endpoints": [
        {
          "addresses": ["fd00:10:244::5"],
          "conditions": {"ready": true, "serving": true, "terminating": false},
          "targetRef": {"kind": "Pod", "namespace": "mesh", "name": "macula-0", "uid": "11111111-2222-3333-4444-555555555555"},
          "nodeName": "worker-1"
        }
      ],
      "ports": [
        {"name": "quic", "protocol": "UDP", "port": 4433},
        {"name": "metrics", "protocol": "TCP", "port": 9090}
      ]
    }
  ]
}`

// k8sStatusJSON is the body the API server sends with a 403.
const k8sStatusJSON = `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"endpointslices.discovery.k8s.io is forbidden: User \"system:serviceaccount:mesh:default\" cannot list resource \"endpointslices\" in API group \"discovery.k8s.io\" in the namespace \"mesh\"","reason":"Forbidden","details":{"group":"discovery.k8s.io","kind":"endpointslices"},"code":403}`

// k8sAPI imitates the API server's EndpointSlice list endpoint.
type k8sAPI struct {
	token    string // the bearer token it accepts
	requests chan *http.Request
}

func (k *k8sAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k.requests <- r
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Authorization") != "Bearer "+k.token {
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(k8sStatusJSON))
		return
	}
	if r.URL.Path != "/apis/discovery.k8s.io/v1/namespaces/mesh/endpointslices" ||
		r.URL.Query().Get("labelSelector") != "kubernetes.io/service-name=macula" {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1","metadata":{"resourceVersion":"1"},"items":[]}`))
		return
	}
	_, _ = w.Write([]byte(endpointSlicesJSON))
}

// newK8sAPI starts a TLS API server and writes its CA certificate and a
// token file into a service-account directory.
func newK8sAPI(t *testing.T, token string) (api *k8sAPI, srv *httptest.Server, dir string) {
	api = &k8sAPI{token: token, requests: make(chan *http.Request, 10)}
	srv = httptest.NewTLSServer(api)
	t.Cleanup(srv.Close)
	dir = t.TempDir()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ca.crt"), caPEM, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "token"), []byte(token+"\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "namespace"), []byte("mesh"), 0o600))
	return api, srv, dir
}

func TestKubernetes(t *testing.T) {
	api, srv, dir := newK8sAPI(t, "token-1")
	src, err := Kubernetes(KubernetesConfig{
		APIServer: srv.URL,
		Namespace: "mesh",
		Service:   "macula",
		PortName:  "quic",
		TokenFile: filepath.Join(dir, "token"),
		CAFile:    filepath.Join(dir, "ca.crt"),
	})
	require.NoError(t, err)
	require.Equal(t, "kubernetes:mesh/macula", src.Name())

	got, err := src.Discover(context.Background())
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"10.244.1.5:4433", "10.244.3.9:4433", "[fd00:10:244::5]:4433"}, got,
		"the terminating endpoint is left out; unknown readiness counts as ready")
	r := <-api.requests
	require.Equal(t, "Bearer token-1", r.Header.Get("Authorization"))
	require.Equal(t, "application/json", r.Header.Get("Accept"))
	require.Equal(t, "kubernetes.io/service-name=macula", r.URL.Query().Get("labelSelector"))

	// The token rotates: Kubernetes swaps the file; the next call uses the
	// new one.
	api.token = "token-2"
	tmp := filepath.Join(dir, "token.new")
	require.NoError(t, os.WriteFile(tmp, []byte("token-2"), 0o600))
	require.NoError(t, os.Rename(tmp, filepath.Join(dir, "token")))
	got, err = src.Discover(context.Background())
	require.NoError(t, err)
	require.Len(t, got, 3)
	r = <-api.requests
	require.Equal(t, "Bearer token-2", r.Header.Get("Authorization"))
}

func TestKubernetesDefaults(t *testing.T) {
	api, srv, dir := newK8sAPI(t, "tok")
	old := serviceAccountDir
	serviceAccountDir = dir
	t.Cleanup(func() { serviceAccountDir = old })
	host, port, ok := strings.Cut(srv.Listener.Addr().String(), ":")
	require.True(t, ok)
	t.Setenv("KUBERNETES_SERVICE_HOST", host)
	t.Setenv("KUBERNETES_SERVICE_PORT", port)

	src, err := Kubernetes(KubernetesConfig{Service: "macula"})
	require.NoError(t, err)
	require.Equal(t, "kubernetes:mesh/macula", src.Name())
	got, err := src.Discover(context.Background())
	require.NoError(t, err)
	require.ElementsMatch(t, []string{
		"10.244.1.5:4433", "10.244.1.5:9090", "10.244.3.9:4433", "10.244.3.9:9090",
		"[fd00:10:244::5]:4433", "[fd00:10:244::5]:9090",
	}, got, "without PortName every port is used")
	require.Equal(t, "Bearer tok", (<-api.requests).Header.Get("Authorization"))

	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	src, err = Kubernetes(KubernetesConfig{Service: "macula"})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(src.(*kubernetesSource).url, DefaultKubernetesAPIServer+"/apis/"))
	require.Equal(t, "https://kubernetes.default.svc", DefaultKubernetesAPIServer)

	require.NoError(t, os.Remove(filepath.Join(dir, "namespace")))
	_, err = Kubernetes(KubernetesConfig{Service: "macula"})
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.ErrorContains(t, err, "Namespace")
}

func TestKubernetesEmptyTokenSendsNoHeader(t *testing.T) {
	var auth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Values("Authorization")
		_, _ = w.Write([]byte(`{"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1","metadata":{},"items":[]}`))
	}))
	defer srv.Close()
	token := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(token, nil, 0o600))
	src, err := Kubernetes(KubernetesConfig{APIServer: srv.URL, Namespace: "mesh", Service: "macula", TokenFile: token})
	require.NoError(t, err)
	got, err := src.Discover(context.Background())
	require.NoError(t, err)
	require.Empty(t, got)
	require.Empty(t, auth)
}

func TestKubernetesFailures(t *testing.T) {
	api, srv, dir := newK8sAPI(t, "right")
	newSrc := func(t *testing.T, url, token string) Source {
		tf := filepath.Join(t.TempDir(), "token")
		require.NoError(t, os.WriteFile(tf, []byte(token), 0o600))
		src, err := Kubernetes(KubernetesConfig{APIServer: url, Namespace: "mesh", Service: "macula",
			TokenFile: tf, CAFile: filepath.Join(dir, "ca.crt")})
		require.NoError(t, err)
		return src
	}

	t.Run("forbidden", func(t *testing.T) {
		_, err := newSrc(t, srv.URL, "wrong").Discover(context.Background())
		require.ErrorIs(t, err, ErrSourceFailed)
		require.ErrorContains(t, err, "403")
		require.ErrorContains(t, err, "kubernetes:mesh/macula")
		<-api.requests
	})
	t.Run("token file missing", func(t *testing.T) {
		src, err := Kubernetes(KubernetesConfig{APIServer: srv.URL, Namespace: "mesh", Service: "macula",
			TokenFile: filepath.Join(dir, "nope"), CAFile: filepath.Join(dir, "ca.crt")})
		require.NoError(t, err)
		_, err = src.Discover(context.Background())
		require.ErrorIs(t, err, ErrSourceFailed)
		require.ErrorContains(t, err, "token")
	})
	t.Run("token with two lines", func(t *testing.T) {
		_, err := newSrc(t, srv.URL, "a\nb").Discover(context.Background())
		require.ErrorIs(t, err, ErrSourceFailed)
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		otherCA := filepath.Join(t.TempDir(), "ca.crt")
		require.NoError(t, os.WriteFile(otherCA, selfSignedPEM(t), 0o600))
		tf := filepath.Join(t.TempDir(), "token")
		require.NoError(t, os.WriteFile(tf, []byte("right"), 0o600))
		src, err := Kubernetes(KubernetesConfig{APIServer: srv.URL, Namespace: "mesh", Service: "macula",
			TokenFile: tf, CAFile: otherCA})
		require.NoError(t, err)
		_, err = src.Discover(context.Background())
		require.ErrorIs(t, err, ErrSourceFailed)
		require.ErrorContains(t, err, "certificate")
	})
	for _, tc := range []struct {
		desc   string
		status int
		body   string
	}{
		{"HTTP 500", http.StatusInternalServerError, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"etcdserver: request timed out","code":500}`},
		{"malformed JSON", http.StatusOK, `{"kind":"EndpointSliceList","items":[{"endpoints":[{"addresses":["10.0.0.1"`},
		{"items not a list", http.StatusOK, `{"kind":"EndpointSliceList","items":{}}`},
		{"port too large for JSON number type", http.StatusOK, `{"items":[{"ports":[{"port":1e400}]}]}`},
		{"not JSON", http.StatusOK, `<html>proxy error</html>`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer bad.Close()
			_, err := newSrc(t, bad.URL, "right").Discover(context.Background())
			require.ErrorIs(t, err, ErrSourceFailed)
		})
	}
}

func TestParseEndpointSlices(t *testing.T) {
	got, err := parseEndpointSlices([]byte(endpointSlicesJSON), "metrics")
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"10.244.1.5:9090", "10.244.3.9:9090", "[fd00:10:244::5]:9090"}, got)

	got, err = parseEndpointSlices([]byte(endpointSlicesJSON), "absent")
	require.NoError(t, err)
	require.Empty(t, got)

	got, err = parseEndpointSlices([]byte(`{"items":[
		{"addressType":"FQDN","endpoints":[{"addresses":["macula-0.macula.mesh.svc.cluster.local"]}],"ports":[{"port":4433}]},
		{"addressType":"IPv4","endpoints":[{"addresses":["10.0.0.1","bogus addr",""]}],"ports":[{"name":"quic","port":4433},{"name":"all"},{"port":0}]},
		{"addressType":"Unknown","endpoints":[{"addresses":["10.0.0.2"]}],"ports":[{"port":1}]},
		{"addressType":"IPv4","endpoints":[{"addresses":["10.0.0.3"],"conditions":{"ready":null}}],"ports":[{"port":3}]}
	]}`), "")
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"macula-0.macula.mesh.svc.cluster.local:4433", "10.0.0.1:4433", "10.0.0.3:3"}, got)

	var list map[string]any
	require.NoError(t, json.Unmarshal([]byte(endpointSlicesJSON), &list), "the fixture is valid JSON")
}

func TestKubernetesConfig(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.crt")
	require.NoError(t, os.WriteFile(ca, []byte("not PEM"), 0o600))
	for name, cfg := range map[string]KubernetesConfig{
		"no service":         {Namespace: "mesh", APIServer: "http://k"},
		"service upper case": {Namespace: "mesh", Service: "Macula", APIServer: "http://k"},
		"service slash":      {Namespace: "mesh", Service: "a/b", APIServer: "http://k"},
		"namespace dots":     {Namespace: "..", Service: "macula", APIServer: "http://k"},
		"namespace long":     {Namespace: strings.Repeat("a", 64), Service: "macula", APIServer: "http://k"},
		"port name":          {Namespace: "mesh", Service: "macula", PortName: "-x", APIServer: "http://k"},
		"bad server":         {Namespace: "mesh", Service: "macula", APIServer: "ftp://k"},
		"server query":       {Namespace: "mesh", Service: "macula", APIServer: "https://k/?a=b"},
		"CA not PEM":         {Namespace: "mesh", Service: "macula", APIServer: "https://k", CAFile: ca},
		"CA missing":         {Namespace: "mesh", Service: "macula", APIServer: "https://k", CAFile: filepath.Join(dir, "none")},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Kubernetes(cfg)
			require.ErrorIs(t, err, ErrInvalidConfig)
		})
	}

	// With a client of its own, or over plain HTTP, no CA file is needed.
	src, err := Kubernetes(KubernetesConfig{Namespace: "mesh", Service: "macula", APIServer: "https://k:6443/base/", Client: http.DefaultClient})
	require.NoError(t, err)
	require.Equal(t, "https://k:6443/base/apis/discovery.k8s.io/v1/namespaces/mesh/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dmacula",
		src.(*kubernetesSource).url)
	_, err = Kubernetes(KubernetesConfig{Namespace: "mesh", Service: "macula", APIServer: "http://127.0.0.1:8001"})
	require.NoError(t, err)
}

// selfSignedPEM returns a fresh self-signed CA certificate in PEM form.
func selfSignedPEM(t *testing.T) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "other CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// FuzzEndpointSlices feeds arbitrary bytes to the EndpointSliceList parser:
// it must never panic and must only return usable host:port addresses.
func FuzzEndpointSlices(f *testing.F) {
	// Small seeds: the fuzzer minimizes every new input it finds
	// interesting, which takes long on a large one.
	f.Add([]byte(`{"kind":"EndpointSliceList","items":[{"addressType":"IPv4","endpoints":[{"addresses":["10.0.0.1"],"conditions":{"ready":true}},{"addresses":["10.0.0.2"],"conditions":{"ready":false}}],"ports":[{"name":"quic","protocol":"UDP","port":4433}]}]}`), "quic")
	f.Add([]byte(`{"items":[{"addressType":"IPv6","endpoints":[{"addresses":["fd00::1"]}],"ports":[{"port":1},{"name":"b","port":2}]}]}`), "")
	f.Add([]byte(`{"items":[{"addressType":"FQDN","endpoints":[{"addresses":["a.b"]}],"ports":[{"port":1}]}]}`), "")
	f.Add([]byte(`{"items":null}`), "x")
	f.Fuzz(func(t *testing.T, b []byte, portName string) {
		addrs, err := parseEndpointSlices(b, portName)
		if err != nil {
			require.Empty(t, addrs)
		}
		for _, a := range addrs {
			requireHostPort(t, a)
		}
	})
}
