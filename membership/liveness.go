package membership

import (
	"math"
	"net"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/org/macula/security"
)

// swimState is what this node has read about one member from the SWIM
// messages it saw (see swimwire.go).
type swimState struct {
	// inc is the highest incarnation seen in a message about the member.
	inc uint32
	// suspectSince is when the member became suspect (zero: not suspect).
	suspectSince time.Time
	// leftBySelf: the member's latest dead message came from the member
	// itself, which is how memberlist announces a graceful leave.
	leftBySelf bool
	// nudgedAt is when this node last asked the suspect to refute.
	nudgedAt time.Time
}

// observeLiveness applies one alive, suspect or dead message, coming in
// from a peer or going out (from is nil), to the view of members, with
// memberlist's own precedence rules (a message counts only if its
// incarnation is at least the one known, an alive message only if it is
// higher), and reports suspicions and refutations to watchers.
func (m *Membership) observeLiveness(msg swimMessage, l swimLiveness, from net.Addr) {
	id, err := security.ParseNodeID(l.Node)
	if err != nil {
		return
	}
	var refuteTo []string
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	if id == m.self {
		refuteTo = m.observeSelfLocked(msg, l, from)
	} else {
		m.observeMemberLocked(id, msg.typ, l)
	}
	selfAlive := m.selfAlive
	m.mu.Unlock()
	for _, addr := range refuteTo {
		if err := m.tr.sendMessage(selfAlive, addr); err != nil {
			m.log.Debug("refutation not sent", zap.String("addr", addr), zap.Error(err))
		}
	}
}

// observeMemberLocked applies a message about another member.
func (m *Membership) observeMemberLocked(id security.NodeID, typ swimType, l swimLiveness) {
	st := m.swim[id]
	if st == nil {
		st = &swimState{}
		m.swim[id] = st
	}
	switch typ {
	case swimAlive:
		if l.Incarnation <= st.inc && st.inc != 0 {
			return
		}
		st.inc = l.Incarnation
		st.leftBySelf = false
		m.setIncarnationLocked(id, st.inc)
		if !st.suspectSince.IsZero() {
			st.suspectSince = time.Time{}
			m.emitLocked(EventRefute, id, StateAlive)
		}
	case swimSuspect:
		if l.Incarnation < st.inc {
			return
		}
		st.inc = l.Incarnation
		m.setIncarnationLocked(id, st.inc)
		if _, ok := m.alive[id]; ok && st.suspectSince.IsZero() {
			st.suspectSince = time.Now()
			st.nudgedAt = time.Time{}
			m.emitLocked(EventSuspect, id, StateSuspect)
		}
	case swimDead:
		if l.Incarnation < st.inc {
			return
		}
		st.inc = l.Incarnation
		st.leftBySelf = l.From == l.Node
		m.setIncarnationLocked(id, st.inc)
		// memberlist reports the departure itself (NotifyLeave), which
		// reads leftBySelf to tell a leave from a failure.
	}
}

// observeSelfLocked applies a message about this node. It keeps selfInc
// equal to memberlist's incarnation of this node, which memberlist does not
// expose: it starts at 1, rises by one for each metadata update (see
// UpdateMeta), and on a refutation, when another member accuses this node
// at an incarnation at least its own, it becomes one more than the larger
// of the two. The leaving notice carries it.
//
// It also keeps the latest alive message this node sent about itself, and
// returns the addresses to send it to: those of members that accused this
// node when the refutation goes out, and later those that accuse it at an
// incarnation it has already refuted. memberlist ignores such a
// stale accusation, and its refutation went out by gossip, which a member
// misses with small probability (about e^-8 per member for a refutation
// under the default retransmit limit); that member then declares this
// node dead when its suspicion runs out, unless told directly.
func (m *Membership) observeSelfLocked(msg swimMessage, l swimLiveness, from net.Addr) []string {
	inc := l.Incarnation
	if from == nil {
		if msg.typ != swimAlive {
			return nil // this node's own dead message, when it leaves
		}
		m.selfInc = max(m.selfInc, inc)
		m.selfAlive = append(append(m.selfAlive[:0], byte(msg.typ)), msg.body...)
		m.setIncarnationLocked(m.self, m.selfInc)
		// The refutation is going out by gossip: its accusers hear it
		// straight away too.
		to := m.accusers
		m.accusers = nil
		return to
	}
	accused := msg.typ == swimSuspect || msg.typ == swimDead
	accusers := func() []string {
		var to []string
		for _, addr := range []string{from.String(), m.addrOfLocked(l.From)} {
			if addr != "" && !slices.Contains(to, addr) && m.mayRefuteToLocked(addr) {
				to = append(to, addr)
			}
		}
		return to
	}
	switch {
	case msg.typ == swimAlive && inc > m.selfInc:
		if inc < math.MaxUint32 {
			m.selfInc = inc + 1
		}
		m.setIncarnationLocked(m.self, m.selfInc)
	case accused && inc >= m.selfInc && !m.meta.Leaving:
		// memberlist refutes: remember whom to tell.
		if inc < math.MaxUint32 {
			m.selfInc = max(m.selfInc+1, inc+1)
		}
		m.setIncarnationLocked(m.self, m.selfInc)
		if len(m.accusers) < maxAccusers {
			m.accusers = append(m.accusers, accusers()...)
		}
	case accused && inc < m.selfInc && !m.meta.Leaving && len(m.selfAlive) > 0:
		return accusers()
	}
	return nil
}

// maxAccusers bounds the accusers remembered until a refutation goes out.
const maxAccusers = 64

// refuteInterval spaces direct refutations to one address.
const refuteInterval = time.Second

// mayRefuteToLocked reports whether a direct refutation may go to addr
// now, and if so records it.
func (m *Membership) mayRefuteToLocked(addr string) bool {
	now := time.Now()
	if now.Sub(m.refutedTo[addr]) < refuteInterval {
		return false
	}
	if len(m.refutedTo) >= 1024 {
		for a, at := range m.refutedTo {
			if now.Sub(at) >= refuteInterval {
				delete(m.refutedTo, a)
			}
		}
	}
	m.refutedTo[addr] = now
	return true
}

// addrOfLocked is the address of the alive member named name (a node ID in
// hex), or "".
func (m *Membership) addrOfLocked(name string) string {
	id, err := security.ParseNodeID(name)
	if err != nil {
		return ""
	}
	return m.alive[id].Addr
}

// setIncarnationLocked records inc on the member's entry, if it has one.
func (m *Membership) setIncarnationLocked(id security.NodeID, inc uint32) {
	if mem, ok := m.alive[id]; ok && mem.Incarnation != inc {
		mem.Incarnation = inc
		m.alive[id] = mem
	}
}

// emitLocked moves an alive member to state (alive or suspect) and tells
// every watcher.
func (m *Membership) emitLocked(typ EventType, id security.NodeID, state State) {
	mem, ok := m.alive[id]
	if !ok {
		return
	}
	mem.State = state
	mem.Since = time.Now()
	m.alive[id] = mem
	ev := Event{Type: typ, Member: mem}
	for w := range m.watchers {
		w.push(ev)
	}
	m.log.Debug("member "+typ.String(), zap.Stringer("member", id), zap.Uint32("incarnation", mem.Incarnation))
}

// nudgeAfter is how long a suspicion lasts before this node asks the
// suspect directly to refute it, and nudgeInterval how often it asks again.
const (
	nudgeAfter    = 1
	nudgeInterval = 2
)

// tendSuspicions runs every probe interval. To each member this node has
// suspected for nudgeAfter probe intervals it sends the suspicion itself,
// again every nudgeInterval: a live member that has not heard of it
// refutes it (memberlist's rule), one that refuted it already sends this
// node its refutation (observeSelfLocked). Gossip alone can miss one
// member, which would then declare a live node dead. And it returns to
// alive every member suspected for longer than memberlist could keep it
// suspect: it was neither declared dead nor seen to refute, so memberlist
// has cleared the suspicion.
func (m *Membership) tendSuspicions() {
	type nudge struct {
		msg  []byte
		addr string
	}
	var nudges []nudge
	m.mu.Lock()
	now := time.Now()
	pi := m.cfg.ProbeInterval
	bound := m.cfg.suspicionBound(len(m.alive))
	for id, st := range m.swim {
		if st.suspectSince.IsZero() {
			continue
		}
		if now.Sub(st.suspectSince) > bound {
			st.suspectSince = time.Time{}
			m.emitLocked(EventRefute, id, StateAlive)
			continue
		}
		if now.Sub(st.suspectSince) >= nudgeAfter*pi && now.Sub(st.nudgedAt) >= nudgeInterval*pi {
			if mem, ok := m.alive[id]; ok {
				st.nudgedAt = now
				s := swimLiveness{Incarnation: st.inc, Node: id.String(), From: m.self.String()}
				nudges = append(nudges, nudge{encodeSWIM(swimSuspect, s), mem.Addr})
			}
		}
	}
	m.mu.Unlock()
	for _, n := range nudges {
		if err := m.tr.sendMessage(n.msg, n.addr); err != nil {
			m.log.Debug("suspicion not sent to the suspect", zap.String("addr", n.addr), zap.Error(err))
		}
	}
}
