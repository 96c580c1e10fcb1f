//go:build !unix

package bench

import (
	"errors"
	"os"
	"time"
)

// processCPU is unknown on this platform.
func processCPU() (time.Duration, bool) { return 0, false }

// signalProfile is not possible here: there is no SIGUSR1.
func signalProfile(*os.Process) error { return errors.New("no profile signal on this platform") }
