// Package benchmarks compares Macula with NATS on the same machine: the
// same pub/sub, fan-out and request/reply workloads over loopback, run
// alternately against Macula nodes (real QUIC on 127.0.0.1, in this
// process), a nats-server child process with and without TLS, and raw
// quic-go streams as the ceiling of what QUIC allows.
//
// It is a module of its own, so that nats.go and other comparison
// dependencies never enter the library's go.mod. The runner is
// cmd/compare (make bench-compare at the repository root); Run is the
// whole comparison and Table renders its results as Markdown.
package benchmarks
