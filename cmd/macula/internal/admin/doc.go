// Package admin is the local admin API of a running `macula start` node:
// an HTTP+JSON server the node binds to a loopback TCP address or a unix
// socket, never to the mesh address, and the client the other macula
// commands use to reach it.
//
// # Endpoints
//
// Every response is JSON; errors are an [Error] with a non-2xx status.
//
//	GET  /v1/node                  the node: ID, realm, address, URI, version
//	GET  /v1/members               membership: []Member
//	GET  /v1/peers                 connected peers: []Peer
//	GET  /v1/topology              the overlay graph as the node sees it: Topology
//	GET  /v1/routes                the DHT routing table: []Route
//	GET  /v1/stats                 counters and uptime: Stats
//	POST /v1/ping                  PingRequest -> PingReply
//	POST /v1/join                  JoinRequest -> {}
//	POST /v1/publish               PublishRequest -> {}
//	GET  /v1/subscribe?pattern=P   newline-delimited JSON StreamMessage values,
//	                               until the client disconnects
//	POST /v1/call                  CallRequest -> CallReply
//	GET  /v1/keyring[?keys=true]   the gossip keyring and packet counters:
//	                               Keyring, the keys themselves only if asked
//	POST /v1/keyring/install       KeyRequest -> Keyring
//	POST /v1/keyring/use           KeyRequest -> Keyring (the key becomes primary)
//	POST /v1/keyring/remove        KeyRequest -> Keyring
//
// # Security
//
// The API has no authentication: whoever can connect to it controls the
// node. [Listen] therefore accepts only loopback TCP addresses and unix
// sockets (created with mode 0600). Requests carrying an Origin header, as
// browsers add to cross-site requests, are refused, and POST bodies must be
// application/json, which browsers cannot send cross-site without a
// preflight, so a web page cannot drive the API.
package admin
