package bench

import (
	"bytes"
	"fmt"
	"strconv"
	"time"
)

// clockTicksPerSecond is the unit of the CPU times in /proc/PID/stat
// (USER_HZ, sysconf(_SC_CLK_TCK)): 100 on every Linux platform Go supports.
const clockTicksPerSecond = 100

// parseProcStat returns the CPU time (user + system, fields 14 and 15) of
// a /proc/PID/stat line. The command name (field 2) is in parentheses and
// may itself hold spaces and parentheses, so fields are counted from the
// last ')'.
func parseProcStat(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("bench: /proc stat line without a command name: %.60q", stat)
	}
	// After "pid (comm)" come field 3 (state) onwards.
	fields := bytes.Fields(stat[i+1:])
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return 0, fmt.Errorf("bench: /proc stat line has %d fields after the command name, want more than %d", len(fields), stime)
	}
	var ticks uint64
	for _, f := range [][]byte{fields[utime], fields[stime]} {
		n, err := strconv.ParseUint(string(f), 10, 63)
		if err != nil {
			return 0, fmt.Errorf("bench: /proc stat CPU time %q: %w", f, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / clockTicksPerSecond), nil
}

// cpuMeter reads the CPU time this process, and the server process when
// pid is set, have used.
type cpuMeter struct{ pid int }

// cpuReading is what a cpuMeter read; a reading that failed is not ok.
type cpuReading struct {
	self, server     time.Duration
	selfOK, serverOK bool
}

// check reads the server's CPU time once, to fail early when it cannot be.
func (m cpuMeter) check() error {
	if m.pid <= 0 {
		return nil
	}
	if _, err := processCPUOf(m.pid); err != nil {
		return fmt.Errorf("bench: the CPU time of server process %d: %w", m.pid, err)
	}
	return nil
}

func (m cpuMeter) read() cpuReading {
	var r cpuReading
	r.self, r.selfOK = processCPU()
	if m.pid > 0 {
		var err error
		r.server, err = processCPUOf(m.pid)
		r.serverOK = err == nil
	}
	return r
}

// cpuUse is the CPU time used over a span, known when ok.
type cpuUse struct {
	self, server     time.Duration
	selfOK, serverOK bool
}

// since is the CPU time used from earlier to r.
func (r cpuReading) since(earlier cpuReading) cpuUse {
	return cpuUse{
		self: r.self - earlier.self, selfOK: r.selfOK && earlier.selfOK,
		server: r.server - earlier.server, serverOK: r.serverOK && earlier.serverOK,
	}
}

// plus sums the CPU time of two spans, known when it is in both.
func (u cpuUse) plus(v cpuUse) cpuUse {
	return cpuUse{
		self: u.self + v.self, selfOK: u.selfOK && v.selfOK,
		server: u.server + v.server, serverOK: u.serverOK && v.serverOK,
	}
}

// known returns the times, 0 for an unknown one.
func (u cpuUse) known() (self, server time.Duration) {
	if u.selfOK {
		self = u.self
	}
	if u.serverOK {
		server = u.server
	}
	return self, server
}
