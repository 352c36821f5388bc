// Command mdns starts Macula nodes that find each other with multicast DNS
// alone: no bootstrap address, no seed node. Each node advertises itself as
// _macula._udp with its realm in the TXT record, browses for its realm, and
// joins whatever it finds; membership then spreads the rest.
//
//	go run ./examples/mdns -iface eth0
//
// Run it on a LAN interface with multicast. To try it on one machine
// without sending multicast onto a real network, run it inside a network
// namespace with a veth pair of its own (as root), as the test does:
//
//	ip netns add mdns-demo
//	ip -n mdns-demo link add demo0 type veth peer name demo1
//	ip -n mdns-demo link set demo1 up
//	ip -n mdns-demo link set demo0 multicast on up
//	ip -n mdns-demo addr add 10.78.0.1/24 dev demo0
//	ip -n mdns-demo route add 224.0.0.0/4 dev demo0
//	ip netns exec mdns-demo go run ./examples/mdns -iface demo0
//	ip netns del mdns-demo
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/org/macula"
)

func main() {
	iface := flag.String("iface", "", "network interface for mDNS and for the nodes' addresses (required)")
	nodes := flag.Int("nodes", 3, "how many nodes to start")
	timeout := flag.Duration("timeout", 30*time.Second, "how long to wait for the nodes to find each other")
	flag.Parse()
	if err := run(os.Stdout, *iface, *nodes, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "mdns demo:", err)
		os.Exit(1)
	}
}

func run(out io.Writer, ifaceName string, count int, timeout time.Duration) error {
	if ifaceName == "" {
		return errors.New("-iface is required: the interface to advertise and browse on")
	}
	ip, err := ipv4Of(ifaceName)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	nodes := make([]*macula.Node, 0, count)
	defer func() {
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Go(func() { _ = n.Close() })
		}
		wg.Wait()
	}()
	for i := range count {
		n, err := macula.New(
			macula.WithListenAddr(net.JoinHostPort(ip.String(), "0")),
			macula.WithMDNS(ifaceName), // no WithBootstrap: mDNS finds the others
		)
		if err != nil {
			return fmt.Errorf("start node %d: %w", i, err)
		}
		nodes = append(nodes, n)
		fmt.Fprintf(out, "node %d  %s  on %s, advertising on mDNS\n", i, n.ID().Short(), n.Addr())
	}

	for {
		done := true
		for _, n := range nodes {
			if len(n.Members()) != count {
				done = false
			}
		}
		if done {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nodes did not find each other within %v", timeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
	for i, n := range nodes {
		members := n.Members()
		sort.Slice(members, func(a, b int) bool { return members[a].ID.Compare(members[b].ID) < 0 })
		fmt.Fprintf(out, "node %d sees %d members:", i, len(members))
		for _, m := range members {
			fmt.Fprintf(out, " %s(%s)", m.ID.Short(), m.State)
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintf(out, "%d nodes found each other with mDNS alone\n", count)
	return nil
}

// ipv4Of returns the first IPv4 address of the named interface.
func ipv4Of(name string) (net.IP, error) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("interface %q: %w", name, err)
	}
	if ifc.Flags&net.FlagMulticast == 0 {
		return nil, fmt.Errorf("interface %q has no multicast", name)
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return nil, fmt.Errorf("interface %q: %w", name, err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			return ipn.IP.To4(), nil
		}
	}
	return nil, fmt.Errorf("interface %q has no IPv4 address", name)
}
