package pubsub

import (
	"context"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
	"github.com/org/macula/transport"
)

const (
	// maxBatch bounds the bytes written to a stream in one Write.
	maxBatch = 64 << 10
	// queueBlock is the size of the blocks a peer's queue is made of;
	// a larger frame gets a block of its own.
	queueBlock = 64 << 10
	// writeTimeout bounds one batch write, so a dead connection cannot
	// hold a peer's queue for longer.
	writeTimeout = 5 * time.Second
	// minRedial and maxRedial bound the wait between connection attempts
	// to an unreachable peer.
	minRedial = 100 * time.Millisecond
	maxRedial = 5 * time.Second
)

// queueBlocks holds empty queue blocks for reuse.
var queueBlocks = sync.Pool{New: func() any {
	b := make([]byte, 0, queueBlock)
	return &b
}}

// pendingAck is an at-least-once event sent to one peer and not yet
// acknowledged by it.
type pendingAck struct {
	seq    uint64
	frame  []byte
	done   chan struct{}
	sentAt time.Time // guarded by peerOut.mu; zero until first written
}

// peerOut sends events to one subscriber node on one event stream, with
// batched writes, redialing and resending unacknowledged events as
// needed. Publishers append encoded frames to its queue, a list of
// blocks that its goroutine takes whole and writes, a block per write;
// the goroutine lives until the Service closes.
type peerOut struct {
	svc  *Service
	id   security.NodeID
	kick chan struct{} // holds a token when the queue went from empty to not

	mu      sync.Mutex
	addrs   []string
	pending map[uint64]*pendingAck
	queue   []*[]byte     // frames waiting to be written, in order
	queued  int           // events in queue
	acks    []*pendingAck // the at-least-once events in queue
	room    chan struct{} // closed when the queue is taken, if publishers wait
}

// writer is the current event stream to a peer and its ack reader.
type writer struct {
	s    *transport.Stream
	done chan struct{} // closed when the ack reader ends
}

// peer returns the sender for id, starting it if needed, with addrs as
// its latest known addresses.
func (svc *Service) peer(id security.NodeID, addrs []string) (*peerOut, bool) {
	svc.outMu.Lock()
	defer svc.outMu.Unlock()
	if p, ok := svc.peers[id]; ok {
		if len(addrs) > 0 {
			p.mu.Lock()
			p.addrs = addrs
			p.mu.Unlock()
		}
		return p, true
	}
	p := &peerOut{svc: svc, id: id, kick: make(chan struct{}, 1), addrs: addrs, pending: make(map[uint64]*pendingAck)}
	// Refused once Close has begun: no sender starts after that.
	if !svc.life.Go(p.run) {
		return nil, false
	}
	svc.peers[id] = p
	return p, true
}

// waitRoom waits while ctx lasts until fewer than PeerQueue events are
// queued. Publish waits for room first and then numbers and queues its
// event under the Service's orderMu without waiting, so concurrent
// Publish calls can take the queue past PeerQueue by one event each.
func (p *peerOut) waitRoom(ctx context.Context) error {
	p.mu.Lock()
	for p.queued >= p.svc.cfg.PeerQueue {
		if p.room == nil {
			p.room = make(chan struct{})
		}
		room := p.room
		p.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return ctx.Err()
		case <-p.svc.ctx.Done():
			return ErrClosed
		}
		p.mu.Lock()
	}
	p.mu.Unlock()
	return nil
}

// enqueue queues a copy of frame, an at-least-once event with ack,
// without waiting for room (see waitRoom).
func (p *peerOut) enqueue(frame []byte, ack *pendingAck) {
	p.mu.Lock()
	if ack != nil {
		p.pending[ack.seq] = ack
		p.acks = append(p.acks, ack)
	}
	n := len(p.queue)
	if n == 0 || cap(*p.queue[n-1])-len(*p.queue[n-1]) < len(frame) {
		var bp *[]byte
		if len(frame) <= queueBlock {
			bp = queueBlocks.Get().(*[]byte)
		} else {
			b := make([]byte, 0, len(frame))
			bp = &b
		}
		p.queue = append(p.queue, bp)
		n++
	}
	*p.queue[n-1] = append(*p.queue[n-1], frame...)
	p.queued++
	wake := p.queued == 1
	p.mu.Unlock()
	if wake {
		select {
		case p.kick <- struct{}{}:
		default: // a token is there already
		}
	}
}

// take returns the queue, leaving spare and spareAcks (emptied) in its
// place, and wakes the publishers waiting for room.
func (p *peerOut) take(spare []*[]byte, spareAcks []*pendingAck) (queue []*[]byte, acks []*pendingAck, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	queue, acks, n = p.queue, p.acks, p.queued
	p.queue, p.acks, p.queued = spare[:0], spareAcks[:0], 0
	if p.room != nil {
		close(p.room)
		p.room = nil
	}
	return queue, acks, n
}

// forget stops resending seq (its Publish stopped waiting).
func (p *peerOut) forget(seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.pending, seq)
}

// acked resolves seq's acknowledgement.
func (p *peerOut) acked(seq uint64) {
	p.mu.Lock()
	pa := p.pending[seq]
	delete(p.pending, seq)
	p.mu.Unlock()
	if pa != nil {
		close(pa.done)
	}
}

// run is the peer's goroutine.
func (p *peerOut) run() {
	ctx := p.svc.ctx
	var w *writer
	defer func() { w.close() }()
	retry := time.NewTicker(p.svc.cfg.RetryInterval)
	defer retry.Stop()
	var (
		spare     []*[]byte
		spareAcks []*pendingAck
		nextDial  time.Time
		redial    = minRedial
	)
	// ensure opens a stream if there is none, and first resends the
	// events that earlier streams carried without an ack.
	ensure := func() bool {
		if w != nil {
			return true
		}
		if time.Now().Before(nextDial) {
			return false
		}
		nw, err := p.open(ctx)
		if err != nil {
			if ctx.Err() == nil {
				p.svc.log.Debug("event stream open failed", zap.String("peer", p.id.Short()), zap.Error(err))
			}
			nextDial = time.Now().Add(redial)
			redial = min(2*redial, maxRedial)
			return false
		}
		redial = minRedial
		w = nw
		if !p.write(w, p.due(time.Time{}, true)) {
			w.close()
			w = nil
			return false
		}
		return true
	}
	for {
		var done <-chan struct{}
		if w != nil {
			done = w.done
		}
		select {
		case <-p.kick:
		case <-retry.C:
			if p.hasPending() && ensure() {
				if !p.write(w, p.due(time.Now().Add(-p.svc.cfg.RetryInterval), false)) {
					w.close()
					w = nil
				}
			}
			continue
		case <-done:
			w.close()
			w = nil
			continue
		case <-ctx.Done():
			return
		}
		queue, acks, n := p.take(spare, spareAcks)
		if n > 0 {
			if !ensure() {
				// The at-least-once events count as written, so that
				// they are resent with the others.
				p.markSent(acks)
				p.lost(n - len(acks))
			} else {
				p.markSent(acks)
				if err := w.writeBlocks(queue); err != nil {
					p.svc.log.Debug("event stream write failed", zap.String("peer", p.id.Short()), zap.Error(err))
					p.lost(n - len(acks))
					w.close()
					w = nil
				}
			}
		}
		for i, bp := range queue {
			if cap(*bp) == queueBlock {
				*bp = (*bp)[:0]
				queueBlocks.Put(bp)
			}
			queue[i] = nil
		}
		clear(acks)
		spare, spareAcks = queue, acks
	}
}

// lost counts at-most-once events that could not be sent; at-least-once
// ones stay pending and are resent.
func (p *peerOut) lost(n int) {
	p.svc.stats.sendFailed.Add(uint64(n))
}

func (p *peerOut) hasPending() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending) > 0
}

// markSent records when the at-least-once events of a batch were written.
func (p *peerOut) markSent(acks []*pendingAck) {
	if len(acks) == 0 {
		return
	}
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pa := range acks {
		pa.sentAt = now
	}
}

// due returns, in sequence order, the pending events last written before
// cutoff (all that were ever written, with all), marking them written now.
func (p *peerOut) due(cutoff time.Time, all bool) [][]byte {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	var list []*pendingAck
	for _, pa := range p.pending {
		if pa.sentAt.IsZero() {
			continue // still queued; it goes out in order with its batch
		}
		if all || pa.sentAt.Before(cutoff) {
			list = append(list, pa)
		}
	}
	slices.SortFunc(list, func(a, b *pendingAck) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	frames := make([][]byte, len(list))
	for i, pa := range list {
		pa.sentAt = now
		frames[i] = pa.frame
	}
	if len(list) > 0 {
		p.svc.stats.resent.Add(uint64(len(list)))
	}
	return frames
}

// write writes frames in batches; false means the stream failed.
func (p *peerOut) write(w *writer, frames [][]byte) bool {
	var buf []byte
	for i, f := range frames {
		buf = append(buf, f...)
		if len(buf) >= maxBatch || i == len(frames)-1 {
			if err := w.writeRaw(buf); err != nil {
				return false
			}
			buf = buf[:0]
		}
	}
	return true
}

// open connects to the peer and opens an event stream, with a goroutine
// reading its acks.
func (p *peerOut) open(ctx context.Context) (*writer, error) {
	p.mu.Lock()
	addrs := p.addrs
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	if _, err := p.svc.cfg.Network.Connect(ctx, p.id, addrs); err != nil {
		return nil, err
	}
	s, err := p.svc.cfg.Network.OpenStream(ctx, p.id, protocol.StreamEvents)
	if err != nil {
		return nil, err
	}
	w := &writer{s: s, done: make(chan struct{})}
	if !p.svc.life.Go(func() {
		defer close(w.done)
		var env protocol.Envelope
		for {
			if err := s.ReadFrame(&env); err != nil {
				return
			}
			if a := env.GetAck(); a != nil {
				p.acked(a.GetSeq())
			}
		}
	}) {
		// Close has begun: the stream has no ack reader and no future.
		s.Abort(protocol.CodeShutdown)
		return nil, ErrClosed
	}
	return w, nil
}

func (w *writer) writeRaw(b []byte) error {
	_ = w.s.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := w.s.Write(b)
	return err
}

// writeBlocks writes a queue's blocks, one write each; a block of one
// large frame goes in writes of at most maxBatch bytes, each with its own
// deadline (the stream is this goroutine's alone, so a frame may span
// writes).
func (w *writer) writeBlocks(blocks []*[]byte) error {
	for _, bp := range blocks {
		for b := *bp; len(b) > 0; {
			n := min(len(b), maxBatch)
			if err := w.writeRaw(b[:n]); err != nil {
				return err
			}
			b = b[n:]
		}
	}
	return nil
}

// close aborts the stream, which ends the ack reader.
func (w *writer) close() {
	if w == nil {
		return
	}
	w.s.Abort(protocol.CodeShutdown)
}
