package pubsub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
	"github.com/org/macula/transport"
)

// maxAckBacklog bounds the encoded acks waiting for one stream; past it
// acks are dropped (the publisher resends, and the event is acknowledged
// again).
const maxAckBacklog = 1 << 20

// inStream is an event stream a publisher opened to this node; acks for
// that publisher go back on the newest one. Acks are queued, encoded, and
// written by the stream's ack writer, as many as are waiting in one
// write, so that handlers do not wait on the stream.
type inStream struct {
	s    *transport.Stream
	kick chan struct{} // holds a token when acks went from none to some
	done chan struct{} // closed when the stream is no longer read

	mu   sync.Mutex
	acks []byte // encoded ack frames waiting to be written
}

func newInStream(s *transport.Stream) *inStream {
	return &inStream{s: s, kick: make(chan struct{}, 1), done: make(chan struct{})}
}

// ack queues the acknowledgement of (pub, seq).
func (in *inStream) ack(pub security.NodeID, seq uint64) {
	in.mu.Lock()
	if len(in.acks) >= maxAckBacklog {
		in.mu.Unlock()
		return
	}
	wake := len(in.acks) == 0
	in.acks = appendAckFrame(in.acks, pub[:], seq)
	in.mu.Unlock()
	if wake {
		select {
		case in.kick <- struct{}{}:
		default:
		}
	}
}

// writeAcks writes the queued acks until the stream is no longer read.
func (in *inStream) writeAcks() {
	var spare []byte
	for {
		select {
		case <-in.kick:
		case <-in.done:
			return
		}
		in.mu.Lock()
		b := in.acks
		in.acks = spare[:0]
		in.mu.Unlock()
		if len(b) > 0 {
			_ = in.s.SetWriteDeadline(time.Now().Add(writeTimeout))
			_, _ = in.s.Write(b)
		}
		if cap(b) <= maxBatch {
			spare = b
		} else {
			spare = nil
		}
	}
}

// serveEvents reads the events a publisher sends on s and delivers them
// to the local subscriptions, until the stream or the Service ends.
func (svc *Service) serveEvents(ctx context.Context, s *transport.Stream) {
	from := s.Peer()
	in := newInStream(s)
	if !svc.addInbound(from, in) {
		s.Abort(protocol.CodeShutdown)
		return
	}
	defer svc.removeInbound(from, in)
	acksDone := make(chan struct{})
	go func() {
		defer close(acksDone)
		in.writeAcks()
	}()
	defer func() {
		close(in.done)
		<-acksDone
	}()
	stop := context.AfterFunc(svc.ctx, func() { s.Abort(protocol.CodeShutdown) })
	defer stop()
	// Events are decoded by hand into one reused protocol.Event (receive
	// keeps nothing of it): protobuf reflection and its allocations were a
	// third of the subscriber's CPU.
	var pe protocol.Event
	var dec protocol.EventDecoder
	for {
		b, err := s.ReadRawFrame()
		if err != nil {
			if !errors.Is(err, io.EOF) && svc.ctx.Err() == nil && ctx.Err() == nil {
				svc.log.Debug("event stream ended", zap.String("peer", from.Short()), zap.Error(err))
				if code := protocol.CodeOf(err); code != protocol.CodeOK {
					s.Abort(code)
				}
			}
			return
		}
		ok, err := dec.Decode(b, &pe)
		if err == nil && !ok {
			err = notAnEvent(b)
		}
		if err != nil {
			svc.log.Debug("bad frame on event stream", zap.String("peer", from.Short()), zap.Error(err))
			s.Violation(err)
			return
		}
		svc.receive(from, &pe)
	}
}

// notAnEvent says what a frame on an event stream holds instead of an
// event: an error wrapping protocol.ErrMalformedFrame or ErrUnknownMessage.
func notAnEvent(b []byte) error {
	var env protocol.Envelope
	if err := proto.Unmarshal(b, &env); err != nil {
		return fmt.Errorf("%w: %w", protocol.ErrMalformedFrame, err)
	}
	if env.GetBody() == nil {
		return fmt.Errorf("%w: no body this node knows", protocol.ErrUnknownMessage)
	}
	return fmt.Errorf("%w: %T on an event stream", protocol.ErrUnknownMessage, env.GetBody())
}

// receive delivers one event from a peer. An event names its publisher;
// it may come from another node (a gateway forwarding it) only when the
// publisher's signature vouches for it.
func (svc *Service) receive(from security.NodeID, pe *protocol.Event) {
	pub, signer, err := svc.checkOrigin(from, pe)
	if err != nil {
		svc.stats.refused.Add(1)
		svc.log.Debug("event refused", zap.String("peer", from.Short()), zap.String("topic", pe.GetTopic()), zap.Error(err))
		if svc.cfg.OnRefused != nil {
			svc.cfg.OnRefused(from, pe.GetTopic(), err)
		}
		return
	}
	ev := &Event{
		Topic:       pe.GetTopic(),
		Data:        pe.GetData(),
		ContentType: pe.GetContentType(),
		Publisher:   pub,
		Seq:         pe.GetSeq(),
		Time:        time.Unix(0, pe.GetTimeUnixNano()),
		Signer:      signer,
	}
	if !validTopic(ev.Topic) {
		svc.stats.refused.Add(1)
		return
	}
	if svc.cfg.AuthorizePublish != nil {
		if err := svc.cfg.AuthorizePublish(pub, ev.Topic); err != nil {
			svc.stats.refused.Add(1)
			svc.log.Debug("event refused", zap.String("peer", from.Short()), zap.String("topic", ev.Topic), zap.Error(err))
			if pe.GetQos() == protocol.QoS_QOS_AT_LEAST_ONCE {
				svc.sendAck(from, pub, ev.Seq) // refused for good: do not resend
			}
			return
		}
	}
	svc.stats.received.Add(1)
	if pe.GetQos() != protocol.QoS_QOS_AT_LEAST_ONCE {
		svc.local.deliver(ev, pe.GetQueueGroups(), nil)
		return
	}
	switch svc.seen.get(pub, ev.Seq) {
	case seenAcked:
		svc.sendAck(from, pub, ev.Seq)
		return
	case seenPending:
		return
	}
	svc.seen.set(pub, ev.Seq, seenPending)
	n, ok := svc.local.deliver(ev, pe.GetQueueGroups(), func() {
		svc.seen.set(pub, ev.Seq, seenAcked)
		svc.sendAck(from, pub, ev.Seq)
	})
	if !ok || n == 0 {
		// A queue is full, or no subscription matches (yet: a restarted
		// node has not subscribed again): leave the event unacknowledged,
		// and the publisher resends it.
		svc.seen.set(pub, ev.Seq, seenNone)
		svc.stats.deferred.Add(1)
	}
}

// checkOrigin returns the publisher an event names and its verified
// signer (zero when unsigned), or why the event is refused: a signature
// that does not verify, a missing one when signatures are required, or an
// unsigned event naming a publisher other than the node it came from.
func (svc *Service) checkOrigin(from security.NodeID, pe *protocol.Event) (pub, signer security.NodeID, err error) {
	pub, err = security.NodeIDFromBytes(pe.GetPublisher())
	if err != nil {
		return pub, signer, fmt.Errorf("%w: %w", ErrForgedPublisher, err)
	}
	if len(pe.GetSignature()) == 0 {
		switch {
		case pub != from:
			return pub, signer, fmt.Errorf("%w: %s sent an event of %s", ErrForgedPublisher, from.Short(), pub.Short())
		case svc.cfg.RequireSignatures:
			return pub, signer, fmt.Errorf("%w: from %s", ErrUnsigned, from.Short())
		}
		return pub, signer, nil
	}
	msg := protocol.EventSigningBytes(pe.GetTopic(), pe.GetData(), pe.GetContentType(), pe.GetPublisher(), pe.GetSeq(), pe.GetTimeUnixNano(), pe.GetQos())
	if err := protocol.VerifySignature(pe.GetPublisher(), pe.GetPublisherKey(), msg, pe.GetSignature()); err != nil {
		return pub, signer, fmt.Errorf("event of %s from %s: %w", pub.Short(), from.Short(), err)
	}
	return pub, pub, nil
}

// sendAck acknowledges (pub, seq) on the newest event stream from the node
// that sent the event (pub itself, or a node that forwarded it).
func (svc *Service) sendAck(from, pub security.NodeID, seq uint64) {
	svc.inMu.Lock()
	in := svc.inbound[from]
	svc.inMu.Unlock()
	if in != nil {
		in.ack(pub, seq)
	}
}

func (svc *Service) addInbound(from security.NodeID, in *inStream) bool {
	// The stream is served on the transport's goroutine; counting it
	// lets Close wait until it is no longer read.
	if !svc.life.Add() {
		return false
	}
	svc.inMu.Lock()
	defer svc.inMu.Unlock()
	svc.inbound[from] = in
	return true
}

func (svc *Service) removeInbound(from security.NodeID, in *inStream) {
	svc.inMu.Lock()
	if svc.inbound[from] == in {
		delete(svc.inbound, from)
	}
	svc.inMu.Unlock()
	svc.life.Done()
}
