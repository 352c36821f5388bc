package security

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// DefaultAuditQueueSize is how many records an [Auditor] holds for its
// writer when [AuditConfig.QueueSize] is zero.
const DefaultAuditQueueSize = 1024

// AuditConfig configures an [Auditor]. The zero value makes an Auditor that
// counts events but writes them nowhere.
type AuditConfig struct {
	// Writer, if set, receives each record as one line of JSON (see
	// [Auditor]), in a single Write call. Default nil: no JSON lines.
	Writer io.Writer
	// Logger, if set, receives each record as a Warn-level entry with the
	// message "security audit" and one field per record field. Default
	// nil: no zap entries.
	Logger *zap.Logger
	// QueueSize is how many records may wait for the writer before new
	// ones are dropped. Zero or negative means [DefaultAuditQueueSize].
	QueueSize int
	// Now stamps events recorded without a time. Default nil: time.Now.
	Now func() time.Time
}

// AuditStats counts what an [Auditor] did with the events it was given.
type AuditStats struct {
	// Recorded counts events accepted into the queue.
	Recorded uint64
	// Dropped counts events lost because the queue was full or the Auditor
	// was closed.
	Dropped uint64
	// WriteErrors counts records the Writer failed to write.
	WriteErrors uint64
}

// Auditor writes the security audit log: one structured record per
// [AuditEvent], as JSON lines to an io.Writer and/or as zap entries. A JSON
// line looks like
//
//	{"time":"2025-01-02T03:04:05.123456789Z","kind":"acl_denied","peer":"1a2b…","remote":"192.0.2.1:4433","realm":"org.example.mesh","action":"publish","name":"sensors.secret","reason":"macula: denied by acl: …"}
//
// with "time" (RFC 3339, UTC) and "kind" always present and the other
// fields left out when empty.
//
// [Auditor.Record] never blocks on the writer: events go into a bounded
// queue ([AuditConfig.QueueSize]) that one goroutine, owned by the Auditor,
// drains in order. When the writer is slow and the queue is full, new
// events are dropped and counted (see [Auditor.Stats]); once the writer
// catches up the Auditor writes an [AuditDropped] record saying how many
// were lost, so a flood can hide events but not the fact that it did.
//
// Close the Auditor to write what is queued and stop its goroutine. A nil
// *Auditor is valid and does nothing, so callers need no nil checks. All
// methods are safe for concurrent use.
type Auditor struct {
	w   io.Writer
	log *zap.Logger
	now func() time.Time

	mu     sync.RWMutex // guards closed against sends on a closed queue
	closed bool
	queue  chan AuditEvent
	done   chan struct{} // closed when run returns

	recorded    atomic.Uint64
	dropped     atomic.Uint64
	unreported  atomic.Uint64 // drops not yet written as AuditDropped
	writeErrors atomic.Uint64
}

// NewAuditor returns an Auditor writing to cfg's Writer and Logger, and
// starts its writer goroutine; call [Auditor.Close] to stop it.
func NewAuditor(cfg AuditConfig) *Auditor {
	size := cfg.QueueSize
	if size <= 0 {
		size = DefaultAuditQueueSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &Auditor{
		w:     cfg.Writer,
		log:   cfg.Logger,
		now:   cfg.Now,
		queue: make(chan AuditEvent, size),
		done:  make(chan struct{}),
	}
	go a.run()
	return a
}

// Record queues ev for the audit log, stamping it with the current time
// ([AuditConfig.Now]) if ev.Time is zero. It never waits for the writer: if the queue is full, or
// the Auditor is closed, ev is dropped and counted.
func (a *Auditor) Record(ev AuditEvent) {
	if a == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = a.now()
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		a.dropped.Add(1)
		return
	}
	select {
	case a.queue <- ev:
		a.recorded.Add(1)
	default:
		a.dropped.Add(1)
		a.unreported.Add(1)
	}
}

// HandshakeFailure records a refused or failed handshake with the peer at
// remote: the event of [AuditEventFromError], with Kind
// [AuditHandshakeFailed] when [ClassifyError] does not know err. Its
// signature is that of transport.Config.OnHandshakeFailure, so it can be
// used as that hook directly; like Record, it does not block.
func (a *Auditor) HandshakeFailure(remote net.Addr, err error) {
	if a == nil {
		return
	}
	ev := AuditEventFromError(remote, err)
	if ev.Kind == "" {
		ev.Kind = AuditHandshakeFailed
	}
	a.Record(ev)
}

// Stats returns the Auditor's counters; all zero for a nil Auditor.
func (a *Auditor) Stats() AuditStats {
	if a == nil {
		return AuditStats{}
	}
	return AuditStats{
		Recorded:    a.recorded.Load(),
		Dropped:     a.dropped.Load(),
		WriteErrors: a.writeErrors.Load(),
	}
}

// Close stops accepting events, writes every queued one and returns once
// the writer goroutine has exited. A writer that never returns from Write
// keeps Close waiting. Close is idempotent and always returns nil; write
// failures are counted in [AuditStats.WriteErrors].
func (a *Auditor) Close() error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		close(a.queue)
	}
	a.mu.Unlock()
	<-a.done
	return nil
}

// run writes queued events until the queue is closed and drained.
func (a *Auditor) run() {
	defer close(a.done)
	for ev := range a.queue {
		a.write(ev)
		a.reportDrops()
	}
	a.reportDrops()
}

// reportDrops writes an AuditDropped record if events were dropped since
// the last one.
func (a *Auditor) reportDrops() {
	if n := a.unreported.Swap(0); n > 0 {
		a.write(AuditEvent{
			Time:   a.now(),
			Kind:   AuditDropped,
			Reason: fmt.Sprintf("%d audit records dropped: the audit writer could not keep up", n),
		})
	}
}

// auditLine is the JSON form of an AuditEvent.
type auditLine struct {
	Time   string    `json:"time"`
	Kind   AuditKind `json:"kind"`
	Peer   string    `json:"peer,omitempty"`
	Remote string    `json:"remote,omitempty"`
	Realm  string    `json:"realm,omitempty"`
	Action Action    `json:"action,omitempty"`
	Name   string    `json:"name,omitempty"`
	Reason string    `json:"reason,omitempty"`
}

// write sends one event to the writer and the logger.
func (a *Auditor) write(ev AuditEvent) {
	var peer string
	if !ev.Peer.IsZero() {
		peer = ev.Peer.String()
	}
	if a.w != nil {
		line, err := json.Marshal(auditLine{
			Time:   ev.Time.UTC().Format(time.RFC3339Nano),
			Kind:   ev.Kind,
			Peer:   peer,
			Remote: ev.RemoteAddr,
			Realm:  ev.Realm,
			Action: ev.Action,
			Name:   ev.Name,
			Reason: ev.Reason,
		})
		if err == nil {
			_, err = a.w.Write(append(line, '\n'))
		}
		if err != nil {
			a.writeErrors.Add(1)
		}
	}
	if a.log != nil {
		fields := make([]zap.Field, 0, 8)
		fields = append(fields, zap.Time("time", ev.Time), zap.String("kind", string(ev.Kind)))
		for _, f := range []struct{ key, value string }{
			{"peer", peer}, {"remote", ev.RemoteAddr}, {"realm", ev.Realm},
			{"action", string(ev.Action)}, {"name", ev.Name}, {"reason", ev.Reason},
		} {
			if f.value != "" {
				fields = append(fields, zap.String(f.key, f.value))
			}
		}
		a.log.Warn("security audit", fields...)
	}
}
