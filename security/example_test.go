package security_test

import (
	"errors"
	"fmt"

	"github.com/org/macula/security"
)

func ExampleVerifyPeer() {
	ca, err := security.NewRealmCA("io.macula.demo", 0)
	if err != nil {
		panic(err)
	}
	node, err := security.GenerateIdentity()
	if err != nil {
		panic(err)
	}
	cert, err := ca.IssueTLSCertificate(node, security.IssueOptions{Roles: []string{"sensor"}})
	if err != nil {
		panic(err)
	}

	// What a peer in the same realm, trusting the realm CA, concludes.
	id, leaf, err := security.VerifyPeer(cert.Certificate, security.VerifyOptions{
		Realm:   "io.macula.demo",
		RealmCA: ca.CertPool(),
	})
	fmt.Println(err == nil, id == node.ID(), security.RolesOf(leaf))

	// A peer in another realm refuses the node.
	_, _, err = security.VerifyPeer(cert.Certificate, security.VerifyOptions{Realm: "io.macula.other"})
	fmt.Println(errors.Is(err, security.ErrRealmMismatch))

	// So does a peer that requires a CA but is given a self-signed certificate.
	selfSigned, err := security.SelfSignedCertificate(node, "io.macula.demo", 0)
	if err != nil {
		panic(err)
	}
	_, _, err = security.VerifyPeer(selfSigned.Certificate, security.VerifyOptions{
		Realm:   "io.macula.demo",
		RealmCA: ca.CertPool(),
	})
	fmt.Println(errors.Is(err, security.ErrUntrustedCertificate))
	// Output:
	// true true [sensor]
	// true
	// true
}

func ExampleParseURI() {
	u, err := security.ParseURI("macula://io.macula.demo/" +
		"00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF@[::1]:4433")
	if err != nil {
		panic(err)
	}
	fmt.Println(u.Realm)
	fmt.Println(u.NodeID.Short())
	fmt.Println(u.Addr)
	fmt.Println(u)
	// Output:
	// io.macula.demo
	// 00112233
	// [::1]:4433
	// macula://io.macula.demo/00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff@[::1]:4433
}
