//go:build !unix

package scale

import (
	"errors"
	"time"
)

// ProcessCPU is not available on this system.
func ProcessCPU() (time.Duration, error) {
	return 0, errors.New("scale: process CPU time is read with getrusage, on Unix only")
}
