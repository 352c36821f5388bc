// Package pubsub is Macula's publish/subscribe engine: subscriptions
// matched by topic patterns anywhere in a realm, with no broker.
//
// A node's subscriptions are stored in the DHT under their anchors (see
// package topic): one record per anchor per node, holding that node's
// patterns and queue groups (a protocol.Interest). To publish on a topic,
// a node resolves the topic's anchors through a directory cache that DHT
// watches keep fresh, keeps the subscriptions whose pattern matches, and
// sends the event once to each subscriber node, directly, on a long-lived
// event stream per peer with batched writes. The subscriber node fans the
// event out to its matching local subscriptions; local subscribers of the
// publishing node are served in-process.
//
// Delivery is at-most-once by default. At-least-once events are
// acknowledged by the subscriber node once every matching local handler
// has returned, resent by the publisher until then, and deduplicated by
// (publisher, sequence) at the subscriber; Publish returns once every
// subscriber node known at publish time has acknowledged, or an error
// naming those that did not.
//
// Each subscription has a bounded queue and its own goroutine, so a slow
// handler never holds up others: when its queue is full, at-most-once
// events are dropped and counted, and at-least-once events are left
// unacknowledged so that the publisher retries.
//
// Queue groups: subscriptions that share a group name receive each event
// once per group. The publisher picks one subscriber node per group
// (round robin) and names the groups it picked in the event; that node
// hands the event to one of its local members.
//
// Topics starting with '_' are reserved for the mesh's own events, such
// as _mesh.peer.connected: they are published locally by each node
// ([Service.PublishLocal]) and only patterns starting with '_' see them.
//
// # Usage
//
// A Service runs on a node's transport, DHT and directory cache; the root
// package wires them, and a service that assembles its own stack does so
// from public packages (see the example):
//
//	ps, err := pubsub.New(pubsub.Config{
//		Self:      id.ID(),
//		Realm:     "org.example.mesh",
//		Addrs:     []string{"192.0.2.1:4433"},
//		Network:   tr,  // *transport.Transport
//		Records:   dht, // *routing.DHT
//		Directory: dir, // *directory.Cache over the DHT
//	})
//	if err != nil {
//		return err
//	}
//	defer ps.Close()
//
//	sub, err := ps.Subscribe(ctx, "sensors.*.temp", func(ctx context.Context, ev *pubsub.Event) {
//		var celsius float64
//		_ = ev.Decode(&celsius)
//	})
//	if err != nil {
//		return err
//	}
//	defer sub.Unsubscribe()
//
//	err = ps.Publish(ctx, "sensors.kitchen.temp", 21.5, pubsub.WithQoS(pubsub.AtLeastOnce))
//
// Every method is safe for concurrent use.
package pubsub
