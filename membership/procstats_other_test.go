//go:build !linux

package membership_test

import "time"

// wallNow is unknown here: inside a synctest bubble time.Now is the fake
// clock, and the real one is read with a Linux system call.
func wallNow() time.Time { return time.Time{} }

// peakRSS is unknown here (0).
func peakRSS() uint64 { return 0 }
