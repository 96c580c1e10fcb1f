//go:build unix

package bench

import (
	"os"
	"syscall"
	"time"
)

// processCPU returns the CPU time (user + system) this process has used.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

// signalProfile has a server started with --cpu-profile begin its next
// profile file.
func signalProfile(p *os.Process) error { return p.Signal(syscall.SIGUSR1) }
