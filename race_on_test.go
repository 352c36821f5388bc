//go:build race

package macula_test

// raceEnabled reports whether the tests run under the race detector, which
// multiplies the time and memory of large meshes several times.
const raceEnabled = true
