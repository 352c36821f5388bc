package rpc

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/org/macula/internal/codec"
	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
	"github.com/org/macula/topic"
)

// request is one call, validated and encoded.
type request struct {
	procedure   string
	data        []byte
	contentType string
	cast        bool
	reserved    bool
	opts        callOptions
}

// Call runs procedure on a provider chosen by the policy and returns its
// result. ctx bounds the whole call: its deadline travels to the provider,
// whose handler runs with it, and its cancellation cancels the handler's
// context there.
//
// args are encoded by the payload rule ([]byte as is, a proto.Message as
// protobuf, anything else as JSON) and may be up to [Service.MaxPayload]
// bytes ([ErrMessageTooLarge], before anything is sent). The procedure name
// must be valid ([ErrInvalidProcedure]). Reserved names ('_' first, such as
// [HealthProcedure]) are served by this node only; use CallTo for another
// node's.
//
// Providers are found in the directory (the DHT's provider records, cached
// and watched) and this node's own handlers, which are called in process.
// A provider that cannot be reached, refuses the call, or fails before
// accepting it is skipped for the next, up to MaxAttempts providers; once a
// provider has accepted, the call moves on only if [WithIdempotent].
//
// Errors: [ErrNoProvider] at once when no node provides the procedure; a
// handler's error as a [*RemoteError]; otherwise a [*CallError] listing the
// providers tried and wrapping [ErrUnavailable], [ErrProviderLost],
// [ErrTimeout] together with context.DeadlineExceeded, context.Canceled or
// [ErrClosed]. A handler's RemoteError is wrapped in the CallError too; use
// errors.As.
func (s *Service) Call(ctx context.Context, procedure string, args any, opts ...CallOption) (*Reply, error) {
	req, err := s.prepare(procedure, args, false, opts)
	if err != nil {
		return nil, err
	}
	return s.count(s.callAny(ctx, req))
}

// Cast runs procedure on one provider without waiting for its result: it
// returns once a provider has accepted the call (for this node's own
// handler: once the handler has started). The handler runs with a context
// that ends only when its Service closes, not with the caller's ctx, which
// bounds only the Cast; the handler's result and error are dropped. Cast
// chooses and fails over like [Service.Call], and returns the same errors.
func (s *Service) Cast(ctx context.Context, procedure string, args any, opts ...CallOption) error {
	req, err := s.prepare(procedure, args, true, opts)
	if err != nil {
		return err
	}
	_, err = s.count(s.callAny(ctx, req))
	return err
}

// CallTo runs procedure on node, and only there, reserved procedures such
// as [HealthProcedure] included. If node is not connected, its addresses
// come from its provider record of procedure, or else from
// [Config].Resolve. It makes one attempt; errors are those of
// [Service.Call]: a node that does not serve procedure answers with a
// [*RemoteError] matching [ErrNoProvider].
func (s *Service) CallTo(ctx context.Context, node security.NodeID, procedure string, args any, opts ...CallOption) (*Reply, error) {
	req, err := s.prepare(procedure, args, false, opts)
	if err != nil {
		return nil, err
	}
	c := candidate{id: node, local: node == s.cfg.Self}
	if !c.local {
		if _, ok := s.cfg.Network.Peer(node); !ok {
			c.addrs = s.addrsOf(ctx, node, procedure, req.reserved)
		}
	}
	rep, accepted, err := s.attempt(ctx, c, req)
	if err != nil {
		return s.count(nil, s.stopped(ctx, req, []security.NodeID{node}, err, accepted))
	}
	return s.count(rep, nil)
}

// prepare validates and encodes a call.
func (s *Service) prepare(procedure string, args any, cast bool, opts []CallOption) (*request, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	if err := checkProcedure(procedure); err != nil {
		return nil, err
	}
	req := &request{
		procedure: procedure,
		cast:      cast,
		reserved:  topic.IsReserved(procedure),
		opts:      callOptions{policy: s.cfg.Policy, maxAttempts: s.cfg.MaxAttempts},
	}
	if len(opts) > 0 {
		o := req.opts // escapes to the options, only when there are some
		for _, opt := range opts {
			if err := opt(&o); err != nil {
				return nil, err
			}
		}
		req.opts = o
	}
	var err error
	req.data, req.contentType, err = codec.Encode(args)
	if err != nil {
		return nil, err
	}
	if len(req.data) > s.MaxPayload() {
		return nil, fmt.Errorf("%w: arguments of %d bytes, maximum %d", ErrMessageTooLarge, len(req.data), s.MaxPayload())
	}
	return req, nil
}

// count records a finished call in the stats.
func (s *Service) count(rep *Reply, err error) (*Reply, error) {
	s.stats.calls.Add(1)
	if err != nil {
		s.stats.failed.Add(1)
	}
	return rep, err
}

// callAny runs req on the providers of its procedure, in the policy's
// order, until one answers or MaxAttempts were tried.
func (s *Service) callAny(ctx context.Context, req *request) (*Reply, error) {
	local := s.hasLocal(req.procedure)
	var cands []candidate
	resolved := req.reserved // reserved procedures are never looked up
	if local && (req.reserved || req.opts.policy == LocalFirst) {
		// Served here: the directory is read only if the local handlers
		// refuse the call.
		cands = []candidate{{id: s.cfg.Self, local: true}}
	}
	// tried is cloned into errors, so that it can stay on the stack.
	var triedBuf [4]security.NodeID
	tried := triedBuf[:0]
	var last error
	next := 0
	for len(tried) < req.opts.maxAttempts {
		if next == len(cands) {
			if resolved {
				break
			}
			resolved = true
			more, err := s.remoteProviders(ctx, req.procedure)
			if err != nil {
				if ctx.Err() != nil || s.ctx.Err() != nil || len(tried) == 0 {
					return nil, s.stopped(ctx, req, slices.Clone(tried), fmt.Errorf("find providers: %w", err), false)
				}
				break
			}
			if local && len(cands) == 0 {
				more = append(more, candidate{id: s.cfg.Self, local: true})
				slices.SortFunc(more, func(a, b candidate) int { return a.id.Compare(b.id) })
			}
			if ordered := s.bal.order(req.procedure, req.opts.policy, more, s.rtt); len(cands) == 0 {
				cands = ordered
			} else {
				cands = append(cands, ordered...)
			}
			if next == len(cands) {
				break
			}
		}
		c := cands[next]
		next++
		if len(tried) > 0 {
			s.stats.failovers.Add(1)
		}
		tried = append(tried, c.id)
		rep, accepted, err := s.attempt(ctx, c, req)
		if err == nil {
			return rep, nil
		}
		if ctx.Err() != nil || s.ctx.Err() != nil || !retryable(err, accepted, req.opts.idempotent) {
			return nil, s.stopped(ctx, req, slices.Clone(tried), err, accepted)
		}
		s.log.Debug("rpc attempt failed, trying the next provider", zapProc(req.procedure), zapNode(c.id), zapErr(err))
		last = err
	}
	if len(tried) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoProvider, req.procedure)
	}
	return nil, &CallError{Procedure: req.procedure, Tried: slices.Clone(tried), Err: fmt.Errorf("%w: %w", ErrUnavailable, last)}
}

// retryable reports whether a call whose attempt failed with err may move
// on to another provider.
func retryable(err error, accepted, idempotent bool) bool {
	var re *RemoteError
	if errors.As(err, &re) {
		if accepted {
			return false // the handler's own answer
		}
		switch re.Code {
		case protocol.CodeNoProvider, protocol.CodeShutdown, protocol.CodeRateLimited:
			return true
		}
		return false
	}
	return !accepted || idempotent
}

// stopped builds the error of a call that ends after the attempt that
// failed with err.
func (s *Service) stopped(ctx context.Context, req *request, tried []security.NodeID, err error, accepted bool) error {
	var re *RemoteError
	switch {
	case ctx.Err() != nil:
		err = ctxError(ctx)
	case s.ctx.Err() != nil:
		err = ErrClosed
	case errors.As(err, &re):
	case accepted:
		err = fmt.Errorf("%w: %w", ErrProviderLost, err)
	case len(tried) > 0:
		err = fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return &CallError{Procedure: req.procedure, Tried: tried, Err: err}
}

// ctxError is the error of a call whose ctx ended.
func ctxError(ctx context.Context) error {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return err
}

// attempt runs req on one provider. accepted reports whether the provider
// took the call before the error.
func (s *Service) attempt(ctx context.Context, c candidate, req *request) (rep *Reply, accepted bool, err error) {
	s.bal.begin(c.id)
	defer s.bal.end(c.id)
	if c.local {
		return s.callLocal(ctx, req)
	}
	rep, accepted, err = s.callRemote(ctx, c, req)
	switch {
	case err == nil:
		s.bal.succeed(c.id)
	case ctx.Err() != nil || s.ctx.Err() != nil || isRemote(err):
	default:
		s.bal.fail(c.id)
	}
	return rep, accepted, err
}

// isRemote reports whether err is, or wraps, a *RemoteError.
func isRemote(err error) bool {
	var re *RemoteError
	return errors.As(err, &re)
}
