//go:build race

package main

// raceEnabled: the tests run with -race, so the binary they build does too
// (and reuses the race-built packages of the test).
const raceEnabled = true
