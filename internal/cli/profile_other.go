//go:build !unix

package cli

import "os"

// profileSignals start the next CPU profile file (see startCPUProfile):
// none here, where there is no SIGUSR1.
var profileSignals []os.Signal
