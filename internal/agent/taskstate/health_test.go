package taskstate

import (
	"testing"
	"time"

	"github.com/berth/berth/internal/ecs"
)

func TestHealthRecord(t *testing.T) {
	hc := HealthCheck{Command: []string{"true"}, Interval: 10 * time.Second, StartPeriod: 30 * time.Second, Retries: 2}
	type probe struct {
		at   time.Duration // after start
		exit int
	}
	tests := []struct {
		name       string
		probes     []probe
		want       HealthStatus
		wantStreak int
	}{
		{"no probe yet", nil, HealthUnknown, 0},
		{"first success", []probe{{10 * time.Second, 0}}, HealthHealthy, 0},
		{"failures in start period do not count", []probe{{10 * time.Second, 1}, {20 * time.Second, 1}}, HealthUnknown, 0},
		{"failures after start period count", []probe{{10 * time.Second, 1}, {30 * time.Second, 1}, {40 * time.Second, 1}}, HealthUnhealthy, 2},
		{"one failure is not enough", []probe{{30 * time.Second, 1}}, HealthUnknown, 1},
		{"success in start period ends it", []probe{{10 * time.Second, 0}, {15 * time.Second, 1}, {20 * time.Second, 1}}, HealthUnhealthy, 2},
		{"healthy then one failure", []probe{{10 * time.Second, 0}, {20 * time.Second, 1}}, HealthHealthy, 1},
		{"streak must be consecutive", []probe{{40 * time.Second, 1}, {50 * time.Second, 0}, {60 * time.Second, 1}}, HealthHealthy, 1},
		{"unhealthy recovers", []probe{{40 * time.Second, 1}, {50 * time.Second, 1}, {60 * time.Second, 0}}, HealthHealthy, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Health
			for _, p := range tt.probes {
				h = h.Record(hc, t0, t0.Add(p.at), p.exit, "out")
			}
			if h.Status != tt.want || h.FailingStreak != tt.wantStreak {
				t.Errorf("status %v streak %d, want %v %d", h.Status, h.FailingStreak, tt.want, tt.wantStreak)
			}
		})
	}
}

func TestHealthDefaultsAndSince(t *testing.T) {
	hc := HealthCheck{Command: []string{"false"}}
	var h Health
	if got := h.NextProbe(hc, t0); !got.Equal(t0.Add(DefaultHealthInterval)) {
		t.Errorf("first probe due %v, want start + 30s", got)
	}
	for i := 1; i <= DefaultHealthRetries; i++ {
		at := t0.Add(time.Duration(i) * DefaultHealthInterval)
		h = h.Record(hc, t0, at, 1, string(make([]byte, 5000)))
		want := HealthUnknown
		if i == DefaultHealthRetries {
			want = HealthUnhealthy
		}
		if h.Status != want {
			t.Fatalf("after %d failures: %v, want %v", i, h.Status, want)
		}
	}
	if !h.Since.Equal(t0.Add(3 * DefaultHealthInterval)) {
		t.Errorf("since = %v", h.Since)
	}
	if len(h.Output) != maxProbeOutput || h.ExitCode == nil || *h.ExitCode != 1 {
		t.Errorf("output %d bytes, exit %v", len(h.Output), h.ExitCode)
	}
	if got := h.NextProbe(hc, t0); !got.Equal(t0.Add(4 * DefaultHealthInterval)) {
		t.Errorf("next probe %v", got)
	}
}

func TestRecordProbeOnlyForRunning(t *testing.T) {
	task := New(ecs.TaskRunning, []Container{
		{Name: "a", HealthCheck: &HealthCheck{Command: []string{"true"}}},
		{Name: "b"},
	})
	if task.RecordProbe("a", t0, 0, "") {
		t.Error("probe recorded for a container that is not running")
	}
	task.Apply(Event{Container: "a", Status: ContainerRunning, At: t0})
	task.Apply(Event{Container: "b", Status: ContainerRunning, At: t0})
	if task.RecordProbe("b", t0, 0, "") {
		t.Error("probe recorded for a container without a health check")
	}
	if !task.RecordProbe("a", t0.Add(time.Second), 0, "") {
		t.Error("UNKNOWN → HEALTHY not reported as a change")
	}
	if task.RecordProbe("a", t0.Add(2*time.Second), 0, "") {
		t.Error("HEALTHY → HEALTHY reported as a change")
	}
}

func TestTaskHealth(t *testing.T) {
	hc := &HealthCheck{Command: []string{"true"}}
	c := func(name string, essential bool, check bool, s HealthStatus) Container {
		out := Container{Name: name, Essential: essential, Health: Health{Status: s}}
		if check {
			out.HealthCheck = hc
		}
		return out
	}
	tests := []struct {
		name string
		in   []Container
		want HealthStatus
	}{
		{"no checks", []Container{c("a", true, false, HealthUnknown)}, HealthUnknown},
		{"essential healthy", []Container{c("a", true, true, HealthHealthy), c("b", true, false, HealthUnknown)}, HealthHealthy},
		{"essential starting", []Container{c("a", true, true, HealthHealthy), c("b", true, true, HealthUnknown)}, HealthUnknown},
		{"essential unhealthy", []Container{c("a", true, true, HealthHealthy), c("b", true, true, HealthUnhealthy)}, HealthUnhealthy},
		{"non-essential unhealthy ignored", []Container{c("a", true, true, HealthHealthy), c("b", false, true, HealthUnhealthy)}, HealthHealthy},
		{"only non-essential checked", []Container{c("a", true, false, HealthUnknown), c("b", false, true, HealthHealthy)}, HealthUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task := Task{Containers: tt.in}
			if got := task.Health(); got != tt.want {
				t.Errorf("Health = %v, want %v", got, tt.want)
			}
		})
	}
}
