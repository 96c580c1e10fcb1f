package taskstate

import (
	"fmt"
	"time"

	"github.com/berth/berth/internal/ecs"
)

// ActionKind is what the engine should do to a container.
type ActionKind int

// Actions, in the order a container needs them.
const (
	// ActionPull ensures the image (→ PULLED).
	ActionPull ActionKind = iota + 1
	// ActionCreate creates the container (→ CREATED).
	ActionCreate
	// ActionStart starts it (→ RUNNING).
	ActionStart
	// ActionStop stops a running container (SIGTERM, then SIGKILL after
	// its stop timeout); its exit then moves it to STOPPED.
	ActionStop
	// ActionMarkStopped moves a container that never ran to STOPPED
	// without touching the runtime, with Action.Reason as its reason.
	ActionMarkStopped
	// ActionProbe runs the container's health check now.
	ActionProbe
)

var actionNames = [...]string{"", "pull", "create", "start", "stop", "mark-stopped", "probe"}

func (k ActionKind) String() string {
	if k < 0 || int(k) >= len(actionNames) {
		return fmt.Sprintf("ActionKind(%d)", int(k))
	}
	return actionNames[k]
}

// Action is one step for one container.
type Action struct {
	Kind      ActionKind
	Container string
	// Reason is set for ActionMarkStopped when the container can never
	// start (a failed dependency); it is empty when the container is
	// merely no longer wanted.
	Reason string
}

// Plan is what to do now, and when to plan again if nothing happens
// before then.
type Plan struct {
	Actions []Action
	// WakeAt is the earliest time at which the plan may change by itself
	// (a health probe falls due, a dependency's startTimeout runs out);
	// zero when only events can change it.
	WakeAt time.Time
}

func (p *Plan) wake(at time.Time) {
	if !at.IsZero() && (p.WakeAt.IsZero() || at.Before(p.WakeAt)) {
		p.WakeAt = at
	}
}

// Plan says what to do next for each container at time now. It never
// changes t: the engine carries out the actions (skipping those already in
// progress) and feeds their outcomes back through Apply and RecordProbe.
//
// Desired RUNNING: a container is pulled whatever its dependencies (images
// are fetched early), created and started once its dependsOn conditions
// hold (see DependencyState), and probed when its health check is due.
// Desired STOPPED: a running container is stopped once no running
// container depends on it (dependents stop first, as ECS does); one that
// never ran is marked stopped.
func (t *Task) Plan(now time.Time) Plan {
	var p Plan
	stopping := t.Desired >= ecs.TaskStopped
	for i := range t.Containers {
		c := &t.Containers[i]
		if c.Known >= ContainerStopped {
			continue
		}
		if stopping || c.Desired >= ContainerStopped {
			switch {
			case c.Known != ContainerRunning:
				p.Actions = append(p.Actions, Action{Kind: ActionMarkStopped, Container: c.Name})
			case !t.hasRunningDependents(c.Name):
				p.Actions = append(p.Actions, Action{Kind: ActionStop, Container: c.Name})
			}
			continue
		}
		switch {
		case c.Known < ContainerPulled:
			p.Actions = append(p.Actions, Action{Kind: ActionPull, Container: c.Name})
		case c.Known < ContainerRunning:
			st, reason, wake := t.DependencyState(c, now)
			switch st {
			case DepResolved:
				kind := ActionCreate
				if c.Known == ContainerCreated {
					kind = ActionStart
				}
				p.Actions = append(p.Actions, Action{Kind: kind, Container: c.Name})
			case DepFailed:
				p.Actions = append(p.Actions, Action{Kind: ActionMarkStopped, Container: c.Name, Reason: reason})
			default:
				p.wake(wake)
			}
		case c.HealthCheck != nil:
			due := c.Health.NextProbe(*c.HealthCheck, c.StartedAt)
			if now.Before(due) {
				p.wake(due)
			} else {
				p.Actions = append(p.Actions, Action{Kind: ActionProbe, Container: c.Name})
			}
		}
	}
	return p
}

// hasRunningDependents reports whether a running container depends on name.
func (t *Task) hasRunningDependents(name string) bool {
	for _, d := range t.Containers {
		if d.Known != ContainerRunning {
			continue
		}
		for _, dep := range d.DependsOn {
			if dep.Container == name {
				return true
			}
		}
	}
	return false
}

// DepState is the state of a container's dependsOn conditions.
type DepState int

// Dependency states.
const (
	// DepWaiting: some condition may still be met; wait.
	DepWaiting DepState = iota
	// DepResolved: every condition holds; the container may proceed.
	DepResolved
	// DepFailed: some condition can never be met; the container can
	// never start.
	DepFailed
)

// DependencyState evaluates c's dependsOn conditions at now:
//
//   - START: the dependency has started (it is RUNNING, or ran and exited);
//     one that stopped without ever running fails it.
//   - COMPLETE: the dependency has stopped.
//   - SUCCESS: the dependency has stopped with exit code 0; any other exit
//     (or none) fails it.
//   - HEALTHY: the running dependency is HEALTHY; one that stops first
//     fails it.
//
// For COMPLETE, SUCCESS and HEALTHY a dependency with a startTimeout that
// started more than startTimeout ago without meeting the condition fails it
// (ECS's dependency timeout); wake is then when that can happen. reason is
// the dependent container's stop reason on DepFailed, in ECS's
// "CannotStartContainerError: ..." form.
func (t *Task) DependencyState(c *Container, now time.Time) (st DepState, reason string, wake time.Time) {
	st = DepResolved
	for _, d := range c.DependsOn {
		dep := t.Container(d.Container)
		if dep == nil {
			return DepFailed, cannotStart("dependency %q does not exist", d.Container), time.Time{}
		}
		ok, failure := conditionMet(dep, d.Condition)
		if failure != "" {
			return DepFailed, cannotStart("%s", failure), time.Time{}
		}
		if ok {
			continue
		}
		st = DepWaiting
		if d.Condition != ConditionStart && dep.StartTimeout > 0 && dep.Started() {
			deadline := dep.StartedAt.Add(dep.StartTimeout)
			if !now.Before(deadline) {
				return DepFailed, cannotStart("dependency %q did not reach %s within its startTimeout (%s)",
					dep.Name, d.Condition, dep.StartTimeout), time.Time{}
			}
			if wake.IsZero() || deadline.Before(wake) {
				wake = deadline
			}
		}
	}
	if st == DepResolved {
		wake = time.Time{}
	}
	return st, "", wake
}

// conditionMet says whether dep meets cond, or why it never can.
func conditionMet(dep *Container, cond Condition) (ok bool, failure string) {
	stopped := dep.Known >= ContainerStopped
	switch cond {
	case ConditionStart:
		if dep.Known == ContainerRunning || (stopped && dep.Started()) {
			return true, ""
		}
		if stopped {
			return false, fmt.Sprintf("dependency %q stopped without starting", dep.Name)
		}
	case ConditionComplete:
		return stopped, ""
	case ConditionSuccess:
		if !stopped {
			return false, ""
		}
		if dep.ExitCode != nil && *dep.ExitCode == 0 {
			return true, ""
		}
		if dep.ExitCode != nil {
			return false, fmt.Sprintf("dependency %q did not exit successfully (exit code %d)", dep.Name, *dep.ExitCode)
		}
		return false, fmt.Sprintf("dependency %q did not exit successfully (it did not run)", dep.Name)
	case ConditionHealthy:
		if dep.Known == ContainerRunning && dep.Health.Status == HealthHealthy {
			return true, ""
		}
		if stopped {
			return false, fmt.Sprintf("dependency %q stopped before it became healthy", dep.Name)
		}
	default:
		return false, fmt.Sprintf("unknown dependsOn condition %q on %q", cond, dep.Name)
	}
	return false, ""
}

func cannotStart(format string, args ...any) string {
	return "CannotStartContainerError: " + fmt.Sprintf(format, args...)
}
