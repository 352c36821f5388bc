package chaos

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/org/macula"
)

// outcome is what the invariant checks of one scenario found: a line per
// invariant checked, with its figures, and one per violation.
type outcome struct {
	checked    []string
	violations []string
}

func (o *outcome) check(format string, args ...any) {
	o.checked = append(o.checked, "invariant: "+fmt.Sprintf(format, args...))
}

func (o *outcome) violate(format string, args ...any) {
	o.violations = append(o.violations, "VIOLATED: "+fmt.Sprintf(format, args...))
}

// num formats n with thousands separators.
func num(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// overlaps reports whether a span of kind touching slot (or the whole
// mesh) overlaps [from, to], and for loss spans only those above minLoss.
func (w *world) overlaps(kind faultKind, slot int, from, to time.Time, minLoss float64) bool {
	for _, s := range w.spans {
		if s.kind != kind || (s.slot != -1 && s.slot != slot) || (kind == faultLoss && s.loss <= minLoss) {
			continue
		}
		end := s.to
		if end.IsZero() {
			end = to
		}
		if !s.from.After(to) && !end.Before(from) {
			return true
		}
	}
	return false
}

// seenAlive reports whether the given life of member obs saw member subj
// alive (joined, and neither failed nor left since) all through [from,
// to]: its membership events about subj say so.
func (w *world) seenAlive(obs, obsLife, subj int, from, to time.Time) bool {
	alive, known := false, false
	for _, r := range w.members {
		if r.obs != obs || r.obsLife != obsLife || r.subj != subj || r.at.After(to) {
			continue
		}
		down := r.typ == macula.EventMemberFailed || r.typ == macula.EventMemberLeft
		if r.at.After(from) {
			if down {
				return false
			}
			continue
		}
		known, alive = true, !down
	}
	return known && alive
}

// subscribedBy reports whether subscriber s's record was in place at t:
// its last subscription attempt by then succeeded (a failed attempt
// removes the record again).
func (w *world) subscribedBy(s int, t time.Time) bool {
	ok := false
	for _, r := range w.records[s] {
		if !r.at.After(t) {
			ok = r.ok
		}
	}
	return ok
}

// checkAll runs every invariant over what the scenario recorded. The
// workload must have stopped.
func (w *world) checkAll(conv convergence) outcome {
	w.mu.Lock()
	defer w.mu.Unlock()
	var o outcome
	w.checkAcknowledged(&o)
	w.checkOrder(&o)
	w.checkDuplicates(&o)
	w.checkDeaths(&o)
	w.checkCalls(&o)
	conv.report(&o)
	return o
}

// checkAcknowledged: no acknowledged event is lost. An at-least-once
// Publish returns nil once every subscriber node known to the publisher
// at publish time has handled the event. A subscriber counts as known
// when its subscription record was stored at least grace before the
// publish and the publishing life saw it alive from grace before the
// publish until the Publish returned (a member it saw fail or leave is
// hidden, by design, until it joins again). Every acknowledged event must
// then have been handled by some life of every known subscriber.
func (w *world) checkAcknowledged(o *outcome) {
	got := make([]map[[2]int]bool, w.roles.nodes)
	for _, s := range w.roles.subs {
		got[s] = make(map[[2]int]bool)
		for _, l := range w.lives[s] {
			for _, d := range l.deliveries {
				got[s][[2]int{d.pub, d.k}] = true
			}
		}
	}
	acked, required, unknown := 0, 0, 0
	var missing []string
	for _, e := range w.pubs {
		if e.err != nil {
			continue
		}
		acked++
		for _, s := range w.roles.subs {
			from := e.start.Add(-grace)
			// Seen alive until the Publish returned, not only until it
			// began: a publisher resolves the subscribers when the call
			// gets to run, which for a paused or cut-off publisher is
			// long after it began, and a member it has seen leave or
			// fail by then is hidden by design. Found by chaos-long: a
			// publisher paused for 2.8 s published 28 events, resumed
			// as subscriber 4 left, and rightly sent them only to the
			// subscribers still there. A subscriber that acknowledges
			// and then goes has handled the event already (the ack
			// follows the handler), so this hides no lost ack.
			if !w.subscribedBy(s, from) || !w.seenAlive(e.pub, e.pubLife, s, from, e.end) {
				unknown++
				continue
			}
			required++
			if !got[s][[2]int{e.pub, e.k}] {
				missing = append(missing, fmt.Sprintf("event %d of publisher %d (life %d, published at %.3fs, acknowledged at %.3fs) never reached subscriber %d",
					e.k, e.pub, e.pubLife, w.at(e.start), w.at(e.end), s))
			}
		}
	}
	o.check("no acknowledged event lost: %s of %s events acknowledged; %s deliveries to known subscribers required, %s made; %s left out (subscriber not yet subscribed or not seen alive by the publisher)",
		num(acked), num(len(w.pubs)), num(required), num(required-len(missing)), num(unknown))
	for i, m := range missing {
		if i == 10 {
			o.violate("... and %d more events lost", len(missing)-10)
			break
		}
		o.violate("%s", m)
	}
	if len(w.roles.subs) > 0 && acked == 0 {
		o.violate("no event was acknowledged: the workload did not run")
	}
}

// checkOrder: per-publisher order. Each subscription's handler sees the
// first delivery of each event of one publisher in the order the
// publisher sent them (increasing sequence numbers, which keep growing
// across the publisher's restarts). Scope: per life of a subscriber, the
// events published after that life's Subscribe returned. Events published
// before it (to the previous life, or while the node was down) may come
// later: the publisher resends them when its retry timer fires, and newer
// events go out at once, so pub/sub does not promise their order (an
// event that matches no subscription yet is not acknowledged, by design;
// docs/ARCHITECTURE.md, Pub/sub).
func (w *world) checkOrder(o *outcome) {
	started := make(map[[2]int]time.Time, len(w.pubs))
	for _, e := range w.pubs {
		started[[2]int{e.pub, e.k}] = e.start
	}
	checked, lives, skipped := 0, 0, 0
	for _, s := range w.roles.subs {
		for _, l := range w.lives[s] {
			if l.subscribedAt.IsZero() {
				continue
			}
			lives++
			last := make(map[macula.NodeID]delivery)
			seen := make(map[[2]int]bool)
			for _, d := range l.deliveries {
				key := [2]int{d.pub, d.k}
				if seen[key] {
					continue
				}
				seen[key] = true
				if st, ok := started[key]; !ok || st.Before(l.subscribedAt) {
					skipped++
					continue
				}
				checked++
				if prev, ok := last[d.publisher]; ok && d.seq <= prev.seq {
					o.violate("subscriber %d (life %d) handled event %d of publisher %d (seq %d) at %.3fs after event %d (seq %d) at %.3fs",
						s, l.life, d.k, d.pub, d.seq, w.at(d.at), prev.k, prev.seq, w.at(prev.at))
				}
				last[d.publisher] = d
			}
		}
	}
	o.check("per-publisher order kept: %s first deliveries in %d subscriber lives checked in sequence order; %s published before their subscriber's life subscribed left out",
		num(checked), lives, num(skipped))
}

// checkDuplicates: within one life of a subscriber node, no event is
// handled twice (at-least-once resends are deduplicated; a restarted
// node's new life may see an event again).
func (w *world) checkDuplicates(o *outcome) {
	deliveries, dupes := 0, 0
	for _, s := range w.roles.subs {
		for _, l := range w.lives[s] {
			seen := make(map[[2]uint64]bool)
			for _, d := range l.deliveries {
				deliveries++
				key := [2]uint64{uint64(d.pub), d.seq}
				if seen[key] {
					dupes++
					if dupes <= 10 {
						o.violate("subscriber %d (life %d) handled event %d of publisher %d twice", s, l.life, d.k, d.pub)
					}
				}
				seen[key] = true
			}
		}
	}
	o.check("no duplicate within a subscriber's life: %s deliveries, %d duplicates", num(deliveries), dupes)
}

// checkDeaths: no live node is declared dead (or left) at up to maxLoss
// loss. A fail or leave event about a member counts as false when the
// member was running, and neither it nor the observer was paused,
// restarted, killed or stopped, nor the mesh cut or losing more than
// maxLoss of its packets, in the failure detector's whole window before
// the event (the detection bound of SWIM for this mesh size).
func (w *world) checkDeaths(o *outcome) {
	window := macula.MembershipConfig{}.DetectionBound(w.roles.nodes)
	total, real, excused := 0, 0, 0
	for _, r := range w.members {
		if r.typ != macula.EventMemberFailed && r.typ != macula.EventMemberLeft {
			continue
		}
		total++
		from := r.at.Add(-window)
		if w.downAt(r.subj, r.at) {
			real++
			continue
		}
		obsLife := w.lives[r.obs][r.obsLife]
		if w.overlaps(faultPartition, -1, from, r.at, 0) || w.overlaps(faultLoss, -1, from, r.at, maxLoss) ||
			w.overlaps(faultPause, r.subj, from, r.at, 0) || w.overlaps(faultPause, r.obs, from, r.at, 0) ||
			w.overlaps(faultDown, r.subj, from, r.at, 0) || w.overlaps(faultDown, r.obs, from, r.at, 0) ||
			obsLife.start.After(from) {
			excused++
			continue
		}
		o.violate("member %d (life %d) declared member %d %s at %.3fs, which was running and unharmed since %.3fs",
			r.obs, r.obsLife, r.subj, r.typ, w.at(r.at), w.at(from))
	}
	o.check("no live node declared dead at <= %.0f%% loss: %d fail/leave events; %d about members down, %d within %v of a partition, a pause, a restart or more loss (excused), %d false",
		100*maxLoss, total, real, excused, window, total-real-excused)
}

// downAt reports whether member slot was killed or stopped at t.
func (w *world) downAt(slot int, t time.Time) bool {
	for _, l := range w.lives[slot] {
		if !l.start.After(t) && (l.end.IsZero() || l.end.After(t)) {
			return false
		}
	}
	return true
}

// checkCalls: an idempotent call with failover is never lost while a
// provider is there to take it. A failed call counts as lost when its
// caller ran, unpaused, throughout; the mesh was not cut; and at least
// one provider's life had registered grace before the call, ran unpaused
// until the call ended, and was seen alive by the caller. Every answer
// must be the procedure's.
func (w *world) checkCalls(o *outcome) {
	ok, failed, excused, wrong, throughCrash := 0, 0, 0, 0, 0
	for _, c := range w.calls {
		for _, p := range w.roles.providers {
			if w.overlaps(faultDown, p, c.start, c.end, 0) {
				throughCrash++
				break
			}
		}
		if c.err == nil {
			ok++
			if c.wrong {
				wrong++
				o.violate("call %d from member %d got a wrong answer from member %d", c.k, c.caller, c.provider)
			}
			continue
		}
		failed++
		if !w.callRequired(c) {
			excused++
			continue
		}
		o.violate("call %d from member %d (life %d), %.3fs to %.3fs, failed with a provider up throughout: %v",
			c.k, c.caller, c.callerLife, w.at(c.start), w.at(c.end), c.err)
	}
	o.check("no idempotent call lost while a provider was up: %s calls, %s answered (%d wrong), %s overlapped a provider's crash or stop; %d failed: %d with no provider up throughout, the caller down or paused, or the mesh cut (excused), %d lost",
		num(len(w.calls)), num(ok), wrong, num(throughCrash), failed, excused, failed-excused)
	if len(w.calls) > 0 && ok == 0 {
		o.violate("no call was answered: the workload did not run")
	}
}

// callRequired reports whether call c had to succeed (see checkCalls).
func (w *world) callRequired(c callRec) bool {
	life := w.lives[c.caller][c.callerLife]
	if (!life.end.IsZero() && !life.end.After(c.end)) || errors.Is(c.err, macula.ErrClosed) ||
		w.overlaps(faultPause, c.caller, c.start, c.end, 0) || w.overlaps(faultPartition, -1, c.start.Add(-grace), c.end, 0) {
		return false
	}
	for _, p := range w.roles.providers {
		if w.overlaps(faultPause, p, c.start, c.end, 0) {
			continue
		}
		for _, l := range w.lives[p] {
			if l.registeredAt.IsZero() || l.registeredAt.After(c.start.Add(-grace)) || (!l.end.IsZero() && l.end.Before(c.end)) {
				continue
			}
			if w.seenAlive(c.caller, c.callerLife, p, c.start.Add(-grace), c.start) {
				return true
			}
		}
	}
	return false
}

// at is t in seconds since the mesh started.
func (w *world) at(t time.Time) float64 { return t.Sub(w.start).Seconds() }

// convergence is how long the mesh took to come together again after the
// last fault ended.
type convergence struct {
	members, records time.Duration
	membersErr       error
	recordsMissing   []string
}

func (c convergence) report(o *outcome) {
	if c.membersErr != nil {
		o.violate("membership did not converge within %v of the last heal: %v", memberBound, c.membersErr)
	} else {
		o.check("membership converged %v after the last heal (bound %v)", c.members.Round(time.Millisecond), memberBound)
	}
	if len(c.recordsMissing) > 0 {
		o.violate("records did not converge within %v of the last heal: %v", recordBound, c.recordsMissing)
	} else {
		o.check("DHT records converged %v after the last heal: every publisher reached every subscriber and every caller every provider (bound %v)",
			c.records.Round(time.Millisecond), recordBound)
	}
}

// converge waits, after the last heal at healed, for one membership
// view, then until every publisher has reached every subscriber's
// current life, and every caller every provider's, with work begun after
// the heal: subscription and provider records are stored, found and
// followed again.
func (w *world) converge(healed time.Time) convergence {
	var c convergence
	ctx, cancel := context.WithDeadline(context.Background(), healed.Add(memberBound))
	defer cancel()
	if c.membersErr = w.m.WaitConverged(ctx); c.membersErr == nil {
		c.members = time.Since(healed)
	}
	if w.m.WaitFor(time.Until(healed.Add(recordBound)), func() bool { return len(w.unreached(healed)) == 0 }) {
		c.records = time.Since(healed)
	} else {
		c.recordsMissing = w.unreached(healed)
	}
	return c
}

// unreached lists the publisher-subscriber and caller-provider pairs not
// yet served by work begun after since.
func (w *world) unreached(since time.Time) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, s := range w.roles.subs {
		l := w.current(s)
		for _, p := range w.roles.pubs {
			if l == nil || !slices.ContainsFunc(l.deliveries, func(d delivery) bool { return d.pub == p && !d.sent.Before(since) }) {
				out = append(out, fmt.Sprintf("publisher %d to subscriber %d", p, s))
			}
		}
	}
	for _, p := range w.roles.providers {
		for _, c := range w.roles.callers {
			if !slices.ContainsFunc(w.calls, func(r callRec) bool {
				return r.caller == c && r.provider == p && r.err == nil && !r.start.Before(since)
			}) {
				out = append(out, fmt.Sprintf("caller %d to provider %d", c, p))
			}
		}
	}
	return out
}
