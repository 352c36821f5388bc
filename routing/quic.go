package routing

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"go.uber.org/zap"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
	"github.com/org/macula/transport"
)

// Network is what the DHT's QUIC wire layer needs from the transport;
// *transport.Transport implements it.
type Network interface {
	// Connect returns a connection to id, dialing addrs if there is none.
	Connect(ctx context.Context, id security.NodeID, addrs []string) (transport.PeerInfo, error)
	// Peer returns the connection to id, if there is one.
	Peer(id security.NodeID) (transport.PeerInfo, bool)
	// OpenStream opens a stream of type typ to a connected id.
	OpenStream(ctx context.Context, id security.NodeID, typ protocol.StreamType) (*transport.Stream, error)
	// Handle serves the streams of type typ that peers open.
	Handle(typ protocol.StreamType, h transport.StreamHandler)
}

var _ Network = (*transport.Transport)(nil)

// ErrUnreachable means a contact could not be connected to at any of its
// addresses.
var ErrUnreachable = errors.New("macula: dht contact unreachable")

// QUICQuerier sends DHT queries over the node's QUIC connections: one
// bidirectional stream of type protocol.StreamDHT per query, carrying one
// request frame and one response frame.
type QUICQuerier struct {
	nw Network
}

// NewQUICQuerier returns a Querier over nw.
func NewQUICQuerier(nw Network) *QUICQuerier { return &QUICQuerier{nw: nw} }

var (
	_ Querier = (*QUICQuerier)(nil)
	_ Watcher = (*QUICQuerier)(nil)
)

// connect makes sure there is a connection to c, dialing its addresses.
func (q *QUICQuerier) connect(ctx context.Context, c Contact) error {
	if _, err := q.nw.Connect(ctx, c.ID, c.Addrs); err != nil {
		return fmt.Errorf("contact %s: %w: %w", c.ID.Short(), ErrUnreachable, err)
	}
	return nil
}

// exchange sends one request to c and reads its response. Every DHT
// request is idempotent, so one that died with the connection it ran on
// because that connection lost to a simultaneous dial from c (both nodes
// dialed at once, as happens when an idle connection was closed and both
// need it again) is sent again, on the connection that won.
func (q *QUICQuerier) exchange(ctx context.Context, c Contact, req *protocol.Envelope) (*protocol.Envelope, error) {
	for attempt := 0; ; attempt++ {
		resp, err := q.exchangeOnce(ctx, c, req)
		if code, ok := transport.StreamCode(err); ok && code == protocol.CodeDuplicateConnection && attempt < 2 && ctx.Err() == nil {
			continue
		}
		return resp, err
	}
}

// exchangeOnce is one attempt of exchange.
func (q *QUICQuerier) exchangeOnce(ctx context.Context, c Contact, req *protocol.Envelope) (*protocol.Envelope, error) {
	if err := q.connect(ctx, c); err != nil {
		return nil, err
	}
	s, err := q.nw.OpenStream(ctx, c.ID, protocol.StreamDHT)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { s.Abort(protocol.CodeCancelled) })
	defer stop()
	if err := s.WriteFrame(req); err != nil {
		return nil, err
	}
	_ = s.CloseWrite()
	var resp protocol.Envelope
	if err := s.ReadFrame(&resp); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if e := resp.GetError(); e != nil {
		return nil, &protocol.CodeError{Code: e.GetCode(), Message: e.GetMessage(), Remote: true}
	}
	return &resp, nil
}

// FindNode implements Querier.
func (q *QUICQuerier) FindNode(ctx context.Context, to Contact, target Key) ([]Contact, error) {
	resp, err := q.exchange(ctx, to, &protocol.Envelope{Body: &protocol.Envelope_FindNode{FindNode: &protocol.FindNode{Target: target[:]}}})
	if err != nil {
		return nil, err
	}
	r := resp.GetFindNodeResponse()
	if r == nil {
		return nil, fmt.Errorf("%w: FIND_NODE answered with %T", protocol.ErrMalformedFrame, resp.Body)
	}
	return contactsFromProto(r.GetCloser()), nil
}

// FindValue implements Querier.
func (q *QUICQuerier) FindValue(ctx context.Context, to Contact, key Key) ([]*Record, []Contact, error) {
	resp, err := q.exchange(ctx, to, &protocol.Envelope{Body: &protocol.Envelope_FindValue{FindValue: &protocol.FindValue{Key: key[:]}}})
	if err != nil {
		return nil, nil, err
	}
	r := resp.GetFindValueResponse()
	if r == nil {
		return nil, nil, fmt.Errorf("%w: FIND_VALUE answered with %T", protocol.ErrMalformedFrame, resp.Body)
	}
	recs := make([]*Record, 0, len(r.GetRecords()))
	for _, p := range r.GetRecords() {
		rec, err := RecordFromProto(p)
		if err != nil {
			continue // the caller verifies what it keeps; drop what does not even parse
		}
		recs = append(recs, rec)
	}
	return recs, contactsFromProto(r.GetCloser()), nil
}

// Store implements Querier.
func (q *QUICQuerier) Store(ctx context.Context, to Contact, rec *Record) error {
	resp, err := q.exchange(ctx, to, &protocol.Envelope{Body: &protocol.Envelope_Store{Store: &protocol.Store{Record: rec.ToProto()}}})
	if err != nil {
		return err
	}
	r := resp.GetStoreResponse()
	if r == nil {
		return fmt.Errorf("%w: STORE answered with %T", protocol.ErrMalformedFrame, resp.Body)
	}
	if r.GetCode() != protocol.CodeOK {
		return ErrorFromCode(r.GetCode(), r.GetMessage())
	}
	return nil
}

// Watch implements [Watcher]: it opens a stream to to, sends a Watch
// request and reads WatchEvent frames, calling onEvent with the records
// of each that parse (the DHT verifies them for its realm, as for
// FindValue), until to closes the stream at
// the lease end (Watch returns nil), ctx ends or the stream fails. A
// refused watch fails with the remote error ([ErrLimit] still matches).
func (q *QUICQuerier) Watch(ctx context.Context, to Contact, key Key, lease time.Duration, onEvent func([]*Record)) error {
	if err := q.connect(ctx, to); err != nil {
		return err
	}
	s, err := q.nw.OpenStream(ctx, to.ID, protocol.StreamDHT)
	if err != nil {
		return err
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { s.Abort(protocol.CodeCancelled) })
	defer stop()
	ms := lease.Milliseconds()
	if ms <= 0 || ms > math.MaxUint32 {
		ms = math.MaxUint32
	}
	if err := s.WriteFrame(&protocol.Envelope{Body: &protocol.Envelope_Watch{Watch: &protocol.Watch{Key: key[:], LeaseMillis: uint32(ms)}}}); err != nil {
		return err
	}
	for {
		var env protocol.Envelope
		if err := s.ReadFrame(&env); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if e := env.GetError(); e != nil {
			return ErrorFromCode(e.GetCode(), e.GetMessage())
		}
		ev := env.GetWatchEvent()
		if ev == nil {
			return fmt.Errorf("%w: WATCH answered with %T", protocol.ErrMalformedFrame, env.Body)
		}
		if !bytes.Equal(ev.GetKey(), key[:]) {
			return fmt.Errorf("%w: WATCH event for another key", protocol.ErrMalformedFrame)
		}
		recs := make([]*Record, 0, len(ev.GetRecords()))
		for _, p := range ev.GetRecords() {
			rec, err := RecordFromProto(p)
			if err != nil || rec.Key != key {
				continue // the DHT verifies what it keeps; drop what does not even parse
			}
			recs = append(recs, rec)
		}
		onEvent(recs)
	}
}

func contactsFromProto(in []*protocol.NodeInfo) []Contact {
	out := make([]Contact, 0, len(in))
	for _, ni := range in {
		if c, err := ContactFromProto(ni); err == nil {
			out = append(out, c)
		}
	}
	return out
}

func contactsToProto(in []Contact) []*protocol.NodeInfo {
	out := make([]*protocol.NodeInfo, 0, len(in))
	for _, c := range in {
		out = append(out, c.ToProto())
	}
	return out
}

// Serve answers DHT queries that arrive on nw with d, one stream per query.
func Serve(nw Network, d *DHT, log *zap.Logger) {
	if log == nil {
		log = zap.NewNop()
	}
	nw.Handle(protocol.StreamDHT, func(ctx context.Context, s *transport.Stream) {
		_ = s.SetDeadline(time.Now().Add(DefaultQueryTimeout))
		var req protocol.Envelope
		if err := s.ReadFrame(&req); err != nil {
			if !errors.Is(err, io.EOF) {
				log.Debug("bad DHT request", zap.Stringer("peer", s.Peer()), zap.Error(err))
			}
			return
		}
		switch req.Body.(type) {
		case *protocol.Envelope_FindNode, *protocol.Envelope_FindValue:
			// Refused before any other work, the peer's addresses
			// included: a flood of queries costs what it must.
			if err := d.admitQuery(s.Peer()); err != nil {
				_ = s.WriteFrame(&protocol.Envelope{Body: &protocol.Envelope_Error{Error: &protocol.Error{
					Code: protocol.CodeRateLimited, Message: err.Error()}}})
				return
			}
		}
		from := Contact{ID: s.Peer()}
		if p, ok := nw.Peer(s.Peer()); ok {
			from.Addrs = p.AdvertisedAddrs
		}
		if w := req.GetWatch(); w != nil {
			serveWatch(ctx, s, d, from, w, log)
			return
		}
		resp := answer(d, from, &req)
		_ = s.WriteFrame(resp)
	})
}

// serveWatch serves a Watch request on s: a WatchEvent frame with the
// records stored under the key at once and then on every change, until
// the lease ends (the stream is then closed cleanly), the peer aborts
// the stream or ctx ends. A refused watch is answered with an Error frame.
func serveWatch(ctx context.Context, s *transport.Stream, d *DHT, from Contact, w *protocol.Watch, log *zap.Logger) {
	_ = s.SetDeadline(time.Time{})
	fail := func(code protocol.ErrorCode, msg string) {
		_ = s.SetWriteDeadline(time.Now().Add(DefaultQueryTimeout))
		_ = s.WriteFrame(&protocol.Envelope{Body: &protocol.Envelope_Error{Error: &protocol.Error{Code: code, Message: msg}}})
		_ = s.CloseWrite()
	}
	var key Key
	if len(w.GetKey()) != len(key) {
		fail(protocol.CodeInvalidArgument, "WATCH key must be 32 bytes")
		return
	}
	copy(key[:], w.GetKey())
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The watcher sends nothing after its request: a read that returns
	// means it went away. The read ends at the latest when the stream is
	// closed below.
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer cancel()
		var env protocol.Envelope
		_ = s.ReadFrame(&env)
	}()
	defer func() {
		_ = s.Close()
		<-readDone
	}()
	lease := time.Duration(w.GetLeaseMillis()) * time.Millisecond
	err := d.HandleWatch(ctx, from, key, lease, func(recs []*Record) error {
		ev := &protocol.WatchEvent{Key: key[:], Records: make([]*protocol.Record, 0, len(recs))}
		for _, r := range recs {
			ev.Records = append(ev.Records, r.ToProto())
		}
		_ = s.SetWriteDeadline(time.Now().Add(DefaultQueryTimeout))
		return s.WriteFrame(&protocol.Envelope{Body: &protocol.Envelope_WatchEvent{WatchEvent: ev}})
	})
	switch {
	case err == nil:
		_ = s.Close()
	case errors.Is(err, ErrLimit) || errors.Is(err, ErrRateLimited) || errors.Is(err, ErrClosed):
		fail(ErrorCode(err), err.Error())
	default:
		log.Debug("DHT watch ended", zap.Stringer("peer", from.ID), zap.Error(err))
		s.Abort(protocol.CodeCancelled)
	}
}

// answer runs one query against d.
func answer(d *DHT, from Contact, req *protocol.Envelope) *protocol.Envelope {
	keyOf := func(b []byte) (Key, bool) {
		var k Key
		if len(b) != len(k) {
			return k, false
		}
		copy(k[:], b)
		return k, true
	}
	bad := func(msg string) *protocol.Envelope {
		return &protocol.Envelope{Body: &protocol.Envelope_Error{Error: &protocol.Error{Code: protocol.CodeInvalidArgument, Message: msg}}}
	}
	switch body := req.Body.(type) {
	case *protocol.Envelope_FindNode:
		k, ok := keyOf(body.FindNode.GetTarget())
		if !ok {
			return bad("FIND_NODE target must be 32 bytes")
		}
		return &protocol.Envelope{Body: &protocol.Envelope_FindNodeResponse{FindNodeResponse: &protocol.FindNodeResponse{
			Closer: contactsToProto(d.HandleFindNode(from, k))}}}
	case *protocol.Envelope_FindValue:
		k, ok := keyOf(body.FindValue.GetKey())
		if !ok {
			return bad("FIND_VALUE key must be 32 bytes")
		}
		recs, closer := d.HandleFindValue(from, k)
		pr := make([]*protocol.Record, 0, len(recs))
		for _, r := range recs {
			pr = append(pr, r.ToProto())
		}
		return &protocol.Envelope{Body: &protocol.Envelope_FindValueResponse{FindValueResponse: &protocol.FindValueResponse{
			Records: pr, Closer: contactsToProto(closer)}}}
	case *protocol.Envelope_Store:
		rec, err := RecordFromProto(body.Store.GetRecord())
		if err == nil {
			err = d.HandleStore(from, rec)
		} else {
			err = d.handleStore(from, nil, err)
		}
		code, msg := protocol.CodeOK, ""
		if err != nil {
			code, msg = ErrorCode(err), err.Error()
		}
		return &protocol.Envelope{Body: &protocol.Envelope_StoreResponse{StoreResponse: &protocol.StoreResponse{Code: code, Message: msg}}}
	}
	return &protocol.Envelope{Body: &protocol.Envelope_Error{Error: &protocol.Error{Code: protocol.CodeUnknownMessage, Message: fmt.Sprintf("not a DHT request: %T", req.Body)}}}
}
