package membership

import (
	"math"
	"net"
	"slices"
	"time"

	"github.com/hashicorp/memberlist"
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
func (m *Membership) observeLiveness(msg swimMessage, l livenessView, from net.Addr) {
	id := l.Node
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
		} else {
			m.tr.refutations.Add(1)
			m.log.Debug("refutation sent to an accuser", zap.String("addr", addr))
		}
	}
}

// observeMemberLocked applies a message about another member.
func (m *Membership) observeMemberLocked(id security.NodeID, typ swimType, l livenessView) {
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
			m.clearSuspicionLocked(id, st)
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
			m.suspects[id] = st
			m.emitLocked(EventSuspect, id, StateSuspect)
		}
	case swimDead:
		if l.Incarnation < st.inc {
			return
		}
		st.inc = l.Incarnation
		accuser, ok := parseNodeIDBytes(l.From)
		st.leftBySelf = ok && accuser == id
		m.setIncarnationLocked(id, st.inc)
		// memberlist reports the departure itself (NotifyLeave), which
		// reads leftBySelf to tell a leave from a failure.
	}
}

// clearSuspicionLocked ends the suspicion of member id.
func (m *Membership) clearSuspicionLocked(id security.NodeID, st *swimState) {
	st.suspectSince = time.Time{}
	delete(m.suspects, id)
}

// observeSelfLocked applies a message about this node. It keeps selfInc
// equal to memberlist's incarnation of this node, which memberlist does not
// expose: it starts at 1, rises by one for each metadata update (see
// UpdateMeta), and on a refutation, when another member accuses this node
// at an incarnation at least its own, it becomes one more than the larger
// of the two. The leaving notice carries it.
//
// It also keeps selfAlive, the newest alive message about this node, and
// returns the addresses to send it to straight away: those of the members
// that accuse this node. memberlist spreads its refutation only by gossip,
// which misses a member with small probability (about e^-8 per member
// under the default retransmit limit), and its broadcast queue can lose
// the refutation before it is sent at all: the queue restarts its message
// IDs whenever it is briefly empty, and a later message of the same
// length and ID then replaces the refutation (hashicorp/memberlist pull
// request 263, not in v0.7.0). So on a refutation this node builds the
// same alive message itself and sends it to the accusers at once; to an
// accusation at an incarnation it has already refuted, which memberlist
// ignores, it answers with the newest alive message too.
func (m *Membership) observeSelfLocked(msg swimMessage, l livenessView, from net.Addr) []string {
	inc := l.Incarnation
	if from == nil {
		if msg.typ != swimAlive {
			return nil // this node's own dead message, when it leaves
		}
		m.log.Debug("alive message about this node sent", zap.Uint32("incarnation", inc))
		m.selfInc = max(m.selfInc, inc)
		if inc >= m.selfAliveInc {
			m.selfAlive = append(append(m.selfAlive[:0], byte(msg.typ)), msg.body...)
			m.selfAliveInc = inc
		}
		m.setIncarnationLocked(m.self, m.selfInc)
		return nil
	}
	accused := msg.typ == swimSuspect || msg.typ == swimDead
	accusers := func() []string {
		var to []string
		for _, addr := range []string{from.String(), m.addrOfLocked(string(l.From))} {
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
		// memberlist refutes.
		m.log.Debug("accused", zap.Uint32("incarnation", inc), zap.Uint32("self_incarnation", m.selfInc), zap.Stringer("from", from), zap.ByteString("by", l.From))
		if inc < math.MaxUint32 {
			m.selfInc = max(m.selfInc+1, inc+1)
		}
		m.setIncarnationLocked(m.self, m.selfInc)
		if !m.buildRefutationLocked() {
			return nil
		}
		return accusers()
	case accused && inc < m.selfInc && !m.meta.Leaving && len(m.selfAlive) > 0:
		m.log.Debug("accused at a refuted incarnation", zap.Uint32("incarnation", inc), zap.Uint32("self_incarnation", m.selfInc), zap.Stringer("from", from), zap.ByteString("by", l.From))
		return accusers()
	}
	return nil
}

// buildRefutationLocked makes selfAlive the alive message memberlist
// sends when it refutes at selfInc: the latest one it sent (its address,
// port and protocol versions), with selfInc and this node's current
// metadata. It reports false if memberlist has sent none yet.
func (m *Membership) buildRefutationLocked() bool {
	if len(m.selfAlive) == 0 {
		return false
	}
	var a swimAliveMsg
	if err := decodeSWIM(m.selfAlive[1:], &a); err != nil {
		return false
	}
	a.Incarnation = m.selfInc
	if meta, err := m.meta.encode(memberlist.MetaMaxSize); err == nil {
		a.Meta = meta
	}
	m.selfAlive = encodeSWIM(swimAlive, a)
	m.selfAliveInc = m.selfInc
	return true
}

// refuteInterval spaces direct refutations to one address: a quarter of
// the probe interval, so that each of an accuser's nudges (one every half
// probe interval, see tendSuspicions) is answered, while a flood of stale
// accusations from one address gets at most four answers a probe interval.
func (m *Membership) refuteInterval() time.Duration { return m.cfg.ProbeInterval / 4 }

// mayRefuteToLocked reports whether a direct refutation may go to addr
// now, and if so records it.
func (m *Membership) mayRefuteToLocked(addr string) bool {
	now := time.Now()
	every := m.refuteInterval()
	if now.Sub(m.refutedTo[addr]) < every {
		return false
	}
	if len(m.refutedTo) >= 1024 {
		for a, at := range m.refutedTo {
			if now.Sub(at) >= every {
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

// nudgeInterval is how long a suspicion lasts before this node asks the
// suspect directly to refute it, and how often it asks again: half a
// probe interval. An ask and its answer cross the network once each, so
// under 10 % loss an ask is answered with probability 0.81. A suspicion
// can end in a death SuspicionMult × log10(n) probe intervals after it
// began (9.2 at 200 members), by which time about 17 asks have gone out.
// With an ask every two probe intervals, 3 or 4 went out, and with 25 %
// loss a 50-member simulation declared a live member dead when all of a
// suspecting member's asks or their answers were lost.
func (m *Membership) nudgeInterval() time.Duration { return m.cfg.ProbeInterval / 2 }

// tendSuspicions runs every nudgeInterval. To each member this node has
// suspected for a nudgeInterval it sends the suspicion itself, again every
// nudgeInterval: a live member that has not heard of it refutes it
// (memberlist's rule), one that refuted it already sends this node its
// refutation (observeSelfLocked). Gossip alone can miss one member, which
// would then declare a live node dead. And it returns to alive every
// member suspected for longer than memberlist could keep it suspect: it
// was neither declared dead nor seen to refute, so memberlist has cleared
// the suspicion.
func (m *Membership) tendSuspicions() {
	type nudge struct {
		msg  []byte
		addr string
		id   security.NodeID
		inc  uint32
	}
	var nudges []nudge
	m.mu.Lock()
	now := time.Now()
	every := m.nudgeInterval()
	bound := m.cfg.suspicionBound(len(m.alive))
	// Only the suspects: walking every member twice a probe interval
	// cost 7 % of the CPU of 400 nodes in one process.
	for id, st := range m.suspects {
		if now.Sub(st.suspectSince) > bound {
			m.clearSuspicionLocked(id, st)
			m.emitLocked(EventRefute, id, StateAlive)
			continue
		}
		if now.Sub(st.suspectSince) >= every && now.Sub(st.nudgedAt) >= every {
			if mem, ok := m.alive[id]; ok {
				st.nudgedAt = now
				s := swimLiveness{Incarnation: st.inc, Node: id.String(), From: m.self.String()}
				nudges = append(nudges, nudge{encodeSWIM(swimSuspect, s), mem.Addr, id, st.inc})
			}
		}
	}
	m.mu.Unlock()
	for _, n := range nudges {
		if err := m.tr.sendMessage(n.msg, n.addr); err != nil {
			m.log.Debug("suspicion not sent to the suspect", zap.String("addr", n.addr), zap.Error(err))
		} else {
			m.tr.nudges.Add(1)
			m.log.Debug("suspicion sent to the suspect", zap.Stringer("member", n.id), zap.Uint32("incarnation", n.inc))
		}
	}
}
