// Package lint holds tests that keep the repository's own rules true: every
// exported name has godoc, and every package imports only the layers that
// docs/ARCHITECTURE.md allows it. It has no code of its own.
package lint
