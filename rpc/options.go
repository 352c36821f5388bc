package rpc

import "fmt"

// CallOption adjusts one Call, Cast or CallTo. An invalid option makes the
// call fail with an error wrapping [ErrInvalidOption].
type CallOption func(*callOptions) error

// callOptions are the settings of one call; defaults come from Config.
type callOptions struct {
	policy      Policy
	maxAttempts int
	idempotent  bool
}

// WithPolicy chooses the provider of this call by p instead of
// [Config].Policy.
func WithPolicy(p Policy) CallOption {
	return func(o *callOptions) error {
		if !p.valid() {
			return fmt.Errorf("%w: unknown policy %d", ErrInvalidOption, p)
		}
		o.policy = p
		return nil
	}
}

// WithMaxAttempts lets this call try up to n providers (n >= 1) instead of
// [Config].MaxAttempts.
func WithMaxAttempts(n int) CallOption {
	return func(o *callOptions) error {
		if n < 1 {
			return fmt.Errorf("%w: max attempts %d, want at least 1", ErrInvalidOption, n)
		}
		o.maxAttempts = n
		return nil
	}
}

// Idempotent marks the call as safe to run more than once, so that it is
// retried on another provider even after a provider accepted it and then
// failed. Without it, such a call fails with [ErrProviderLost], since the
// handler may have run.
func Idempotent() CallOption {
	return func(o *callOptions) error {
		o.idempotent = true
		return nil
	}
}

// RegisterOption adjusts one Register. An invalid option makes Register
// fail with an error wrapping [ErrInvalidOption].
type RegisterOption func(*registerOptions) error

// registerOptions are the settings of one registration.
type registerOptions struct {
	maxConcurrent int
}

// MaxConcurrent limits the registration to n (n >= 1) invocations running
// at once. A call beyond the limit is refused before acceptance with
// protocol.CodeRateLimited, so its caller tries another provider, or
// another local handler of the same procedure. The default is no limit.
func MaxConcurrent(n int) RegisterOption {
	return func(o *registerOptions) error {
		if n < 1 {
			return fmt.Errorf("%w: max concurrent %d, want at least 1", ErrInvalidOption, n)
		}
		o.maxConcurrent = n
		return nil
	}
}
