// Package chaos is Macula's chaos suite: whole meshes of real nodes
// (package meshtest, on quic-go's in-memory network in virtual time) run
// a workload of at-least-once publishers, subscribers, idempotent callers
// and providers while faults are injected, and after every scenario
// invariants are checked over everything the workload recorded.
//
// The package has no code of its own: the suite is its tests, which use
// only the public API (packages macula and meshtest), as a user's own
// tests would. See docs/TESTING.md, "Chaos suite", for the scenarios, the
// invariants, how to replay a failure and the long runs (make
// chaos-long).
package chaos
