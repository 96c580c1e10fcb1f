package bench

import (
	"strings"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	// Fields 14 and 15 (utime, stime) are 250 and 50 ticks.
	const rest = " S 1 2 3 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 12345 1000000 500 18446744073709551615"
	tests := []struct {
		name    string
		stat    string
		want    time.Duration
		wantErr string
	}{
		{"plain", "42 (berth)" + rest + "\n", 3 * time.Second, ""},
		{"command with spaces and parentheses", "42 (a (b) c)" + rest, 3 * time.Second, ""},
		{"zero", "1 (x) S 0 0 0 0 0 0 0 0 0 0 0 0", 0, ""},
		{"no command", "42 berth S", 0, "without a command name"},
		{"too short", "42 (berth) S 1 2 3", 0, "fields"},
		{"not a number", "1 (x) S 0 0 0 0 0 0 0 0 0 0 x 0", 0, "CPU time"},
		{"negative", "1 (x) S 0 0 0 0 0 0 0 0 0 0 -5 0", 0, "CPU time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcStat([]byte(tt.stat))
			checkErr(t, err, tt.wantErr)
			if got != tt.want {
				t.Fatalf("parseProcStat = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCPUUse(t *testing.T) {
	at := func(self, server time.Duration, selfOK, serverOK bool) cpuReading {
		return cpuReading{self: self, server: server, selfOK: selfOK, serverOK: serverOK}
	}
	tests := []struct {
		name             string
		spans            [][2]cpuReading // before, after
		wantSelf, wantSv time.Duration
	}{
		{"one span", [][2]cpuReading{{at(1*time.Second, 5*time.Second, true, true), at(3*time.Second, 6*time.Second, true, true)}},
			2 * time.Second, time.Second},
		{"two spans add up", [][2]cpuReading{
			{at(0, 0, true, true), at(time.Second, 0, true, true)},
			{at(5*time.Second, 1, true, true), at(7*time.Second, 3, true, true)}},
			3 * time.Second, 2},
		{"no server", [][2]cpuReading{{at(0, 0, true, false), at(time.Second, 0, true, false)}}, time.Second, 0},
		{"a failed reading makes the total unknown", [][2]cpuReading{
			{at(0, 0, true, true), at(time.Second, time.Second, true, true)},
			{at(0, 0, false, true), at(time.Second, time.Second, true, false)}},
			0, 0},
		{"zero use is known", [][2]cpuReading{{at(time.Second, 0, true, true), at(time.Second, 0, true, true)}}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			total := cpuUse{selfOK: true, serverOK: true}
			for _, s := range tt.spans {
				total = total.plus(s[1].since(s[0]))
			}
			self, server := total.known()
			if self != tt.wantSelf || server != tt.wantSv {
				t.Fatalf("known() = %v, %v, want %v, %v", self, server, tt.wantSelf, tt.wantSv)
			}
		})
	}
}

func TestWriteTableCPU(t *testing.T) {
	rep := Report{Client: ClientRaw, Concurrency: 2, Phased: true, Elapsed: 2 * time.Second,
		CPU: time.Second, ServerPID: 42, ServerCPU: 2 * time.Second,
		Ops: []OpReport{{Op: OpList, Count: 10000, CPUPerRequest: 40 * time.Microsecond, ServerCPUPerRequest: 125500 * time.Nanosecond}}}
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"raw AWS JSON 1.1", "this process 1.00s = 0.50 cores = 100.0µs per request",
		"server (pid 42) 2.00s = 1.00 cores = 200.0µs per request", "CPU µs/REQ", "SERVER µs/REQ", "40.0", "125.5"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	rep.ServerCPU, rep.CPU = 0, 0
	b.Reset()
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "µs") {
		t.Errorf("table without CPU figures shows some:\n%s", b.String())
	}
}
