package routing

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/org/macula/security"
)

// Defaults for the fields of [Config].
const (
	// DefaultK is the bucket size and replication factor: records are
	// stored on the K nodes closest to their key, and a lookup ends when
	// the K closest nodes it knows have answered.
	DefaultK = 20
	// DefaultAlpha is the number of queries a lookup keeps in flight.
	DefaultAlpha = 3
	// DefaultTTL is the lifetime of a record; owners republish at TTL/2.
	DefaultTTL = 300 * time.Second
	// DefaultQueryTimeout bounds one query to one node.
	DefaultQueryTimeout = 2 * time.Second
	// DefaultMaxRecordsPerKey is how many owners' records a node keeps
	// under one key.
	DefaultMaxRecordsPerKey = 256
	// DefaultMaxRecordsPerOwner is how many records a node keeps from one
	// owner, over all keys.
	DefaultMaxRecordsPerOwner = 4096
	// DefaultRefreshInterval is how often [DHT.Start]'s loop refreshes the
	// routing table's buckets with lookups.
	DefaultRefreshInterval = 10 * time.Minute
)

// Querier sends DHT queries to one remote node. The node's wire layer
// implements it over QUIC; tests implement it in memory.
//
// The DHT calls it from many goroutines at once (lookups keep Alpha
// queries in flight, [DHT.Put] stores in parallel), each call with a
// context bounded by [Config].QueryTimeout that the implementation must
// honour. A returned error means the node could not be asked or did not
// answer: the DHT then drops it from its routing table. The records and
// contacts returned become the DHT's: the Querier must not keep or modify
// them.
type Querier interface {
	// FindNode asks to for the nodes it knows closest to target.
	FindNode(ctx context.Context, to Contact, target Key) ([]Contact, error)
	// FindValue asks to for the records it stores under key and the nodes
	// it knows closest to key.
	FindValue(ctx context.Context, to Contact, key Key) (records []*Record, closer []Contact, err error)
	// Store asks to to keep rec; to answers with the error of its
	// [DHT.HandleStore], which should cross the network so that
	// [errors.Is] still matches the sentinel.
	Store(ctx context.Context, to Contact, rec *Record) error
}

// Config configures a [DHT]. Self.ID (or Identity), Realm, Identity and
// Querier are required; every other field has a default used when it is
// zero. Negative values are invalid.
type Config struct {
	// Self is this node: its ID must be Identity's; its Addrs are what it
	// tells others. An empty ID means Identity's.
	Self Contact
	// Realm scopes every key; a valid realm name (see
	// [security.ValidateRealm]).
	Realm string
	// Identity signs this node's records.
	Identity *security.Identity
	// Querier sends queries to other nodes.
	Querier Querier
	// K is the bucket size and replication factor; default [DefaultK].
	K int
	// Alpha is the number of queries a lookup keeps in flight; default
	// [DefaultAlpha]; at most K.
	Alpha int
	// TTL is the lifetime of this node's republished records and
	// tombstones; owners republish at TTL/2, and stored records are swept
	// about every TTL/10. Default [DefaultTTL], at most
	// [MaxRecordLifetime].
	TTL time.Duration
	// QueryTimeout bounds one query to one node; default
	// [DefaultQueryTimeout].
	QueryTimeout time.Duration
	// MaxRecordsPerKey limits how many owners' records this node keeps
	// under one key; a store beyond fails with [ErrLimit]. Default
	// [DefaultMaxRecordsPerKey].
	MaxRecordsPerKey int
	// MaxRecordsPerOwner limits how many records this node keeps from one
	// owner; a store beyond fails with [ErrLimit]. Default
	// [DefaultMaxRecordsPerOwner].
	MaxRecordsPerOwner int
	// RefreshInterval is how often the buckets are refreshed with lookups;
	// default [DefaultRefreshInterval].
	RefreshInterval time.Duration
	// Logger receives debug logs of failed queries and refused records;
	// default a no-op logger.
	Logger *zap.Logger
}

// withDefaults returns cfg with defaults filled in, or an error wrapping
// ErrInvalidConfig.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Identity.ID().IsZero() {
		return cfg, fmt.Errorf("%w: no identity", ErrInvalidConfig)
	}
	if cfg.Self.ID.IsZero() {
		cfg.Self.ID = cfg.Identity.ID()
	}
	if cfg.Self.ID != cfg.Identity.ID() {
		return cfg, fmt.Errorf("%w: self %s is not the identity's node %s", ErrInvalidConfig, cfg.Self.ID.Short(), cfg.Identity.ID().Short())
	}
	if err := security.ValidateRealm(cfg.Realm); err != nil {
		return cfg, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if cfg.Querier == nil {
		return cfg, fmt.Errorf("%w: no querier", ErrInvalidConfig)
	}
	for _, f := range []struct {
		name string
		v    *int
		def  int
	}{
		{"K", &cfg.K, DefaultK},
		{"Alpha", &cfg.Alpha, DefaultAlpha},
		{"MaxRecordsPerKey", &cfg.MaxRecordsPerKey, DefaultMaxRecordsPerKey},
		{"MaxRecordsPerOwner", &cfg.MaxRecordsPerOwner, DefaultMaxRecordsPerOwner},
	} {
		if *f.v < 0 {
			return cfg, fmt.Errorf("%w: %s is %d", ErrInvalidConfig, f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	for _, f := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"TTL", &cfg.TTL, DefaultTTL},
		{"QueryTimeout", &cfg.QueryTimeout, DefaultQueryTimeout},
		{"RefreshInterval", &cfg.RefreshInterval, DefaultRefreshInterval},
	} {
		if *f.v < 0 {
			return cfg, fmt.Errorf("%w: %s is %v", ErrInvalidConfig, f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if cfg.Alpha > cfg.K {
		return cfg, fmt.Errorf("%w: Alpha %d is above K %d", ErrInvalidConfig, cfg.Alpha, cfg.K)
	}
	if cfg.TTL > MaxRecordLifetime {
		return cfg, fmt.Errorf("%w: TTL %v is above %v", ErrInvalidConfig, cfg.TTL, MaxRecordLifetime)
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return cfg, nil
}
