//go:build race

package routing

// raceEnabled reports whether the tests run under the race detector,
// which multiplies the memory of the large QUIC meshes by about eight.
const raceEnabled = true
