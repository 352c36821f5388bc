package routing

import (
	"fmt"
	"time"
)

// authorize asks check ([Config].AuthorizeStore or AuthorizeAnswer)
// whether this node accepts rec, a verified record, from from. The error
// wraps ErrStoreRefused and the authorizer's error.
func (d *DHT) authorize(check func(Contact, *Record) error, from Contact, rec *Record) error {
	if err := check(from, rec); err != nil {
		return fmt.Errorf("%w: %s %q of %s from %s: %w", ErrStoreRefused, rec.Kind, rec.Name, rec.Owner.Short(), from.ID.Short(), err)
	}
	return nil
}

// admitStore decides a STORE of rec from from and keeps rec when it is
// accepted: the sender's rate limit first (before the costly signature
// check), then parseErr (the record did not parse), [Record.Verify], the
// authorizer, and the store's own checks (ErrStale, ErrLimit).
func (d *DHT) admitStore(from Contact, rec *Record, parseErr error) error {
	now := time.Now()
	if err := d.admit(d.limits.store, from.ID); err != nil {
		return err
	}
	if parseErr != nil {
		return parseErr
	}
	if err := rec.Verify(d.cfg.Realm, now); err != nil {
		return err
	}
	if err := d.authorize(d.cfg.AuthorizeStore, from, rec); err != nil {
		return err
	}
	return d.storeLocal(rec)
}

// acceptAnswer checks r, a record from's answer to a lookup or watch of
// this node, at now: it must verify for this realm and, unless from is
// this node (whose store holds only records accepted already or its own),
// be accepted by [Config].AuthorizeAnswer.
func (d *DHT) acceptAnswer(from Contact, r *Record, now time.Time) error {
	if err := r.Verify(d.cfg.Realm, now); err != nil {
		return err
	}
	if from.ID == d.cfg.Self.ID {
		return nil
	}
	return d.authorize(d.cfg.AuthorizeAnswer, from, r)
}
