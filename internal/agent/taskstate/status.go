// Package taskstate is the agent's task and container state machine. It is
// pure: no I/O, no goroutines, no clock (callers pass the time in). The
// engine owns one Task per task it runs, feeds it what happened (Apply,
// SetDesired, RecordProbe) and asks it what to do next (Plan).
//
// Every container has a known status (what the agent last saw) and a
// desired status (RUNNING or STOPPED). Statuses are ordered and only ever
// move forwards; a transition that would move one backwards is ignored, so
// duplicate or late events are harmless.
//
//	NONE → PULLED → CREATED → RUNNING → STOPPED
//	  (MANIFEST_PULLED sits between NONE and PULLED for parity with ECS;
//	   Berth resolves and pulls an image in one step)
//
// Health is separate from the lifecycle: UNKNOWN (Docker's "starting"),
// HEALTHY or UNHEALTHY, driven by health check probes with Docker's rules.
//
// The task's known status is derived from its containers by the one
// mapping in TaskStatusOf; its desired status is RUNNING or STOPPED and
// becomes STOPPED when the control plane says so or an essential container
// stops.
package taskstate

import (
	"encoding/json"
	"fmt"

	"github.com/berth/berth/internal/ecs"
)

// ContainerStatus is a container's lifecycle status, ordered so that "at
// or past" checks are comparisons.
type ContainerStatus int

// Container statuses in lifecycle order.
const (
	ContainerNone ContainerStatus = iota
	ContainerManifestPulled
	ContainerPulled
	ContainerCreated
	ContainerRunning
	ContainerStopped
)

var containerStatusNames = [...]string{"NONE", "MANIFEST_PULLED", "PULLED", "CREATED", "RUNNING", "STOPPED"}

func (s ContainerStatus) String() string {
	if s < 0 || int(s) >= len(containerStatusNames) {
		return fmt.Sprintf("ContainerStatus(%d)", int(s))
	}
	return containerStatusNames[s]
}

// Reported is the status ECS shows for a container in this status:
// PENDING until it runs, then RUNNING, then STOPPED.
func (s ContainerStatus) Reported() string {
	switch {
	case s >= ContainerStopped:
		return ecs.ContainerStopped
	case s == ContainerRunning:
		return ecs.ContainerRunning
	default:
		return ecs.ContainerPending
	}
}

// ParseContainerStatus returns the status named name.
func ParseContainerStatus(name string) (ContainerStatus, bool) {
	for i, n := range containerStatusNames {
		if n == name {
			return ContainerStatus(i), true
		}
	}
	return ContainerNone, false
}

// MarshalJSON writes the status's name.
func (s ContainerStatus) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON reads a status name.
func (s *ContainerStatus) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return err
	}
	v, ok := ParseContainerStatus(name)
	if !ok {
		return fmt.Errorf("unknown container status %q", name)
	}
	*s = v
	return nil
}

// HealthStatus is a container's (or a task's) health. The zero value is
// UNKNOWN: no verdict yet, or no health check.
type HealthStatus int

// Health statuses.
const (
	HealthUnknown HealthStatus = iota
	HealthHealthy
	HealthUnhealthy
)

var healthNames = [...]string{ecs.HealthUnknown, ecs.HealthHealthy, ecs.HealthUnhealthy}

func (h HealthStatus) String() string {
	if h < 0 || int(h) >= len(healthNames) {
		return fmt.Sprintf("HealthStatus(%d)", int(h))
	}
	return healthNames[h]
}

// MarshalJSON writes the status's ECS name.
func (h HealthStatus) MarshalJSON() ([]byte, error) { return json.Marshal(h.String()) }

// UnmarshalJSON reads an ECS health status name.
func (h *HealthStatus) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return err
	}
	for i, n := range healthNames {
		if n == name {
			*h = HealthStatus(i)
			return nil
		}
	}
	return fmt.Errorf("unknown health status %q", name)
}

// Condition is a dependsOn condition: what the dependency must have done
// before the dependent container may be created and started.
type Condition string

// dependsOn conditions, as in task definitions.
const (
	// ConditionStart: the dependency has started (reached RUNNING).
	ConditionStart Condition = "START"
	// ConditionComplete: the dependency has exited, with any code.
	ConditionComplete Condition = "COMPLETE"
	// ConditionSuccess: the dependency has exited with code 0. Any other
	// exit means the dependent can never start.
	ConditionSuccess Condition = "SUCCESS"
	// ConditionHealthy: the dependency's health check reports HEALTHY.
	ConditionHealthy Condition = "HEALTHY"
)

// Dependency is one dependsOn entry of a container.
type Dependency struct {
	Container string    `json:"container"`
	Condition Condition `json:"condition"`
}
