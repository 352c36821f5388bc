package security_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/org/macula/security"
)

func ExampleACL() {
	acl, err := security.NewACL(security.EffectDeny,
		security.DenyRule("*", security.ActionAny, "sensors.secret"),
		security.AllowRule("role:sensor", security.ActionPublish, "sensors.#"),
		security.AllowRule("role:operator", security.ActionSubscribe, "sensors.#"),
	)
	if err != nil {
		panic(err)
	}
	sensor := security.Subject{Realm: "org.example.mesh", Roles: []string{"sensor"}}
	operator := security.Subject{Realm: "org.example.mesh", Roles: []string{"operator"}}

	fmt.Println(acl.Allowed(sensor, security.ActionPublish, "sensors.kitchen.temp"))
	fmt.Println(acl.Allowed(sensor, security.ActionSubscribe, "sensors.kitchen.temp"))
	fmt.Println(acl.Allowed(operator, security.ActionSubscribe, "sensors.*.temp"))
	// "sensors.#" would receive sensors.secret.
	err = acl.Check(operator, security.ActionSubscribe, "sensors.#")
	fmt.Println(errors.Is(err, security.ErrACLDenied))
	fmt.Println(err)
	// Output:
	// true
	// false
	// true
	// true
	// macula: denied by acl: unknown node (realm org.example.mesh, roles [operator]) may not subscribe "sensors.#": rules[0] (deny * * sensors.secret)
}

func ExampleParseACL() {
	acl, err := security.ParseACL([]byte(`
default: deny
rules:
  - effect: allow
    subject: realm:org.example.mesh
    action: subscribe
    pattern: public.#
  - effect: allow
    subject: role:billing
    action: "*"
    pattern: billing.#
`))
	if err != nil {
		panic(err)
	}
	member := security.Subject{Realm: "org.example.mesh"}
	billing := security.Subject{Realm: "org.example.mesh", Roles: []string{"billing"}}
	fmt.Println(acl.Allowed(member, security.ActionSubscribe, "public.news"))
	fmt.Println(acl.Allowed(member, security.ActionCall, "billing.charge"))
	fmt.Println(acl.Allowed(billing, security.ActionCall, "billing.charge"))

	_, err = security.ParseACL([]byte(`{"default": "deny", "rules": [
		{"effect": "allow", "subject": "*", "action": "read", "pattern": "#"}]}`))
	fmt.Println(errors.Is(err, security.ErrInvalidACL))
	fmt.Println(err)
	// Output:
	// true
	// false
	// true
	// true
	// macula: invalid acl: rules[0] (allow * read #): action "read", want one of publish, subscribe, register, call or *
}

func ExampleAuditor() {
	audit := security.NewAuditor(security.AuditConfig{
		Writer: os.Stdout,
		Now:    func() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) }, // for a stable example
	})

	// As transport.Config.OnHandshakeFailure:
	remote := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 4433}
	audit.HandshakeFailure(remote, fmt.Errorf("handshake: %w: peer realm org.other", security.ErrRealmMismatch))

	// Where an ACL refuses an action:
	acl, err := security.NewACL(security.EffectDeny)
	if err != nil {
		panic(err)
	}
	if err := acl.Check(security.Subject{Realm: "org.example.mesh"}, security.ActionCall, "svc.get"); err != nil {
		audit.Record(security.AuditEventFromError(remote, err))
	}

	// Close writes what is queued and stops the writer goroutine.
	if err := audit.Close(); err != nil {
		panic(err)
	}
	fmt.Println(audit.Stats().Recorded, "records")
	// Output:
	// {"time":"2025-01-02T03:04:05Z","kind":"realm_mismatch","remote":"192.0.2.1:4433","reason":"handshake: macula: realm mismatch: peer realm org.other"}
	// {"time":"2025-01-02T03:04:05Z","kind":"acl_denied","remote":"192.0.2.1:4433","realm":"org.example.mesh","action":"call","name":"svc.get","reason":"macula: denied by acl: unknown node (realm org.example.mesh) may not call \"svc.get\": no rule matched and the default is deny"}
	// 2 records
}

func ExampleInspectCertificate() {
	ca, err := security.NewRealmCA("org.example.mesh", 0)
	if err != nil {
		panic(err)
	}
	node, err := security.GenerateIdentity()
	if err != nil {
		panic(err)
	}
	der, err := ca.Issue(node.PublicKey(), security.IssueOptions{ValidFor: 24 * time.Hour, Roles: []string{"sensor"}})
	if err != nil {
		panic(err)
	}

	info, err := security.InspectCertificate(security.EncodeCertificatePEM(der))
	if err != nil {
		panic(err)
	}
	fmt.Println(info.NodeID == node.ID(), info.Realm, info.Roles)
	fmt.Println(info.Issuer, info.SelfSigned, info.IsCA)
	fmt.Println(info.ValidAt(time.Now()), info.ValidAt(time.Now().Add(48*time.Hour)))
	// Output:
	// true org.example.mesh [sensor]
	// CN=org.example.mesh,O=Macula realm CA false false
	// true false
}
