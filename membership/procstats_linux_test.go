//go:build linux

package membership_test

import (
	"syscall"
	"time"
)

// wallNow is the real time of day. Inside a synctest bubble time.Now is
// the bubble's fake clock; the system call is not faked, so the scale test
// can report how long a run of virtual time took in wall time.
func wallNow() time.Time {
	var tv syscall.Timeval
	if err := syscall.Gettimeofday(&tv); err != nil {
		return time.Time{}
	}
	return time.Unix(tv.Unix())
}

// peakRSS is the process's peak resident set size in bytes (0 if
// unknown). Linux reports ru_maxrss in kilobytes.
func peakRSS() uint64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return uint64(ru.Maxrss) * 1024
}
