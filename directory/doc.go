// Package directory keeps a node's cache of DHT records that pub/sub and
// RPC read on every publish and call: the subscribers of a topic anchor,
// the providers of a procedure.
//
// The first lookup of a key starts a DHT watch and waits for its first,
// complete set; later lookups read memory, and the watch keeps the entry
// fresh, so a new subscription or a withdrawn registration is seen within
// a round trip of the storing nodes. Idle entries are dropped, and each
// watch is renewed from a fresh lookup now and then so that it follows the
// nodes that store the key as the mesh changes. Records of owners marked
// down (dead or departed members) are hidden until they are marked up.
//
// This package also declares the two seams through which pub/sub and RPC
// use records: [Records], where a service publishes this node's own
// (*routing.DHT implements it), and [Resolver], where it reads the
// others' ([*Cache] implements it). A [*Cache] is the Directory of both
// pubsub.Config and rpc.Config: one cache per node, shared by the two,
// over the node's *routing.DHT. The
// root package wires it so; this package is public so that a service can
// assemble transport, routing, directory, pubsub and rpc itself.
//
// # Usage
//
//	dir, err := directory.New(directory.Config{Source: dht}) // *routing.DHT
//	if err != nil {
//		return err
//	}
//	defer dir.Close()
//
//	recs, err := dir.Lookup(ctx, routing.KeyFor(realm, routing.KindRPC, "math.add"))
//
//	// Follow membership: hide the records of a member that died or left.
//	dir.SetDown(id, true)
//
// Every method is safe for concurrent use.
package directory
