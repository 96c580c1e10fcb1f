//go:build unix

package cli

import (
	"os"
	"syscall"
)

// profileSignals start the next CPU profile file (see startCPUProfile).
var profileSignals = []os.Signal{syscall.SIGUSR1}
