package rpc

import "github.com/org/macula/internal/sentinel"

// CallOption adjusts one Call, Cast or CallTo. An invalid option makes the
// call fail, before anything is sent, with an error wrapping
// [ErrInvalidOption] that names the option and the cause.
type CallOption func(*callOptions) error

// callOptions are the settings of one call; defaults come from Config.
type callOptions struct {
	policy      Policy
	maxAttempts int
	idempotent  bool
}

// WithPolicy chooses the provider of this call by p ([LocalFirst],
// [RoundRobin], [Random] or [LeastLatency]) instead of [Config].Policy
// (default LocalFirst). Any other value is invalid.
func WithPolicy(p Policy) CallOption {
	return func(o *callOptions) error {
		if !p.valid() {
			return sentinel.Option(ErrInvalidOption, "WithPolicy", "unknown policy %d", p)
		}
		o.policy = p
		return nil
	}
}

// WithMaxAttempts lets this call try up to n providers (n >= 1) instead of
// [Config].MaxAttempts (default [DefaultMaxAttempts]).
func WithMaxAttempts(n int) CallOption {
	return func(o *callOptions) error {
		if n < 1 {
			return sentinel.Option(ErrInvalidOption, "WithMaxAttempts", "%d attempts, want at least 1", n)
		}
		o.maxAttempts = n
		return nil
	}
}

// WithIdempotent marks the call as safe to run more than once, so that it
// is retried on another provider even after a provider accepted it and
// then failed. Without it (the default), such a call fails with
// [ErrProviderLost], since the handler may have run.
func WithIdempotent() CallOption {
	return func(o *callOptions) error {
		o.idempotent = true
		return nil
	}
}

// Idempotent is the old name of WithIdempotent.
//
// Deprecated: use WithIdempotent.
func Idempotent() CallOption { return WithIdempotent() }

// RegisterOption adjusts one Register. An invalid option makes Register
// fail, before anything is stored, with an error wrapping
// [ErrInvalidOption] that names the option and the cause.
type RegisterOption func(*registerOptions) error

// registerOptions are the settings of one registration.
type registerOptions struct {
	maxConcurrent int
}

// WithMaxConcurrent limits the registration to n (n >= 1) invocations
// running at once. A call beyond the limit is refused before acceptance
// with protocol.CodeRateLimited, so its caller tries another provider, or
// another local handler of the same procedure. Default: no limit.
func WithMaxConcurrent(n int) RegisterOption {
	return func(o *registerOptions) error {
		if n < 1 {
			return sentinel.Option(ErrInvalidOption, "WithMaxConcurrent", "%d invocations, want at least 1", n)
		}
		o.maxConcurrent = n
		return nil
	}
}

// MaxConcurrent is the old name of WithMaxConcurrent.
//
// Deprecated: use WithMaxConcurrent.
func MaxConcurrent(n int) RegisterOption { return WithMaxConcurrent(n) }
