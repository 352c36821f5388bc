package routing

import (
	"context"
	"fmt"
	"math"
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
	// DefaultWatchPeers is how many of the nodes closest to a key a
	// [DHT.Watch] asks to push changes.
	DefaultWatchPeers = 3
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

	// DefaultStoreRate is how many STOREs per second a node accepts from
	// one sender in the long run, and DefaultStoreBurst how many at once.
	// An owner republishes each record every TTL/2 (150 s by default) to
	// the K nodes closest to its key, so a storing node gets one STORE per
	// record per TTL/2 from it (in a mesh of K nodes or fewer, every node
	// stores every record): 200/s sustains 30,000 records per sender.
	// Records put together fall due together and are republished back to
	// back, as are the records handed to a node that joins close to their
	// keys: the burst of 2,000 takes a node's first 2,000 records at
	// once, the rest at 200/s.
	DefaultStoreRate = 200.0
	// DefaultStoreBurst is the burst of [DefaultStoreRate].
	DefaultStoreBurst = 2000
	// NoStoreLimit as [Config].StoreRate disables the per-sender store
	// rate limit (as golang.org/x/time/rate's Inf does); +Inf and
	// [NoLimit] do too.
	NoStoreLimit = math.MaxFloat64

	// DefaultQueryRate is how many FIND_NODE and FIND_VALUE queries per
	// second a node answers from one sender in the long run, and
	// DefaultQueryBurst how many at once. A lookup asks each node at most
	// once, and a directory re-reads each key it caches once a minute by
	// a lookup, so a sender with 5,000 cached keys starting at once, or
	// running 30,000 lookups a minute, stays within them. A query is
	// cheap next to a STORE (no signature to check), but a FIND_VALUE
	// answer may carry a key's 256 records.
	DefaultQueryRate = 500.0
	// DefaultQueryBurst is the burst of [DefaultQueryRate].
	DefaultQueryBurst = 5000
	// DefaultWatchRate is how many WATCH requests per second a node
	// accepts from one sender in the long run, and DefaultWatchBurst how
	// many at once: a sender may open its whole allowance of
	// [MaxWatchesPerPeer] watches at once, and renewing them every lease
	// ([DefaultWatchLease], 60 s) takes about 17 a second.
	DefaultWatchRate = 50.0
	// DefaultWatchBurst is the burst of [DefaultWatchRate].
	DefaultWatchBurst = MaxWatchesPerPeer

	// NoLimit as a per-sender rate of [Config] (StoreRate, QueryRate,
	// WatchRate) turns that limit off.
	NoLimit = -1
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
	// WatchPeers is how many of the K nodes closest to a key [DHT.Watch]
	// asks to push changes, closest first; default [DefaultWatchPeers]; at
	// most K. Every store goes to all K, so the closest few hold every
	// record, and each one watched costs a connection for as long as the
	// watch lasts: watching all K kept a node that had published and
	// called once holding about 20 connections.
	WatchPeers int
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

	// AuthorizeStore decides whether this node accepts a record from a
	// peer. It is called with the node the record came from and the
	// record once the record has passed [Record.Verify] (signature, owner
	// key, key and realm, expiry), and before it is stored. A non-nil
	// error refuses the record: nothing is stored (so no watch or lookup
	// ever sees it here), [DHT.HandleStore] fails with an error wrapping
	// both [ErrStoreRefused] and the returned error, the STORE is answered
	// with protocol.CodeACLDenied and the error's text (the sender's
	// [Querier.Store] fails with [ErrStoreRefused]), and OnRecordRefused
	// is called.
	//
	// from is the sender: over QUIC the authenticated peer of the
	// connection. It is rec.Owner when the owner publishes, but another
	// node when a storing node hands records to a node newly close to
	// their key, so rules about who may publish what should look at
	// rec.Owner, rec.Kind, rec.Name (and rec.Value, rec.Tombstone), not
	// only at from.
	//
	// Records in peers' answers to this node's lookups and watches pass
	// AuthorizeAnswer, which defaults to this same check.
	//
	// It is called on the goroutines that serve queries and run lookups,
	// many at once: it must be safe for concurrent use, fast, must not
	// block (no network round trip) and must not modify rec. Default: every
	// valid record is accepted.
	AuthorizeStore func(from Contact, rec *Record) error
	// AuthorizeAnswer decides whether this node uses a record found in a
	// peer's answer to its lookups ([DHT.Get]) and watches ([DHT.Watch]);
	// from is the answering node, which is rarely the owner. Refused
	// records are dropped (and counted as Unauthorized), so a modified
	// node cannot get a refused record of its own to others by keeping it
	// in its own store. This node's own records are never checked. A
	// separate hook because the answering node is not the owner: an
	// authorizer that needs the owner's credentials (which only a STORE
	// from the owner itself carries) may have to decide differently here.
	// Same calling rules as AuthorizeStore. Default: AuthorizeStore.
	AuthorizeAnswer func(from Contact, rec *Record) error
	// OnRecordRefused is called each time this node refuses a record a
	// peer asked it to store, with the sender, the record (nil when the
	// wire message did not even parse) and the reason: an error matching,
	// under [errors.Is], one of [ErrBadSignature], [ErrExpired],
	// [ErrWrongKey] (another realm's key, or a record whose key does not
	// match its kind and name), [ErrInvalidRecord], [ErrStoreRefused]
	// (AuthorizeStore; the error also wraps the authorizer's),
	// [ErrRateLimited], [ErrLimit] (MaxRecordsPerKey, MaxRecordsPerOwner)
	// or [ErrStale] (an older copy: also seen between honest nodes when a
	// copy is handed off after its owner replaced it). [DHT.Stats] counts
	// the refusals by reason.
	//
	// It is called synchronously on the goroutine serving the STORE,
	// before the answer is sent, from many goroutines at once: it must be
	// safe for concurrent use, must not block (hand the event to a queue,
	// as an audit log does) and must not modify rec. Default: nothing is
	// called.
	OnRecordRefused func(from Contact, rec *Record, err error)
	// StoreRate is how many STOREs per second this node accepts from one
	// sending node in the long run, and StoreBurst how many at once: each
	// sender (by node ID) has a token bucket of StoreBurst tokens refilled
	// at StoreRate per second, every STORE takes one, and a STORE finding
	// none is refused with [ErrRateLimited] (protocol.CodeRateLimited on
	// the wire) before its signature is checked, so one peer cannot
	// starve the node. Defaults [DefaultStoreRate] and
	// [DefaultStoreBurst]; StoreRate [NoStoreLimit], [NoLimit] or +Inf
	// disables the limit. NaN is invalid.
	StoreRate float64
	// StoreBurst is the size of each sender's token bucket (see
	// StoreRate); default [DefaultStoreBurst].
	StoreBurst int
	// QueryRate and QueryBurst hold each sending node to a token bucket
	// on its FIND_NODE and FIND_VALUE queries, as StoreRate does for
	// STOREs: a query over it is answered with an error of code
	// protocol.CodeRateLimited and no contacts, before any work (the
	// querying node's lookup counts the node as busy, not failed, and
	// keeps it in its table). [Serve] applies it; [DHT.HandleFindNode]
	// and [DHT.HandleFindValue], which answer no error, do not. Defaults
	// [DefaultQueryRate] and [DefaultQueryBurst]; QueryRate [NoLimit] or
	// +Inf turns the limit off.
	QueryRate float64
	// QueryBurst: see QueryRate; default [DefaultQueryBurst].
	QueryBurst int
	// WatchRate and WatchBurst hold each sending node to a token bucket
	// on the watches it opens: a watch over it fails with
	// [ErrRateLimited] ([DHT.HandleWatch]; over QUIC the watcher's
	// [QUICQuerier.Watch] fails with an error matching ErrRateLimited and
	// retries a second later). Defaults [DefaultWatchRate] and
	// [DefaultWatchBurst]; WatchRate [NoLimit] or +Inf turns the limit
	// off.
	WatchRate float64
	// WatchBurst: see WatchRate; default [DefaultWatchBurst].
	WatchBurst int
	// OnLimitExceeded, if set, is called when a sender goes over one of
	// the per-sender rates above (StoreRate, QueryRate, WatchRate): at its
	// first refusal, then once a second or every 64 refusals, whichever
	// comes first, per sender and kind of request, with the count of
	// refusals since the previous call; [DHT.Stats] counts every refusal. A node's transport can count these refusals toward a ban
	// of the sender (transport.Transport.Strike); the Node does. It is
	// called synchronously on the goroutine serving the request, from
	// many goroutines at once: it must be safe for concurrent use and
	// must not block. Default: nothing is called.
	OnLimitExceeded func(ev LimitEvent)
}

// allowAll is the default [Config].AuthorizeStore.
func allowAll(Contact, *Record) error { return nil }

// ignoreRefusal is the default [Config].OnRecordRefused.
func ignoreRefusal(Contact, *Record, error) {}

// ignoreLimit is the default [Config].OnLimitExceeded.
func ignoreLimit(LimitEvent) {}

// rateDefaults checks a per-sender rate and fills in its default: zero
// means def, NoLimit, NoStoreLimit and +Inf mean no limit (+Inf), and
// NaN and other negative values are invalid.
func rateDefaults(name string, v *float64, def float64) error {
	switch {
	case *v == NoLimit, *v >= NoStoreLimit:
		*v = math.Inf(1)
	case math.IsNaN(*v) || *v < 0:
		return fmt.Errorf("%w: %s is %v", ErrInvalidConfig, name, *v)
	case *v == 0:
		*v = def
	}
	return nil
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
		{"WatchPeers", &cfg.WatchPeers, DefaultWatchPeers},
		{"MaxRecordsPerKey", &cfg.MaxRecordsPerKey, DefaultMaxRecordsPerKey},
		{"MaxRecordsPerOwner", &cfg.MaxRecordsPerOwner, DefaultMaxRecordsPerOwner},
		{"StoreBurst", &cfg.StoreBurst, DefaultStoreBurst},
		{"QueryBurst", &cfg.QueryBurst, DefaultQueryBurst},
		{"WatchBurst", &cfg.WatchBurst, DefaultWatchBurst},
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
	if cfg.WatchPeers > cfg.K {
		return cfg, fmt.Errorf("%w: WatchPeers %d is above K %d", ErrInvalidConfig, cfg.WatchPeers, cfg.K)
	}
	if cfg.TTL > MaxRecordLifetime {
		return cfg, fmt.Errorf("%w: TTL %v is above %v", ErrInvalidConfig, cfg.TTL, MaxRecordLifetime)
	}
	for _, f := range []struct {
		name string
		v    *float64
		def  float64
	}{
		{"StoreRate", &cfg.StoreRate, DefaultStoreRate},
		{"QueryRate", &cfg.QueryRate, DefaultQueryRate},
		{"WatchRate", &cfg.WatchRate, DefaultWatchRate},
	} {
		if err := rateDefaults(f.name, f.v, f.def); err != nil {
			return cfg, err
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.AuthorizeStore == nil {
		cfg.AuthorizeStore = allowAll
	}
	if cfg.AuthorizeAnswer == nil {
		cfg.AuthorizeAnswer = cfg.AuthorizeStore
	}
	if cfg.OnRecordRefused == nil {
		cfg.OnRecordRefused = ignoreRefusal
	}
	if cfg.OnLimitExceeded == nil {
		cfg.OnLimitExceeded = ignoreLimit
	}
	return cfg, nil
}
