package macula

import (
	"errors"

	"go.uber.org/zap"
)

// part is one subsystem of a Node, as New composes it: built first (with
// no goroutine running and no packet handled, except as noted in New),
// then started, and stopped by the one teardown path, stopParts, whether
// New failed part-way or Close was called.
type part struct {
	name string
	// start starts the part; nil if it runs once built (pub/sub and RPC
	// only serve what the transport hands them).
	start func() error
	// stop stops the part, built and started or only built; nil if there
	// is nothing to stop (the node's own goroutines stop with its life).
	stop func() error
}

// parts lists a Node's subsystems in dependency order: each may use the
// ones before it. They start in this order and stop in reverse.
type parts []part

// add appends a built part.
func (ps *parts) add(name string, start, stop func() error) {
	*ps = append(*ps, part{name: name, start: start, stop: stop})
}

// startAll starts every part in order, and returns the first failure;
// the caller then stops them all (stopAll), started or not.
func (ps parts) startAll(log *zap.Logger) error {
	for _, p := range ps {
		if p.start == nil {
			continue
		}
		if err := p.start(); err != nil {
			log.Debug("part did not start", zap.String("part", p.name), zap.Error(err))
			return err
		}
	}
	return nil
}

// stopAll stops every part in reverse order, and joins their errors.
func (ps parts) stopAll(log *zap.Logger) error {
	var errs []error
	for i := len(ps) - 1; i >= 0; i-- {
		if ps[i].stop == nil {
			continue
		}
		if err := ps[i].stop(); err != nil {
			log.Debug("part stopped with an error", zap.String("part", ps[i].name), zap.Error(err))
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
