package routing

import (
	"errors"
	"fmt"
	"net"

	"github.com/org/macula/internal/sentinel"
)

// Sentinel errors returned by this package. They are always wrapped with
// detail using %w, so test for them with [errors.Is], never by comparing
// error strings.
var (
	// ErrInvalidRecord reports a record that is malformed: missing or
	// oversized fields, an unknown kind, a lifetime beyond
	// [MaxRecordLifetime], or a record this node may not publish.
	ErrInvalidRecord = errors.New("macula: invalid record")
	// ErrBadSignature reports a record whose signature does not verify, or
	// whose owner key does not hash to its owner node ID.
	ErrBadSignature = errors.New("macula: bad record signature")
	// ErrExpired reports a record whose expiry time has passed.
	ErrExpired = errors.New("macula: record expired")
	// ErrWrongKey reports a record whose key is not
	// [KeyFor](realm, kind, name) for the realm it was checked against.
	ErrWrongKey = errors.New("macula: record key does not match its realm, kind and name")
	// ErrLimit reports a store refused because a key or an owner already
	// has the maximum number of records ([Config].MaxRecordsPerKey,
	// [Config].MaxRecordsPerOwner).
	ErrLimit = errors.New("macula: record limit reached")
	// ErrRateLimited reports a request refused because its sender went
	// over the node's per-sender rate for it: STOREs ([Config].StoreRate
	// and StoreBurst), queries (QueryRate) or watches (WatchRate). The
	// sender may try again later. On the wire it shares its code with
	// [ErrLimit] (see [ErrorFromCode]).
	ErrRateLimited = errors.New("macula: dht rate limit exceeded")
	// ErrStoreRefused reports a record the storing node's
	// [Config].AuthorizeStore refused: a valid record that the node's
	// rules (for example its access-control list) do not allow there. The
	// error wraps the authorizer's error when it is local; across the
	// network the authorizer's message travels as text.
	ErrStoreRefused = errors.New("macula: store refused by the storing node's rules")
	// ErrStale reports a record older (lower Seq, or same Seq and earlier
	// expiry) than the one already held from the same owner under the same
	// key.
	ErrStale = errors.New("macula: stale record")
	// ErrNotFound reports that this node has no record of its own under the
	// requested kind and name (see [DHT.Remove]).
	ErrNotFound = errors.New("macula: record not found")
	// ErrNoPeers reports that a record could be stored nowhere: no peer
	// accepted it and this node is not among the closest to its key.
	ErrNoPeers = errors.New("macula: no peer stored the record")
	// ErrInvalidConfig wraps every invalid [Config] field given to [New].
	// It matches macula.ErrInvalidConfig, as every package's config
	// error does.
	ErrInvalidConfig = sentinel.Narrow(sentinel.ErrInvalidConfig, "macula: invalid dht config")
	// ErrClosed is returned by the methods of a closed [DHT]. It also
	// matches [net.ErrClosed].
	ErrClosed = fmt.Errorf("macula: dht closed: %w", net.ErrClosed)
)
