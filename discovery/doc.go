// Package discovery finds bootstrap addresses for a Macula node and keeps
// finding them while the node runs.
//
// A [Source] yields the current set of addresses, each "host:port" or a
// Macula URI, macula://<realm>/<node-id>@host:port, which also names the
// node to expect there. The sources are:
//
//   - [Static]: a fixed list.
//   - [MDNS]: multicast DNS on the local network, finding nodes that run an
//     [Advertiser] ([Advertise]) in the same realm.
//   - [DNSSRV]: the SRV records of a DNS name and their targets' addresses.
//   - [Consul]: the healthy instances of a service in the Consul catalog,
//     through Consul's HTTP API.
//   - [Kubernetes]: the ready endpoints of a Service, from its
//     EndpointSlices through the Kubernetes API.
//
// A [Runner] polls sources continuously, one goroutine each: after a
// success it waits [RunnerConfig.Interval] (default 10 s); after a failure
// it logs a warning and retries with exponential backoff and jitter
// (default 500 ms doubling to 30 s). Every result is handed, deduplicated
// and sorted, to [RunnerConfig.OnAddrs].
//
// Source errors wrap [ErrSourceFailed] and configuration errors wrap
// [ErrInvalidConfig]; test them with [errors.Is]. No function panics on
// any answer a server sends: malformed DNS or JSON is an error.
//
// # Usage
//
// Combine the sources that fit the deployment and start a runner:
//
//	srv, err := discovery.DNSSRV(discovery.DNSSRVConfig{Name: "_macula._udp.example.org."})
//	if err != nil { ... }
//	lan, err := discovery.MDNS(discovery.MDNSConfig{Realm: "org.example.mesh"})
//	if err != nil { ... }
//	r, err := discovery.NewRunner(discovery.RunnerConfig{
//		Sources: []discovery.Source{discovery.Static("seed.example.org:4433"), srv, lan},
//		Logger:  logger,
//		OnAddrs: func(source string, addrs []string) {
//			// Hand addrs to the node; do not block here.
//		},
//	})
//	if err != nil { ... }
//	r.Start()
//	defer r.Close()
//
// Make the node findable over mDNS by advertising it:
//
//	adv, err := discovery.Advertise(discovery.AdvertiseConfig{
//		Realm:  "org.example.mesh",
//		NodeID: id,
//		Port:   4433,
//	})
//	if err != nil { ... }
//	defer adv.Close()
package discovery
