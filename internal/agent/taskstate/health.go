package taskstate

import "time"

// Docker's health check defaults, which ECS applies too.
const (
	DefaultHealthInterval = 30 * time.Second
	DefaultHealthTimeout  = 5 * time.Second
	DefaultHealthRetries  = 3
	// maxProbeOutput bounds the probe output kept, as Docker does (4 KiB).
	maxProbeOutput = 4096
)

// HealthCheck is a container's health check. Command is the argv to run
// in the container (CMD-SHELL already turned into /bin/sh -c).
type HealthCheck struct {
	Command     []string      `json:"command"`
	Interval    time.Duration `json:"interval,omitempty"`
	Timeout     time.Duration `json:"timeout,omitempty"`
	StartPeriod time.Duration `json:"startPeriod,omitempty"`
	Retries     int           `json:"retries,omitempty"`
}

// WithDefaults returns hc with zero fields set to Docker's defaults.
func (hc HealthCheck) WithDefaults() HealthCheck {
	if hc.Interval <= 0 {
		hc.Interval = DefaultHealthInterval
	}
	if hc.Timeout <= 0 {
		hc.Timeout = DefaultHealthTimeout
	}
	if hc.Retries <= 0 {
		hc.Retries = DefaultHealthRetries
	}
	return hc
}

// Health is a container's health check bookkeeping.
type Health struct {
	Status HealthStatus `json:"status"`
	// Since is when Status last changed (zero while it never has).
	Since time.Time `json:"since,omitzero"`
	// FailingStreak counts consecutive failed probes that counted.
	FailingStreak int `json:"failingStreak,omitempty"`
	// LastProbe is when the last probe ended; the next is due Interval
	// later (the first Interval after the container started).
	LastProbe time.Time `json:"lastProbe,omitzero"`
	// ExitCode and Output are the last probe's result.
	ExitCode *int   `json:"exitCode,omitempty"`
	Output   string `json:"output,omitempty"`
}

// NextProbe is when the next probe of a container that started at
// startedAt is due.
func (h Health) NextProbe(hc HealthCheck, startedAt time.Time) time.Time {
	hc = hc.WithDefaults()
	if h.LastProbe.IsZero() {
		return startedAt.Add(hc.Interval)
	}
	return h.LastProbe.Add(hc.Interval)
}

// Record returns h after a probe of a container that started at startedAt
// ended at `at` with exitCode (0 = healthy; a probe that timed out or could
// not run counts as a failure with a non-zero code). Docker's rules:
//
//   - a success makes the container HEALTHY and resets the failing streak;
//   - a failure while the status is still UNKNOWN ("starting") and within
//     StartPeriod of the start does not count;
//   - any other failure extends the streak, and Retries consecutive
//     failures make the container UNHEALTHY.
func (h Health) Record(hc HealthCheck, startedAt, at time.Time, exitCode int, output string) Health {
	hc = hc.WithDefaults()
	h.LastProbe = at
	code := exitCode
	h.ExitCode = &code
	if len(output) > maxProbeOutput {
		output = output[:maxProbeOutput]
	}
	h.Output = output
	if exitCode == 0 {
		h.FailingStreak = 0
		h.set(HealthHealthy, at)
		return h
	}
	if h.Status == HealthUnknown && at.Before(startedAt.Add(hc.StartPeriod)) {
		return h
	}
	h.FailingStreak++
	if h.FailingStreak >= hc.Retries {
		h.set(HealthUnhealthy, at)
	}
	return h
}

func (h *Health) set(s HealthStatus, at time.Time) {
	if h.Status != s {
		h.Status = s
		h.Since = at
	}
}

// RecordProbe records a probe result for the running container name and
// reports whether its health status changed. Results for containers that
// are not running or have no health check are ignored.
func (t *Task) RecordProbe(name string, at time.Time, exitCode int, output string) bool {
	c := t.Container(name)
	if c == nil || c.HealthCheck == nil || c.Known != ContainerRunning {
		return false
	}
	before := c.Health.Status
	c.Health = c.Health.Record(*c.HealthCheck, c.StartedAt, at, exitCode, output)
	return c.Health.Status != before
}

// Health is the task's health, as ECS derives it (protocol §6): UNHEALTHY
// if any essential container is UNHEALTHY; HEALTHY if every essential
// container with a health check is HEALTHY and there is at least one;
// UNKNOWN otherwise.
func (t *Task) Health() HealthStatus {
	checked, healthy := 0, 0
	for _, c := range t.Containers {
		if !c.Essential || c.HealthCheck == nil {
			continue
		}
		checked++
		switch c.Health.Status {
		case HealthUnhealthy:
			return HealthUnhealthy
		case HealthHealthy:
			healthy++
		}
	}
	if checked > 0 && healthy == checked {
		return HealthHealthy
	}
	return HealthUnknown
}
