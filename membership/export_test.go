package membership

import "slices"

// RebuiltSelfAliveForTest returns the newest alive message memberlist sent
// about m's node, and the one buildRefutationLocked builds from it at the
// same incarnation, which must be the same bytes.
func RebuiltSelfAliveForTest(m *Membership) (sent, rebuilt []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sent = slices.Clone(m.selfAlive)
	savedInc, savedAliveInc := m.selfInc, m.selfAliveInc
	m.selfInc = m.selfAliveInc
	if m.buildRefutationLocked() {
		rebuilt = slices.Clone(m.selfAlive)
	}
	m.selfAlive = append(m.selfAlive[:0], sent...)
	m.selfInc, m.selfAliveInc = savedInc, savedAliveInc
	return sent, rebuilt
}
