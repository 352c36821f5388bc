package directory

import (
	"context"

	"github.com/org/macula/routing"
)

// Records is where a service publishes this node's own records
// (subscriptions, procedure registrations): pub/sub and RPC take one
// (pubsub.Config.Records, rpc.Config.Records). *routing.DHT implements
// it.
type Records interface {
	// NewRecord makes a record of this node, signed by it.
	NewRecord(kind, name string, value []byte) (*routing.Record, error)
	// Put stores rec on the nodes closest to its key, and republishes it.
	Put(ctx context.Context, rec *routing.Record) error
	// Remove replaces this node's record with a tombstone.
	Remove(ctx context.Context, kind, name string) error
}

// Resolver reads other nodes' records, cached and kept fresh, without
// those of owners known to be down: pub/sub resolves a topic's
// subscribers and RPC a procedure's providers through one
// (pubsub.Config.Directory, rpc.Config.Directory). [*Cache] implements
// it.
type Resolver interface {
	// Lookup returns the live records under key.
	Lookup(ctx context.Context, key routing.Key) ([]*routing.Record, error)
	// LookupEach looks up every key (the uncached ones at once) and calls
	// fn with each key's index and live records, in order; it stops at
	// the first error.
	LookupEach(ctx context.Context, keys []routing.Key, fn func(i int, recs []*routing.Record)) error
}

var (
	_ Records  = (*routing.DHT)(nil)
	_ Resolver = (*Cache)(nil)
)
