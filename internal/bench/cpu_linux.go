//go:build linux

package bench

import (
	"os"
	"strconv"
	"time"
)

// processCPUOf returns the CPU time (user + system) process pid has used.
func processCPUOf(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseProcStat(b)
}
