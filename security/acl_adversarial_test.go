package security

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// productionACL is the ACL of a realm with sensors, operators and one
// trusted service node, as an operator would write it.
const productionACL = `
default: deny
rules:
  # Nobody reads or writes secrets, whatever else they may do.
  - {effect: deny, subject: "*", action: "*", pattern: "sensors.secret.#"}
  # Sensors publish readings and nothing else.
  - {effect: allow, subject: role:sensor, action: publish, pattern: "sensors.*.reading"}
  # Operators watch everything under sensors and call any service.
  - {effect: allow, subject: role:operator, action: subscribe, pattern: "sensors.#"}
  - {effect: allow, subject: role:operator, action: call, pattern: "svc.#"}
  # Only the service node provides services.
  - {effect: allow, subject: node:SERVICE, action: register, pattern: "svc.#"}
  # Anyone in the realm may read the public feed.
  - {effect: allow, subject: realm:org.example.mesh, action: subscribe, pattern: "public.#"}
`

func TestACLAdversarial(t *testing.T) {
	const realm = "org.example.mesh"
	ca := newTestCA(t, realm)
	service := newTestIdentity(t)
	acl, err := ParseACL([]byte(strings.ReplaceAll(productionACL, "SERVICE", service.ID().String())))
	require.NoError(t, err)

	// subjectFor issues a certificate to a fresh node and returns the
	// subject peers derive from it after verification.
	subjectFor := func(id *Identity, roles ...string) Subject {
		cert, err := ca.IssueTLSCertificate(id, IssueOptions{Roles: roles})
		require.NoError(t, err)
		_, leaf, err := VerifyPeer(cert.Certificate, VerifyOptions{Realm: realm, RealmCA: ca.CertPool()})
		require.NoError(t, err)
		subj, err := SubjectOf(leaf, true)
		require.NoError(t, err)
		return subj
	}
	sensor := subjectFor(newTestIdentity(t), "sensor")
	operator := subjectFor(newTestIdentity(t), "operator")
	serviceSubj := subjectFor(service)
	plain := subjectFor(newTestIdentity(t))

	// A dev-mode peer writes its own certificate and claims "operator":
	// without a realm CA the claim is worthless and SubjectOf drops it.
	impostorID := newTestIdentity(t)
	tmpl := leafTmpl(t, realm, impostorID.ID())
	tmpl.Subject.OrganizationalUnit = []string{"operator"}
	impostorDER := selfSigned(t, impostorID, tmpl)
	_, impostorLeaf, err := VerifyPeer([][]byte{impostorDER}, VerifyOptions{Realm: realm})
	require.NoError(t, err) // dev mode lets it in...
	impostor, err := SubjectOf(impostorLeaf, false)
	require.NoError(t, err)
	require.Empty(t, impostor.Roles) // ...but not as an operator

	// A peer of another realm relayed through a gateway.
	foreign := Subject{ID: plain.ID, Realm: "org.other.mesh"}

	rows := []struct {
		attack string
		subj   Subject
		action Action
		name   string
		allow  bool
	}{
		// Well-behaved peers get what the ACL grants.
		{"sensor publishes its reading", sensor, ActionPublish, "sensors.kitchen.reading", true},
		{"operator watches all sensors", operator, ActionSubscribe, "sensors.#", false}, // sensors.secret.# is inside
		{"operator watches one room's readings", operator, ActionSubscribe, "sensors.kitchen.reading", true},
		{"operator watches a room, below secrets", operator, ActionSubscribe, "sensors.kitchen.#", true},
		{"operator calls a service", operator, ActionCall, "svc.restart", true},
		{"service node registers a service", serviceSubj, ActionRegister, "svc.restart", true},
		{"realm member reads the public feed", plain, ActionSubscribe, "public.#", true},

		// Attacks.
		{"sensor publishes a forged command", sensor, ActionPublish, "cmd.reboot", false},
		{"sensor publishes into the secret tree", sensor, ActionPublish, "sensors.secret.reading", false},
		{"sensor spoofs another kind of event", sensor, ActionPublish, "sensors.kitchen.alarm", false},
		{"sensor subscribes to everything", sensor, ActionSubscribe, "#", false},
		{"operator sniffs secrets with #", operator, ActionSubscribe, "#", false},
		{"operator sniffs secrets with a * segment", operator, ActionSubscribe, "sensors.*.#", false},
		{"operator sniffs secrets directly", operator, ActionSubscribe, "sensors.secret.key", false},
		{"operator sniffs secret readings among all readings", operator, ActionSubscribe, "sensors.*.reading", false},
		{"operator publishes as a sensor", operator, ActionPublish, "sensors.kitchen.reading", false},
		{"operator registers a fake service", operator, ActionRegister, "svc.restart", false},
		{"sensor calls a service", sensor, ActionCall, "svc.restart", false},
		{"service node touches secrets", serviceSubj, ActionRegister, "sensors.secret.rotate", false},
		{"dev-mode cert claims operator", impostor, ActionCall, "svc.restart", false},
		{"dev-mode cert claims operator to subscribe", impostor, ActionSubscribe, "sensors.*.reading", false},
		{"unknown peer calls", Subject{}, ActionCall, "svc.restart", false},
		{"unknown peer reads public feed", Subject{}, ActionSubscribe, "public.#", false},
		{"foreign realm reads public feed", foreign, ActionSubscribe, "public.news", false},
		{"sensor publishes on a system topic", sensor, ActionPublish, "_mesh.peer.connected", false},
		{"sensor smuggles a wildcard into publish", sensor, ActionPublish, "sensors.*.reading", false},
		{"sensor smuggles an empty segment", sensor, ActionPublish, "sensors..reading", false},
		{"sensor smuggles a trailing space", sensor, ActionPublish, "sensors.kitchen.reading ", false},
		{"sensor smuggles a NUL byte", sensor, ActionPublish, "sensors.kitchen.reading\x00", false},
		{"operator uses an invalid pattern", operator, ActionSubscribe, "sensors.#.reading", false},
		{"operator asks for every action at once", operator, ActionAny, "svc.restart", false},
		{"operator invents an action", operator, Action("admin"), "svc.restart", false},
	}
	for _, row := range rows {
		t.Run(row.attack, func(t *testing.T) {
			require.Equal(t, row.allow, acl.Allowed(row.subj, row.action, row.name))
			err := acl.Check(row.subj, row.action, row.name)
			if row.allow {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrACLDenied)

			// Every refusal is audited with who, what and on which name.
			var buf bytes.Buffer
			aud := NewAuditor(AuditConfig{Writer: &buf})
			aud.Record(AuditEventFromError(nil, err))
			require.NoError(t, aud.Close())
			var rec map[string]any
			require.NoError(t, json.Unmarshal(buf.Bytes(), &rec))
			require.Equal(t, string(AuditACLDenied), rec["kind"])
			require.Equal(t, string(row.action), rec["action"])
			require.Equal(t, row.name, rec["name"])
			if !row.subj.ID.IsZero() {
				require.Equal(t, row.subj.ID.String(), rec["peer"])
			}
		})
	}
}

func TestSubjectOfForgedCertificates(t *testing.T) {
	const realm = "org.example.mesh"
	victim := newTestIdentity(t)
	attacker := newTestIdentity(t)

	// The attacker's key, the victim's node ID in the SAN.
	forged := parseCert(t, selfSigned(t, attacker, leafTmpl(t, realm, victim.ID())))
	_, err := SubjectOf(forged, true)
	require.ErrorIs(t, err, ErrIdentityMismatch)

	// No macula SAN at all.
	tmpl := leafTmpl(t, realm, attacker.ID())
	tmpl.URIs = nil
	_, err = SubjectOf(parseCert(t, selfSigned(t, attacker, tmpl)), true)
	require.ErrorIs(t, err, ErrInvalidCertificate)

	// Two SANs, to confuse whoever reads the first.
	tmpl = leafTmpl(t, realm, attacker.ID())
	tmpl.URIs = append(tmpl.URIs, mustURL(t, URI{Realm: realm, NodeID: victim.ID()}.String()))
	_, err = SubjectOf(parseCert(t, selfSigned(t, attacker, tmpl)), true)
	require.ErrorIs(t, err, ErrInvalidCertificate)

	_, err = SubjectOf((*x509.Certificate)(nil), true)
	require.ErrorIs(t, err, ErrInvalidCertificate)
}
