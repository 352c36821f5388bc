// Package macula turns a Go program into a node of a secure,
// self-organising peer-to-peer mesh over QUIC. There is no broker and no
// sidecar: every process that calls [New] is a full node, talks to its
// peers directly over mutual TLS 1.3, and offers publish/subscribe and
// remote procedure calls to the whole mesh.
//
// # Quick start
//
// Two nodes in one program (in practice, one per process or machine): the
// second joins the first, subscribes with a wildcard, registers a
// procedure, and the first publishes and calls.
//
//	package main
//
//	import (
//		"context"
//		"fmt"
//		"log"
//		"time"
//
//		"github.com/org/macula"
//	)
//
//	func main() {
//		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
//		defer cancel()
//
//		a, err := macula.New(macula.WithListenAddr("127.0.0.1:0"))
//		if err != nil {
//			log.Fatal(err)
//		}
//		defer a.Close()
//		b, err := macula.New(macula.WithListenAddr("127.0.0.1:0"))
//		if err != nil {
//			log.Fatal(err)
//		}
//		defer b.Close()
//		if err := b.Join(ctx, a.URI()); err != nil {
//			log.Fatal(err)
//		}
//
//		got := make(chan string, 1)
//		sub, err := b.Subscribe(ctx, "sensors.*", func(_ context.Context, ev *macula.Event) {
//			var celsius float64
//			_ = ev.Decode(&celsius)
//			got <- fmt.Sprintf("%s = %.1f", ev.Topic, celsius)
//		})
//		if err != nil {
//			log.Fatal(err)
//		}
//		defer sub.Unsubscribe()
//		_, err = b.Register(ctx, "svc.add", func(_ context.Context, inv *macula.Invocation) (any, error) {
//			var xs []int
//			if err := inv.Decode(&xs); err != nil {
//				return nil, err
//			}
//			return xs[0] + xs[1], nil
//		})
//		if err != nil {
//			log.Fatal(err)
//		}
//
//		if err := a.Publish(ctx, "sensors.kitchen", 21.5, macula.WithQoS(macula.AtLeastOnce)); err != nil {
//			log.Fatal(err)
//		}
//		fmt.Println(<-got) // sensors.kitchen = 21.5
//
//		reply, err := a.Call(ctx, "svc.add", []int{2, 3})
//		if err != nil {
//			log.Fatal(err)
//		}
//		var sum int
//		_ = reply.Decode(&sum)
//		fmt.Println("2 + 3 =", sum, "from b:", reply.Provider == b.ID())
//	}
//
// The examples/ directory of the repository has runnable programs:
// quickstart (three nodes, pub/sub and calls), pubsub, rpc and mdns.
//
// # Concepts
//
// A node is identified by its [NodeID], the SHA-256 hash of its Ed25519
// public key. Its certificate names the node and its realm in a URI such
// as macula://org.example.mesh/<node-id>; [Node.URI] returns it, and
// [Node.Join] accepts it (pinning the node ID) or a plain "host:port".
// Without [WithIdentity] or [WithIdentityFile] a node makes a fresh
// identity each time it starts.
//
// A realm is a named mesh, a reverse-DNS name such as "org.example.mesh"
// ([WithRealm]; [DefaultRealm] otherwise). Nodes of different realms never
// connect ([ErrRealmMismatch]), and everything a node stores or publishes
// is scoped to its realm.
//
// Membership is SWIM with Lifeguard: every node knows every member of its
// realm, alive, suspect, dead or left ([Node.Members], [Node.WatchMembers]).
// Failure detection and gossip are UDP packets on the node's own socket,
// next to QUIC, sealed with the realm's gossip key. Connections are
// bounded: each node keeps k long-lived overlay links ([WithTopology]),
// and opens other connections on demand, closing them when idle
// ([Node.Peers] says why each one exists). A Kademlia DHT over the members
// ([Node.Routes]) stores where subscribers and providers are.
//
// Topics are dot-separated segments such as "sensors.kitchen.temp".
// Subscription patterns may use "*" for exactly one segment and a final
// "#" for one or more ("sensors.*", "sensors.#"). Topics beginning with
// "_" are reserved: "_mesh.#" carries this node's own system events
// ([TopicPeerConnected] and the others). [Node.Publish] sends each event
// once to every node with a matching subscription, directly; with
// [WithQoS]([AtLeastOnce]) it returns once every subscriber node has run
// its handlers and acknowledged, resending until then, and duplicates are
// suppressed ([AtMostOnce] is the default). [WithQueueGroup] shares a
// topic's events among a group's subscribers; [WithBuffer] bounds a slow
// subscriber's queue.
//
// Procedures are dot-separated names such as "svc.add". [Node.Register]
// serves one; [Node.Call] calls it on some provider in the realm, chosen
// by a [Policy] ([LocalFirst] by default, [RoundRobin], [Random],
// [LeastLatency]), failing over to another provider where that is safe
// ([WithIdempotent]); [Node.CallTo] calls one given node and [Node.Cast]
// sends without waiting for a result. Every node serves
// [HealthProcedure].
//
// Payloads are encoded by one rule everywhere: []byte as is, a
// proto.Message as protobuf, anything else as JSON; [Event.Decode],
// [Invocation.Decode] and [Reply.Decode] reverse it.
//
// # Security
//
// Every connection is QUIC with mutual TLS 1.3. Each side checks that the
// other's node ID is the hash of its certificate's key and that its realm
// matches. Without a realm CA any certificate of the realm is accepted
// (development mode, logged once as a warning); with [WithRealmCA] and
// [WithCertificate] only certificates issued by the realm's CA get in
// ([ErrUntrustedCertificate]). The security package creates identities,
// realm CAs and certificates. Gossip packets are sealed with AES-GCM
// under the realm's gossip key, handed to a joining node only after its
// certificate was verified; keys rotate with [Node.InstallGossipKey],
// [Node.UseGossipKey] and [Node.RemoveGossipKey]. An [WithACL] policy
// decides who may publish, subscribe, register and call what
// ([ErrACLDenied]); [WithMessageSigning] signs every event and call
// result with the sender's key; [WithAuditLog] records every decision.
//
// # Errors
//
// Every error the package returns wraps an exported sentinel, whether it
// arose on this node or was reported by a peer: test it with errors.Is
// (for example [ErrClosed], [ErrInvalidOption], [ErrInvalidTopic],
// [ErrNoProvider], [ErrMessageTooLarge], [ErrRealmMismatch]). Errors
// reported by a remote handler are a [*RemoteError] carrying an
// [ErrorCode]. Bad input from a peer (malformed or oversized frames,
// forged records, unknown procedures) is refused with such an error and
// never stops the node.
//
// # Lifecycle and concurrency
//
// [New] validates every option, then starts the node: it listens on one
// UDP socket (QUIC and gossip share it), and joins the addresses given by
// [WithBootstrap] and any discovery sources in the background. All
// methods of a [Node] are safe for concurrent use, and every call that may
// block takes a context.Context. [Node.Close] leaves the mesh gracefully
// (peers see the node as left, not dead), stops every goroutine the node
// started, and returns; after it every method returns [ErrClosed].
// Logging goes to the zap logger given by [WithLogger] (silent by
// default).
//
// # Where things live
//
// The Node composes the subsystems, each its own package, usable on its
// own: transport (QUIC connections, streams and the shared UDP socket),
// protocol (frames on the wire), security (identities, certificates,
// realms, ACLs, audit, signing), membership (SWIM), topology (the k-regular
// overlay), routing (the Kademlia DHT), pubsub, rpc, topic (topic and
// pattern syntax) and discovery (static, mDNS, DNS SRV, Consul,
// Kubernetes). docs/ARCHITECTURE.md in the repository explains how they
// fit together.
package macula
