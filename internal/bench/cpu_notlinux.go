//go:build !linux

package bench

import (
	"errors"
	"time"
)

// processCPUOf is only known on Linux (from /proc).
func processCPUOf(int) (time.Duration, error) {
	return 0, errors.New("another process's CPU time is only read on Linux")
}
