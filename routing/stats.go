package routing

import (
	"errors"
	"sync/atomic"

	"go.uber.org/zap"
)

// Stats is a snapshot of a DHT's state and counters, from [DHT.Stats].
type Stats struct {
	// Records is the number of records this node stores for itself and
	// others, expired ones not yet swept included.
	Records int
	// Peers is the number of peers in the routing table.
	Peers int
	// Refused counts the STOREs this node refused since [New], by reason.
	Refused RefusalCounts
	// QueriesRefused counts the FIND_NODE and FIND_VALUE queries refused
	// since [New] because their sender was over [Config].QueryRate.
	QueriesRefused uint64
	// WatchesRefused counts the watches refused since [New] because
	// their sender was over [Config].WatchRate.
	WatchesRefused uint64
}

// RefusalCounts counts refused STOREs by reason: each refusal is counted
// once, under the first of these fields whose sentinel its error matches.
type RefusalCounts struct {
	// Unauthorized counts records [Config].AuthorizeStore refused
	// ([ErrStoreRefused]).
	Unauthorized uint64
	// RateLimited counts STOREs over the sender's store rate
	// ([ErrRateLimited]).
	RateLimited uint64
	// BadSignature counts records whose signature or owner key did not
	// verify ([ErrBadSignature]).
	BadSignature uint64
	// Expired counts records already expired, such as replayed old copies
	// ([ErrExpired]).
	Expired uint64
	// WrongKey counts records whose key is not that of their realm, kind
	// and name ([ErrWrongKey]), such as another realm's records.
	WrongKey uint64
	// Stale counts records older than the copy held ([ErrStale]).
	Stale uint64
	// Limit counts records beyond [Config].MaxRecordsPerKey or
	// MaxRecordsPerOwner ([ErrLimit]).
	Limit uint64
	// Invalid counts malformed records ([ErrInvalidRecord]) and any other
	// refusal.
	Invalid uint64
}

// Total returns the number of refusals of every reason.
func (c RefusalCounts) Total() uint64 {
	return c.Unauthorized + c.RateLimited + c.BadSignature + c.Expired + c.WrongKey + c.Stale + c.Limit + c.Invalid
}

// refusalCounters are the live counters behind RefusalCounts.
type refusalCounters struct {
	unauthorized, rateLimited, badSignature, expired, wrongKey, stale, limit, invalid atomic.Uint64
}

// count counts one refusal for err, in the order of RefusalCounts.
func (c *refusalCounters) count(err error) {
	for _, r := range []struct {
		sentinel error
		n        *atomic.Uint64
	}{
		{ErrStoreRefused, &c.unauthorized},
		{ErrRateLimited, &c.rateLimited},
		{ErrBadSignature, &c.badSignature},
		{ErrExpired, &c.expired},
		{ErrWrongKey, &c.wrongKey},
		{ErrStale, &c.stale},
		{ErrLimit, &c.limit},
	} {
		if errors.Is(err, r.sentinel) {
			r.n.Add(1)
			return
		}
	}
	c.invalid.Add(1)
}

// snapshot returns the counts.
func (c *refusalCounters) snapshot() RefusalCounts {
	return RefusalCounts{
		Unauthorized: c.unauthorized.Load(),
		RateLimited:  c.rateLimited.Load(),
		BadSignature: c.badSignature.Load(),
		Expired:      c.expired.Load(),
		WrongKey:     c.wrongKey.Load(),
		Stale:        c.stale.Load(),
		Limit:        c.limit.Load(),
		Invalid:      c.invalid.Load(),
	}
}

// Stats returns a snapshot of the DHT's state and counters. It works on a
// closed DHT too.
func (d *DHT) Stats() Stats {
	return Stats{
		Records: d.store.len(),
		Peers:   d.table.size(),
		Refused: d.refusals.snapshot(),

		QueriesRefused: d.limits.query.refusals(),
		WatchesRefused: d.limits.watch.refusals(),
	}
}

// refused counts and reports a STORE of rec (nil if it did not parse) from
// from, refused with err.
func (d *DHT) refused(from Contact, rec *Record, err error) {
	d.refusals.count(err)
	d.log.Debug("refused record", zap.String("from", from.ID.Short()), zap.Error(err))
	d.cfg.OnRecordRefused(from, rec, err)
}
