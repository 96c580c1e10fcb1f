package taskstate

import (
	"errors"
	"fmt"
	"time"

	"github.com/berth/berth/internal/ecs"
)

// Reasons the state machine gives a stopping task.
const (
	// ReasonEssentialExited is ECS's stoppedReason when an essential
	// container that ran has exited.
	ReasonEssentialExited = "Essential container in task exited"
)

// Container is the state machine's view of one container of a task: its
// definition's ordering rules and its known and desired status.
type Container struct {
	Name         string        `json:"name"`
	Essential    bool          `json:"essential"`
	DependsOn    []Dependency  `json:"dependsOn,omitempty"`
	StartTimeout time.Duration `json:"startTimeout,omitempty"`
	HealthCheck  *HealthCheck  `json:"healthCheck,omitempty"`

	Known      ContainerStatus `json:"known"`
	Desired    ContainerStatus `json:"desired"`
	ExitCode   *int            `json:"exitCode,omitempty"`
	Reason     string          `json:"reason,omitempty"`
	StartedAt  time.Time       `json:"startedAt,omitzero"`
	FinishedAt time.Time       `json:"finishedAt,omitzero"`
	Health     Health          `json:"health"`
}

// Started reports whether the container has ever been running.
func (c *Container) Started() bool { return !c.StartedAt.IsZero() }

// Task is one task's state: its containers and the derived task status.
// Change it only through its methods, which keep statuses moving forwards.
type Task struct {
	Known   ecs.TaskStatus `json:"known"`
	Desired ecs.TaskStatus `json:"desired"`
	// StopReason says why the task is stopping (reported with STOPPED);
	// the first reason set wins.
	StopReason string      `json:"stopReason,omitempty"`
	Containers []Container `json:"containers"`
}

// New returns a task of containers (their Known/Desired and run fields are
// reset) that should reach desired (RUNNING or STOPPED).
func New(desired ecs.TaskStatus, containers []Container) Task {
	t := Task{Desired: ecs.TaskRunning, Containers: make([]Container, len(containers))}
	for i, c := range containers {
		t.Containers[i] = Container{
			Name: c.Name, Essential: c.Essential, DependsOn: c.DependsOn,
			StartTimeout: c.StartTimeout, HealthCheck: c.HealthCheck,
			Known: ContainerNone, Desired: ContainerRunning,
		}
	}
	if desired >= ecs.TaskStopped {
		t.stop("")
	}
	t.derive()
	return t
}

// Validate checks the containers' names and dependsOn graph: unique
// names, dependencies on existing other containers with a known
// condition, HEALTHY only on containers with a health check, no cycles.
func Validate(containers []Container) error {
	if len(containers) == 0 {
		return errors.New("task has no containers")
	}
	idx := make(map[string]int, len(containers))
	for i, c := range containers {
		if c.Name == "" {
			return errors.New("container without a name")
		}
		if _, dup := idx[c.Name]; dup {
			return fmt.Errorf("container name %q is used twice", c.Name)
		}
		idx[c.Name] = i
	}
	for _, c := range containers {
		for _, d := range c.DependsOn {
			j, ok := idx[d.Container]
			switch {
			case !ok:
				return fmt.Errorf("container %q depends on %q, which is not in the task", c.Name, d.Container)
			case d.Container == c.Name:
				return fmt.Errorf("container %q depends on itself", c.Name)
			}
			switch d.Condition {
			case ConditionStart, ConditionComplete, ConditionSuccess:
			case ConditionHealthy:
				if containers[j].HealthCheck == nil {
					return fmt.Errorf("container %q depends on %q being HEALTHY, but %q has no health check", c.Name, d.Container, d.Container)
				}
			default:
				return fmt.Errorf("container %q: unknown dependsOn condition %q", c.Name, d.Condition)
			}
		}
	}
	// Cycle check: depth-first search with colours.
	const (
		white = iota
		grey
		black
	)
	colour := make([]int, len(containers))
	var visit func(i int) error
	visit = func(i int) error {
		colour[i] = grey
		for _, d := range containers[i].DependsOn {
			j := idx[d.Container]
			switch colour[j] {
			case grey:
				return fmt.Errorf("dependsOn cycle through %q and %q", containers[i].Name, d.Container)
			case white:
				if err := visit(j); err != nil {
					return err
				}
			}
		}
		colour[i] = black
		return nil
	}
	for i := range containers {
		if colour[i] == white {
			if err := visit(i); err != nil {
				return err
			}
		}
	}
	return nil
}

// Container returns the container named name, or nil.
func (t *Task) Container(name string) *Container {
	for i := range t.Containers {
		if t.Containers[i].Name == name {
			return &t.Containers[i]
		}
	}
	return nil
}

// Event is something that happened to a container: it reached Status.
type Event struct {
	Container string
	Status    ContainerStatus
	// At is when: the start time for RUNNING, the exit time for STOPPED.
	At time.Time
	// ExitCode and Reason describe a STOPPED container. Reason is kept
	// only when the container has none yet.
	ExitCode *int
	Reason   string
}

// Apply records ev and re-derives the task's status. It reports whether
// anything changed: an event that would move a container backwards, or
// repeats its current status, is ignored.
func (t *Task) Apply(ev Event) bool {
	c := t.Container(ev.Container)
	if c == nil || ev.Status <= c.Known || ev.Status > ContainerStopped {
		return false
	}
	c.Known = ev.Status
	switch ev.Status {
	case ContainerRunning:
		c.StartedAt = ev.At
	case ContainerStopped:
		c.FinishedAt = ev.At
		if ev.ExitCode != nil {
			code := *ev.ExitCode
			c.ExitCode = &code
		}
		if c.Reason == "" {
			c.Reason = ev.Reason
		}
		c.Desired = ContainerStopped
	}
	t.derive()
	return true
}

// SetDesired moves the task's desired status forwards (RUNNING → STOPPED)
// and records reason if the task has no stop reason yet. It reports whether
// the desired status changed; moving backwards is ignored.
func (t *Task) SetDesired(s ecs.TaskStatus, reason string) bool {
	if s >= ecs.TaskStopped {
		s = ecs.TaskStopped
	}
	if s <= t.Desired {
		return false
	}
	if s == ecs.TaskStopped {
		t.stop(reason)
	} else {
		t.Desired = s
	}
	t.derive()
	return true
}

// stop makes the task and every container desire STOPPED.
func (t *Task) stop(reason string) {
	t.Desired = ecs.TaskStopped
	if t.StopReason == "" {
		t.StopReason = reason
	}
	for i := range t.Containers {
		if t.Containers[i].Desired < ContainerStopped {
			t.Containers[i].Desired = ContainerStopped
		}
	}
}

// derive applies the task-level rules after any change:
//
//   - an essential container that stopped stops the task; the reason is
//     the container's own when it never ran (e.g. "CannotPullContainerError:
//     ..."), else "Essential container in task exited";
//   - a task whose containers have all stopped desires STOPPED too;
//   - the known status is TaskStatusOf(containers), never moving backwards.
func (t *Task) derive() {
	if t.Desired < ecs.TaskStopped {
		allStopped := true
		for i := range t.Containers {
			c := &t.Containers[i]
			if c.Known < ContainerStopped {
				allStopped = false
				continue
			}
			if c.Essential {
				reason := ReasonEssentialExited
				if !c.Started() && c.Reason != "" {
					reason = c.Reason
				}
				t.stop(reason)
				break
			}
		}
		if allStopped && t.Desired < ecs.TaskStopped {
			t.stop("")
		}
	}
	if s := TaskStatusOf(t.Containers); s > t.Known {
		t.Known = s
	}
}

// TaskStatusOf is the one mapping from container statuses to the task
// status the agent reports. Each container status maps to a task status,
// and the task is as far along as its least advanced container:
//
//	container known status                  task status
//	NONE, MANIFEST_PULLED, PULLED, CREATED  PENDING
//	RUNNING                                 RUNNING
//	STOPPED                                 STOPPED
//
//	           every container RUNNING (or already exited)
//	  PENDING ─────────────────────────────────────────────► RUNNING
//	     │                                                      │
//	     │ every container STOPPED         every container STOPPED
//	     └──────────────────────────► STOPPED ◄─────────────────┘
//
// A container that exits early (an init container) thus counts as "at
// least running", and the task only reports STOPPED once every container
// has stopped, even after an essential container's exit made it desire
// STOPPED. Task.Known never moves backwards, so a status once reported
// stays.
func TaskStatusOf(containers []Container) ecs.TaskStatus {
	if len(containers) == 0 {
		return ecs.TaskPending
	}
	least := ecs.TaskStopped
	for _, c := range containers {
		var s ecs.TaskStatus
		switch {
		case c.Known >= ContainerStopped:
			s = ecs.TaskStopped
		case c.Known == ContainerRunning:
			s = ecs.TaskRunning
		default:
			s = ecs.TaskPending
		}
		least = min(least, s)
	}
	return least
}
