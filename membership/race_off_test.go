//go:build !race

package membership_test

// raceEnabled reports whether the tests run under the race detector, which
// multiplies the CPU time and memory of a large simulated mesh several
// times over.
const raceEnabled = false
