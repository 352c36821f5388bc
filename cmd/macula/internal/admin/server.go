package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/org/macula"
)

// Defaults of the server.
const (
	// DefaultTimeout bounds a ping, join, at-least-once publish or call
	// whose request gives no timeout.
	DefaultTimeout = 10 * time.Second
	// MaxTimeout is the longest timeout a request may ask for.
	MaxTimeout = 10 * time.Minute
	// joinTimeout bounds a join: longer than a node's handshake timeout,
	// so that a failed handshake reports its own error.
	joinTimeout = 15 * time.Second
	// maxBody bounds request bodies: a payload of the largest frame, in
	// base64, fits.
	maxBody = 8 << 20
)

// Server serves the admin API for one node. Create it with NewServer,
// start it with Start and stop it with Close.
type Server struct {
	b   Backend
	log *zap.Logger
	mux *http.ServeMux

	// base is the parent of every request's context; cancelling it ends
	// the streams, so that Close does not wait for subscribers.
	base   context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	srv     *http.Server
	wg      sync.WaitGroup
	serveEr error
}

// NewServer returns a server for b that logs to log.
func NewServer(b Backend, log *zap.Logger) *Server {
	if log == nil {
		log = zap.NewNop()
	}
	s := &Server{b: b, log: log, mux: http.NewServeMux()}
	s.base, s.cancel = context.WithCancel(context.Background())
	s.mux.HandleFunc("GET /v1/node", s.node)
	s.mux.HandleFunc("GET /v1/members", s.members)
	s.mux.HandleFunc("GET /v1/peers", s.peers)
	s.mux.HandleFunc("GET /v1/topology", s.topology)
	s.mux.HandleFunc("GET /v1/routes", s.routes)
	s.mux.HandleFunc("GET /v1/stats", s.stats)
	s.mux.HandleFunc("POST /v1/ping", s.ping)
	s.mux.HandleFunc("POST /v1/join", s.join)
	s.mux.HandleFunc("POST /v1/publish", s.publish)
	s.mux.HandleFunc("GET /v1/subscribe", s.subscribe)
	s.mux.HandleFunc("POST /v1/call", s.call)
	s.mux.HandleFunc("GET /v1/keyring", s.keyring)
	s.mux.HandleFunc("POST /v1/keyring/install", s.keyChange("install", Backend.InstallGossipKey))
	s.mux.HandleFunc("POST /v1/keyring/use", s.keyChange("use", Backend.UseGossipKey))
	s.mux.HandleFunc("POST /v1/keyring/remove", s.keyChange("remove", Backend.RemoveGossipKey))
	return s
}

// Handler returns the API's HTTP handler, with the checks that keep web
// pages out (see the package documentation).
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != "" {
			writeError(w, http.StatusForbidden, &Error{Code: CodeForbidden, Message: "cross-origin requests are not allowed"})
			return
		}
		if r.Method == http.MethodPost {
			mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if mt != "application/json" {
				writeError(w, http.StatusUnsupportedMediaType, &Error{Code: CodeBadRequest, Message: "request body must be application/json"})
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		s.mux.ServeHTTP(w, r)
	})
}

// Start serves the API on ln in the background until Close.
func (s *Server) Start(ln net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return s.base },
		ErrorLog:          zap.NewStdLog(s.log.Named("admin-http")),
	}
	srv := s.srv
	s.wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin API stopped", zap.Error(err))
			s.mu.Lock()
			s.serveEr = err
			s.mu.Unlock()
		}
	})
}

// Close ends every request in flight, subscription streams included,
// stops serving and waits for the server's goroutines. ctx bounds the
// wait for requests to finish.
func (s *Server) Close(ctx context.Context) error {
	s.cancel()
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	var err error
	if srv != nil {
		if err = srv.Shutdown(ctx); err != nil {
			err = errors.Join(err, srv.Close())
		}
	}
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(err, s.serveEr)
}

func (s *Server) node(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.b.Info())
}

func (s *Server) members(w http.ResponseWriter, _ *http.Request) {
	self := s.b.Info().ID
	ms := s.b.Members()
	out := make([]Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, Member{
			ID:          m.ID,
			Self:        m.ID == self,
			State:       m.State.String(),
			Incarnation: m.Incarnation,
			Addr:        m.Addr,
			Addrs:       m.Meta.Addrs,
			Version:     m.Meta.Version,
			Tags:        m.Meta.Tags,
			Links:       m.Meta.Links,
			Since:       m.Since,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID.Compare(out[j].ID) < 0 })
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) peers(w http.ResponseWriter, _ *http.Request) {
	ps := s.b.Peers()
	out := make([]Peer, 0, len(ps))
	for _, p := range ps {
		remote := ""
		if p.RemoteAddr != nil {
			remote = p.RemoteAddr.String()
		}
		out = append(out, Peer{
			ID:              p.ID,
			RemoteAddr:      remote,
			AdvertisedAddrs: p.AdvertisedAddrs,
			Software:        p.Software,
			Outbound:        p.Outbound,
			ConnectedAt:     p.ConnectedAt,
			RTTMillis:       millis(p.RTT),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID.Compare(out[j].ID) < 0 })
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) topology(w http.ResponseWriter, _ *http.Request) {
	g := s.b.Topology()
	b, err := g.JSON()
	if err != nil {
		writeError(w, http.StatusInternalServerError, &Error{Code: CodeInternal, Message: "encode topology: " + err.Error()})
		return
	}
	var t Topology
	if err := json.Unmarshal(b, &t); err != nil {
		writeError(w, http.StatusInternalServerError, &Error{Code: CodeInternal, Message: "encode topology: " + err.Error()})
		return
	}
	t.Connected = g.Connected()
	writeJSON(w, http.StatusOK, t)
}

func (s *Server) routes(w http.ResponseWriter, _ *http.Request) {
	rs := s.b.Routes()
	out := make([]Route, 0, len(rs))
	for _, r := range rs {
		out = append(out, Route{ID: r.ID, Addrs: r.Addrs})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID.Compare(out[j].ID) < 0 })
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) stats(w http.ResponseWriter, _ *http.Request) {
	info := s.b.Info()
	st := Stats{Node: info, Peers: len(s.b.Peers())}
	if !info.Started.IsZero() {
		st.UptimeSeconds = time.Since(info.Started).Seconds()
	}
	for _, m := range s.b.Members() {
		st.Members++
		if m.State == macula.MemberAlive {
			st.MembersAlive++
		}
	}
	st.PubSub, st.RPC = s.b.Counters()
	st.Gossip = gossipStatsOf(s.b.GossipStats())
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) ping(w http.ResponseWriter, r *http.Request) {
	var req PingRequest
	if !readJSON(w, r, &req) {
		return
	}
	id, aerr := s.resolveNode(req.Node)
	if aerr != nil {
		writeError(w, statusOf(aerr.Code), aerr)
		return
	}
	if id == s.b.Info().ID {
		writeError(w, http.StatusBadRequest, &Error{Code: CodeBadRequest, Message: fmt.Sprintf("node %s is this node", id.Short())})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), DefaultTimeout)
	defer cancel()
	if !s.connected(id) {
		// Ping runs over a connection: dial a known member first.
		m, ok := s.member(id)
		if !ok || m.State == macula.MemberDead || m.State == macula.MemberLeft {
			state := "not a member"
			if ok {
				state = m.State.String()
			}
			writeError(w, http.StatusBadGateway, &Error{Code: CodeNotConnected, Message: fmt.Sprintf("node %s is %s and not connected", id.Short(), state)})
			return
		}
		if err := s.b.Join(ctx, fmt.Sprintf("macula://%s/%s@%s", s.b.Info().Realm, id, m.Addr)); err != nil {
			s.fail(w, fmt.Errorf("connect to %s: %w", id.Short(), err), CodeNotConnected)
			return
		}
	}
	rtt, err := s.b.Ping(ctx, id)
	if err != nil {
		s.fail(w, fmt.Errorf("ping %s: %w", id.Short(), err), CodeNotConnected)
		return
	}
	writeJSON(w, http.StatusOK, PingReply{Node: id, RTTMillis: millis(rtt)})
}

func (s *Server) join(w http.ResponseWriter, r *http.Request) {
	var req JoinRequest
	if !readJSON(w, r, &req) {
		return
	}
	if len(req.Addrs) == 0 {
		writeError(w, http.StatusBadRequest, &Error{Code: CodeBadRequest, Message: "no address to join"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), joinTimeout)
	defer cancel()
	if err := s.b.Join(ctx, req.Addrs...); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			writeError(w, http.StatusGatewayTimeout, &Error{Code: CodeTimeout, Message: fmt.Sprintf("join %s: no node answered within %v", strings.Join(req.Addrs, ", "), joinTimeout)})
			return
		}
		s.fail(w, err, CodeUnavailable)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) publish(w http.ResponseWriter, r *http.Request) {
	var req PublishRequest
	if !readJSON(w, r, &req) {
		return
	}
	var opts []macula.PublishOption
	switch req.QoS {
	case 0:
	case 1:
		opts = append(opts, macula.WithQoS(macula.AtLeastOnce))
	default:
		writeError(w, http.StatusBadRequest, &Error{Code: CodeBadRequest, Message: fmt.Sprintf("qos %d: want 0 or 1", req.QoS)})
		return
	}
	timeout, aerr := timeoutOf(req.TimeoutMillis)
	if aerr != nil {
		writeError(w, http.StatusBadRequest, aerr)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	if err := s.b.Publish(ctx, req.Topic, req.Value(), opts...); err != nil {
		s.fail(w, err, CodeInternal)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) subscribe(w http.ResponseWriter, r *http.Request) {
	pattern := r.URL.Query().Get("pattern")
	if pattern == "" {
		writeError(w, http.StatusBadRequest, &Error{Code: CodeInvalidTopic, Message: "no pattern to subscribe to"})
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, &Error{Code: CodeInternal, Message: "streaming not supported"})
		return
	}
	ctx := r.Context()
	events := make(chan *Event)
	unsubscribe, err := s.b.Subscribe(ctx, pattern, func(hctx context.Context, ev *macula.Event) {
		// The Event is shared with other handlers: copy what is sent.
		e := &Event{
			Topic:       ev.Topic,
			Publisher:   ev.Publisher,
			Seq:         ev.Seq,
			Time:        ev.Time,
			ContentType: ev.ContentType,
			Body:        BodyOf(append([]byte(nil), ev.Data...), ev.ContentType),
		}
		select {
		case events <- e:
		case <-hctx.Done():
		case <-ctx.Done():
		}
	})
	if err != nil {
		s.fail(w, err, CodeInternal)
		return
	}
	defer unsubscribe()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	self := s.b.Info().ID
	if err := enc.Encode(StreamMessage{Type: StreamSubscribed, Pattern: pattern, Node: &self}); err != nil {
		return
	}
	flusher.Flush()
	s.log.Debug("admin: subscription stream opened", zap.String("pattern", pattern))
	defer s.log.Debug("admin: subscription stream closed", zap.String("pattern", pattern))
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-events:
			if err := enc.Encode(StreamMessage{Type: StreamEvent, Event: e}); err != nil {
				return
			}
			flusher.Flush()
		}
	}
}

func (s *Server) call(w http.ResponseWriter, r *http.Request) {
	var req CallRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.Procedure == "" {
		writeError(w, http.StatusBadRequest, &Error{Code: CodeBadRequest, Message: "no procedure to call"})
		return
	}
	var node macula.NodeID
	if req.Node != "" {
		id, aerr := s.resolveNode(req.Node)
		if aerr != nil {
			writeError(w, statusOf(aerr.Code), aerr)
			return
		}
		node = id
	}
	timeout, aerr := timeoutOf(req.TimeoutMillis)
	if aerr != nil {
		writeError(w, http.StatusBadRequest, aerr)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	reply, err := s.b.Call(ctx, node, req.Procedure, req.Value())
	if err != nil {
		s.fail(w, err, CodeCallFailed)
		return
	}
	writeJSON(w, http.StatusOK, reply)
}

// resolveNode finds the node named by s: a full ID or a unique prefix of
// the ID of a member or peer.
func (s *Server) resolveNode(str string) (macula.NodeID, *Error) {
	q := strings.ToLower(strings.TrimSpace(str))
	if q == "" {
		return macula.NodeID{}, &Error{Code: CodeBadRequest, Message: "no node given"}
	}
	if len(q) > 64 || strings.Trim(q, "0123456789abcdef") != "" {
		return macula.NodeID{}, &Error{Code: CodeBadRequest, Message: fmt.Sprintf("invalid node %q: want a node ID (hex) or a prefix of one", str)}
	}
	known := map[macula.NodeID]bool{s.b.Info().ID: true}
	for _, m := range s.b.Members() {
		known[m.ID] = true
	}
	for _, p := range s.b.Peers() {
		known[p.ID] = true
	}
	var matches []macula.NodeID
	for id := range known {
		if strings.HasPrefix(id.String(), q) {
			matches = append(matches, id)
		}
	}
	switch len(matches) {
	case 0:
		return macula.NodeID{}, &Error{Code: CodeUnknownNode, Message: fmt.Sprintf("unknown node %q: no member of the mesh has this ID", str)}
	case 1:
		return matches[0], nil
	}
	return macula.NodeID{}, &Error{Code: CodeAmbiguousNode, Message: fmt.Sprintf("node %q is ambiguous: %d members match, give more digits", str, len(matches))}
}

func (s *Server) connected(id macula.NodeID) bool {
	for _, p := range s.b.Peers() {
		if p.ID == id {
			return true
		}
	}
	return false
}

func (s *Server) member(id macula.NodeID) (macula.Member, bool) {
	for _, m := range s.b.Members() {
		if m.ID == id {
			return m, true
		}
	}
	return macula.Member{}, false
}

// fail answers with err classified by its sentinel; fallback is the code
// of errors no sentinel classifies.
func (s *Server) fail(w http.ResponseWriter, err error, fallback string) {
	code := codeOf(err, fallback)
	s.log.Debug("admin request failed", zap.String("code", code), zap.Error(err))
	writeError(w, statusOf(code), &Error{Code: code, Message: oneLine(err.Error())})
}

// codeOf classifies an error from the node.
func codeOf(err error, fallback string) string {
	var remote *macula.RemoteError
	switch {
	case errors.Is(err, macula.ErrInvalidProcedure):
		return CodeInvalidProcedure
	case errors.Is(err, macula.ErrNoProvider):
		return CodeNoProvider
	case errors.Is(err, macula.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return CodeTimeout
	case errors.As(err, &remote):
		return CodeRemoteError
	case errors.Is(err, macula.ErrInvalidTopic):
		return CodeInvalidTopic
	case errors.Is(err, macula.ErrNotAcknowledged):
		return CodeNotAcknowledged
	case errors.Is(err, macula.ErrMessageTooLarge):
		return CodeTooLarge
	case errors.Is(err, macula.ErrNotConnected):
		return CodeNotConnected
	case errors.Is(err, macula.ErrClosed):
		return CodeUnavailable
	case errors.Is(err, macula.ErrInvalidNodeID), errors.Is(err, macula.ErrInvalidURI), errors.Is(err, macula.ErrInvalidAddress), errors.Is(err, macula.ErrRealmMismatch):
		return CodeBadRequest
	case errors.Is(err, macula.ErrInvalidGossipKey):
		return CodeInvalidKey
	}
	return fallback
}

// statusOf is the HTTP status of an error code.
func statusOf(code string) int {
	switch code {
	case CodeBadRequest, CodeInvalidTopic, CodeInvalidProcedure, CodeAmbiguousNode, CodeInvalidKey:
		return http.StatusBadRequest
	case CodeUnknownNode, CodeNoProvider:
		return http.StatusNotFound
	case CodeForbidden:
		return http.StatusForbidden
	case CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeTimeout, CodeNotAcknowledged:
		return http.StatusGatewayTimeout
	case CodeNotConnected, CodeCallFailed, CodeRemoteError:
		return http.StatusBadGateway
	case CodeUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// timeoutOf checks a request's timeout; 0 means DefaultTimeout.
func timeoutOf(ms int64) (time.Duration, *Error) {
	switch {
	case ms == 0:
		return DefaultTimeout, nil
	case ms < 0 || time.Duration(ms)*time.Millisecond > MaxTimeout:
		return 0, &Error{Code: CodeBadRequest, Message: fmt.Sprintf("timeout %d ms: want 1 ms to %v", ms, MaxTimeout)}
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// oneLine makes an error message one line, without the "macula: "
// prefixes every sentinel carries.
func oneLine(msg string) string {
	msg = strings.ReplaceAll(msg, "\n", "; ")
	msg = strings.ReplaceAll(msg, "macula: ", "")
	return msg
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, &Error{Code: CodeBadRequest, Message: "invalid request: " + oneLine(err.Error())})
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, e *Error) {
	writeJSON(w, status, e)
}
