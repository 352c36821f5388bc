// Package security holds Macula's identity and trust primitives: node
// identities, realms, Macula URIs, certificates, realm CAs, the single
// peer verification function both sides of every connection use, access
// control lists and the security audit log.
//
// A node's identity is an Ed25519 key pair ([Identity]); its [NodeID] is the
// SHA-256 of the public key, so a node can never claim an ID it holds no key
// for. Nodes belong to a realm, a reverse-DNS name such as
// "org.example.mesh" (see [ValidateRealm]). A node is named by a [URI],
// macula://<realm>/<node-id-hex>, optionally followed by @host:port.
//
// Every node presents an X.509 certificate for its key whose only
// macula:// URI SAN is its URI (without address). There are two modes:
//
//   - Dev mode, the default: each node makes a self-signed certificate with
//     [SelfSignedCertificate]; any node can join any realm.
//   - Production: a realm [CA] (see [NewRealmCA], [ParseCA]) issues node
//     certificates with [CA.Issue] or [CA.IssueTLSCertificate], and peers
//     require the chain to verify against the CA certificate.
//
// In both modes [VerifyPeer] checks the certificates a peer presented: the
// SAN's node ID is the hash of the certificate's key, the realm is ours, the
// certificate is within its validity period, it chains to the realm CA (in
// production) and, when dialling a known node, the peer is that node.
//
// # Access control and audit
//
// An [ACL] holds ordered allow and deny rules on subject (node ID, realm,
// certificate role or "*") × action (publish, subscribe, register, call)
// × topic or procedure pattern; the first matching rule wins, else the
// ACL's default. Build one with [NewACL] or read one from a JSON or YAML
// file with [ParseACL] / [LoadACL]. A peer's [Subject] comes from its
// verified certificate through [SubjectOf]; roles count only when the
// certificate chains to the realm CA. Subscriptions are patterns and are
// judged by every topic they could receive (see [ACL]).
//
// An [Auditor] writes security events ([AuditEvent]: handshake failures,
// certificate problems, realm mismatches, ACL denials, bad signatures,
// rate limits) as JSON lines and/or zap entries without ever blocking the
// caller; [ClassifyError] names the kind of a verification error.
//
// # Certificate tooling
//
// What a command-line tool needs: [NewRealmCA], [SaveCA] and [LoadCA] for
// the realm CA; [CA.Issue] with [IssueOptions] (roles, validity),
// [SaveCertificate] and [LoadTLSCertificate] for node certificates;
// [InspectCertificate] to describe one; [LoadCertPool] for the CA
// certificate on nodes.
//
// All errors wrap one of the sentinel errors declared in this package
// (ErrInvalidNodeID, ErrRealmMismatch, ...); test them with [errors.Is].
// No function panics on malformed input.
//
// # Usage
//
// Load or create the node's identity and make a dev-mode certificate:
//
//	id, created, err := security.LoadOrCreateIdentity("/var/lib/macula/node.key")
//	if err != nil { ... }
//	cert, err := security.SelfSignedCertificate(id, security.DefaultRealm, 0)
//
// Or, in production, issue it from the realm CA:
//
//	ca, err := security.ParseCA(caCertPEM, caKeyPEM)
//	cert, err := ca.IssueTLSCertificate(id, security.IssueOptions{Roles: []string{"sensor"}})
//	pool := ca.CertPool() // or security.CertPoolFromPEM(caCertPEM) on nodes without the CA key
//
// Then check peers from crypto/tls on both sides of the connection. Set
// ClientAuth to tls.RequireAnyClientCert on the server and
// InsecureSkipVerify on the client: VerifyPeer replaces crypto/tls's own
// chain and host name checks, which know nothing of Macula identities.
//
//	conf.VerifyPeerCertificate = func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
//		_, _, err := security.VerifyPeer(rawCerts, security.VerifyOptions{
//			Realm:      security.DefaultRealm,
//			RealmCA:    pool,       // nil in dev mode
//			ExpectedID: dialledID,  // zero when accepting
//		})
//		return err
//	}
//
// Judge what a verified peer attempts, and audit refusals:
//
//	acl, err := security.LoadACL("/etc/macula/acl.yaml")
//	subj, err := security.SubjectOf(leaf, pool != nil)
//	if err := acl.Check(subj, security.ActionPublish, topic); err != nil {
//		audit.Record(security.AuditEventFromError(remoteAddr, err))
//		return err // errors.Is(err, security.ErrACLDenied)
//	}
package security
