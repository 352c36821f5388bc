package transport

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"sync"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
)

// verifyResult records the outcome of the certificate check made inside a
// TLS callback, so the caller can return the precise, errors.Is-able reason
// instead of whatever the TLS stack wraps it in.
type verifyResult struct {
	mu  sync.Mutex
	err error
}

func (r *verifyResult) set(err error) {
	r.mu.Lock()
	r.err = err
	r.mu.Unlock()
}

func (r *verifyResult) get() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// verifyOptions are the checks made on every peer certificate, on both sides.
func (t *Transport) verifyOptions(expected security.NodeID) security.VerifyOptions {
	return security.VerifyOptions{Realm: t.cfg.Realm, RealmCA: t.cfg.RealmCA, ExpectedID: expected}
}

// certificate returns the certificate currently presented to peers.
func (t *Transport) certificate() *tls.Certificate { return t.cert.Load() }

// clientTLS is the TLS configuration for one outbound connection. The peer's
// certificate is checked by security.VerifyPeer (InsecureSkipVerify only turns
// off crypto/tls's web-PKI checks, which do not apply to node certificates).
func (t *Transport) clientTLS(remote net.Addr, expected security.NodeID, res *verifyResult) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		NextProtos:         []string{protocol.ALPN},
		ServerName:         "macula",
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyPeerCertificate below
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return t.certificate(), nil
		},
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			_, _, err := security.VerifyPeer(raw, t.verifyOptions(expected))
			if err != nil {
				res.set(err)
				t.handshakeFailed(remote, err)
			}
			return err
		},
	}
}

// serverTLS is the listener's TLS configuration. It builds one configuration
// per incoming connection so that a refusal can be reported with the remote
// address.
func (t *Transport) serverTLS() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		NextProtos: []string{protocol.ALPN},
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			var remote net.Addr
			if hello.Conn != nil {
				remote = hello.Conn.RemoteAddr()
			}
			return &tls.Config{
				MinVersion: tls.VersionTLS13,
				NextProtos: []string{protocol.ALPN},
				ClientAuth: tls.RequireAnyClientCert,
				GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
					return t.certificate(), nil
				},
				VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
					_, _, err := security.VerifyPeer(raw, t.verifyOptions(security.NodeID{}))
					if err != nil {
						t.handshakeFailed(remote, err)
					}
					return err
				},
			}, nil
		},
	}
}

// peerIDFromState returns the node ID proven by the verified TLS handshake.
func peerIDFromState(cs tls.ConnectionState, opts security.VerifyOptions) (security.NodeID, error) {
	raw := make([][]byte, 0, len(cs.PeerCertificates))
	for _, c := range cs.PeerCertificates {
		raw = append(raw, c.Raw)
	}
	id, _, err := security.VerifyPeer(raw, opts)
	return id, err
}
