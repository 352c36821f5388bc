package rpc

import (
	"context"
	"time"

	"github.com/org/macula/security"
)

// HealthProcedure is the built-in procedure every Service serves: it
// returns the node's [Health] as JSON. It is not stored in the DHT: reach
// another node's with [Service.CallTo], this node's with [Service.Call].
const HealthProcedure = "_peer.health"

// Health is the result of [HealthProcedure].
type Health struct {
	// NodeID is the node's ID, as 64 hex digits in JSON.
	NodeID security.NodeID `json:"node_id"`
	// Version is the node's software version ([Config].Version).
	Version string `json:"version"`
	// Uptime is how long the node's Service has run, in seconds.
	Uptime float64 `json:"uptime"`
	// Realm is the node's realm.
	Realm string `json:"realm"`
}

// health serves HealthProcedure.
func (s *Service) health(context.Context, *Invocation) (any, error) {
	return Health{
		NodeID:  s.cfg.Self,
		Version: s.cfg.Version,
		Uptime:  time.Since(s.started).Seconds(),
		Realm:   s.cfg.Realm,
	}, nil
}
