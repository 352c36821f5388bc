// Command secure runs a small realm the production way, in one process on
// 127.0.0.1: a realm CA, node certificates carrying roles, and the ACL in
// acl.yaml enforced on every node.
//
//   - the controller (role controller) serves control.valve.open;
//   - the sensor (role sensor) publishes readings;
//   - the operator (role operator) subscribes to readings and calls the
//     valve; its attempt to publish a fake reading is refused.
//
// Run it with:
//
//	go run ./examples/secure
package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/org/macula"
	"github.com/org/macula/security"
)

//go:embed acl.yaml
var aclYAML []byte

const realm = "org.example.plant"

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "secure:", err)
		os.Exit(1)
	}
}

func run(out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// One CA for the realm (in production: `macula cert ca`, kept offline),
	// one certificate per node with its role (`macula cert issue --roles`).
	ca, err := security.NewRealmCA(realm, 24*time.Hour)
	if err != nil {
		return err
	}
	acl, err := security.ParseACL(aclYAML)
	if err != nil {
		return err
	}
	var nodes []*macula.Node
	defer func() {
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Go(func() { _ = n.Close() })
		}
		wg.Wait()
	}()
	start := func(role string) (*macula.Node, error) {
		id, err := security.GenerateIdentity()
		if err != nil {
			return nil, err
		}
		cert, err := ca.IssueTLSCertificate(id, security.IssueOptions{Roles: []string{role}, ValidFor: time.Hour})
		if err != nil {
			return nil, err
		}
		n, err := macula.New(
			macula.WithRealm(realm),
			macula.WithListenAddr("127.0.0.1:0"),
			macula.WithIdentity(id),
			macula.WithCertificate(cert),
			macula.WithRealmCA(ca.CertPool()),
			macula.WithACL(acl),
		)
		if err != nil {
			return nil, fmt.Errorf("start %s: %w", role, err)
		}
		nodes = append(nodes, n)
		fmt.Fprintf(out, "%-10s %s\n", role, n.ID().Short())
		return n, nil
	}
	controller, err := start("controller")
	if err != nil {
		return err
	}
	sensor, err := start("sensor")
	if err != nil {
		return err
	}
	operator, err := start("operator")
	if err != nil {
		return err
	}
	for _, n := range []*macula.Node{sensor, operator} {
		if err := n.Join(ctx, controller.URI()); err != nil {
			return err
		}
	}

	// A node without a certificate from the CA cannot even connect.
	intruder, err := macula.New(macula.WithRealm(realm), macula.WithListenAddr("127.0.0.1:0"))
	if err != nil {
		return err
	}
	nodes = append(nodes, intruder)
	err = intruder.Join(ctx, controller.URI())
	fmt.Fprintf(out, "intruder joins: refused=%v\n", err != nil)
	if err == nil {
		return errors.New("a self-signed node joined a CA realm")
	}

	if _, err := controller.Register(ctx, "control.valve.open", func(context.Context, *macula.Invocation) (any, error) {
		return "valve open", nil
	}); err != nil {
		return fmt.Errorf("controller registers: %w", err)
	}
	readings := make(chan string, 1)
	if _, err := operator.Subscribe(ctx, "readings.#", func(_ context.Context, ev *macula.Event) {
		var v float64
		_ = ev.Decode(&v)
		readings <- fmt.Sprintf("%s = %.1f", ev.Topic, v)
	}); err != nil {
		return fmt.Errorf("operator subscribes: %w", err)
	}
	if err := sensor.Publish(ctx, "readings.pressure", 4.2, macula.WithQoS(macula.AtLeastOnce)); err != nil {
		return fmt.Errorf("sensor publishes: %w", err)
	}
	fmt.Fprintf(out, "operator got %s\n", <-readings)

	reply, err := operator.Call(ctx, "control.valve.open", nil)
	if err != nil {
		return fmt.Errorf("operator calls: %w", err)
	}
	var answer string
	_ = reply.Decode(&answer)
	fmt.Fprintf(out, "operator called control.valve.open: %s\n", answer)

	err = operator.Publish(ctx, "readings.pressure", 0.0)
	fmt.Fprintf(out, "operator publishes a reading: denied=%v\n", errors.Is(err, macula.ErrACLDenied))
	if !errors.Is(err, macula.ErrACLDenied) {
		return fmt.Errorf("want ErrACLDenied, got %v", err)
	}
	_, err = sensor.Call(ctx, "control.valve.open", nil)
	fmt.Fprintf(out, "sensor calls the valve: denied=%v\n", errors.Is(err, macula.ErrACLDenied))
	if !errors.Is(err, macula.ErrACLDenied) {
		return fmt.Errorf("want ErrACLDenied, got %v", err)
	}
	return nil
}
