// Package routing is Macula's Kademlia DHT: realm-scoped, signed records
// through which publishers and callers find subscribers and providers
// without any server.
//
// # Keys and records
//
// A key is SHA-256("macula/1/<realm>/<kind>/<name>") ([KeyFor]), with the
// kinds [KindSub] (subscriptions, named by topic anchor), [KindRPC]
// (procedure providers) and [KindNode] (node addresses). Under one key
// every owner node may store one [Record]; the owner signs it with its
// Ed25519 identity and carries its public key, so every node verifies a
// record before storing it or handing it to a caller ([Record.Verify]).
// A record expires ([Config].TTL, default 300 s) unless its owner
// republishes it, which a started DHT does every TTL/2; a higher Seq
// replaces a lower one, and a tombstone ([DHT.Remove]) hides the records
// it replaces until it expires itself.
//
// # Routing
//
// The routing table is go-libp2p-kbucket with buckets of K (default 20)
// peers. As in kbucket, nodes and keys sit at SHA-256 of their 32 bytes,
// and distance is the XOR of those positions. Lookups are iterative, with
// Alpha (default 3) queries in flight, and end when the K closest nodes
// known have answered; every contact learned joins the table, and a node
// that fails a query leaves it. Records are stored on the K nodes closest
// to their key.
//
// The DHT does no networking itself: a [Querier] sends its queries (the
// node's QUIC layer, or an in-memory network in tests), and the layer
// that receives queries from peers answers them with [DHT.HandleFindNode],
// [DHT.HandleFindValue], [DHT.HandleStore] and [DHT.HandleWatch].
//
// Watches: [DHT.Watch] asks the [Config].WatchPeers (3) nodes closest to
// a key (and this node) to push the records they store under it whenever
// these change, for a lease it renews, and sends the merged live records on a channel, so a
// cache learns of a change one one-way trip after a storing node accepts
// it rather than at cache expiry. Over QUIC ([Serve], [QUICQuerier]) a
// watch is one StreamDHT stream carrying a Watch request and then
// WatchEvent frames until the lease ends. The Querier must also implement
// [Watcher].
//
// # Authorization and abuse limits
//
// Every storing node decides for itself what it keeps, so a modified
// peer cannot get around the rules by sending records directly: a STORE
// is refused when its sender is over its store rate ([Config].StoreRate,
// [ErrRateLimited]), when the record does not verify ([ErrBadSignature],
// [ErrExpired], [ErrWrongKey], [ErrInvalidRecord]), when
// [Config].AuthorizeStore refuses it ([ErrStoreRefused], for example an
// access-control list on who may subscribe or register what), and at the
// per-key and per-owner caps ([ErrLimit]). Each refusal reaches the sender
// as a protocol code that [ErrorFromCode] maps back to the sentinel, is
// reported to [Config].OnRecordRefused (an audit log's hook) and counted
// in [DHT.Stats]. Lookups and watches also drop records from other nodes
// that [Config].AuthorizeAnswer (by default AuthorizeStore) refuses, so a node that keeps a refused record of
// its own cannot hand it out either.
//
// Queries and watches are held to per-sender rates too
// ([Config].QueryRate, [Config].WatchRate): a FIND_NODE or FIND_VALUE over
// its sender's rate is answered with protocol.CodeRateLimited before any
// work, and a watch fails with [ErrRateLimited]. Refusals of all three
// rates are counted in [DHT.Stats] and reported, at most once a second
// per sender and kind, to [Config].OnLimitExceeded, where a node counts
// them toward banning the sender (the root package's Node passes them to
// its transport's Strike).
//
// # Usage
//
//	d, err := routing.New(routing.Config{
//		Self:     routing.Contact{ID: id.ID(), Addrs: []string{"192.0.2.1:4433"}},
//		Realm:    "org.example.mesh",
//		Identity: id,      // *security.Identity
//		Querier:  querier, // sends FIND_NODE, FIND_VALUE and STORE to peers
//	})
//	if err != nil {
//		return err
//	}
//	defer d.Close()
//	for _, c := range seeds { // from discovery, membership or handshakes
//		d.AddPeer(c)
//	}
//	if err := d.Bootstrap(ctx); err != nil {
//		return err
//	}
//	d.Start() // republish, expire, refresh, hand records to new close nodes
//
//	rec, err := d.NewRecord(routing.KindRPC, "billing.charge", providerInfo)
//	if err != nil {
//		return err
//	}
//	if err := d.Put(ctx, rec); err != nil { // republished until Remove
//		return err
//	}
//	providers, err := d.Get(ctx, routing.KeyFor("org.example.mesh", routing.KindRPC, "billing.charge"))
//
// Every method is safe for concurrent use. Errors wrap the sentinels of
// errors.go; test them with [errors.Is].
package routing
