package taskstate

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/berth/berth/internal/ecs"
)

// randomTask builds 1-4 containers with a random acyclic dependsOn graph
// (containers depend only on earlier ones).
func randomTask(r *rand.Rand) Task {
	n := 1 + r.IntN(4)
	cs := make([]Container, n)
	conds := []Condition{ConditionStart, ConditionComplete, ConditionSuccess, ConditionHealthy}
	for i := range cs {
		cs[i] = Container{Name: fmt.Sprintf("c%d", i), Essential: r.IntN(2) == 0}
		if r.IntN(2) == 0 {
			cs[i].HealthCheck = &HealthCheck{Command: []string{"true"}, Interval: time.Duration(1+r.IntN(5)) * time.Second,
				StartPeriod: time.Duration(r.IntN(3)) * time.Second, Retries: 1 + r.IntN(3)}
		}
		if r.IntN(3) == 0 {
			cs[i].StartTimeout = time.Duration(1+r.IntN(10)) * time.Second
		}
		for j := 0; j < i; j++ {
			if r.IntN(3) != 0 {
				continue
			}
			c := conds[r.IntN(len(conds))]
			if c == ConditionHealthy && cs[j].HealthCheck == nil {
				c = ConditionStart
			}
			cs[i].DependsOn = append(cs[i].DependsOn, Dependency{Container: cs[j].Name, Condition: c})
		}
	}
	return New(ecs.TaskRunning, cs)
}

type snapshot struct {
	task       Task
	containers []Container
}

func snap(t Task) snapshot {
	return snapshot{task: t, containers: append([]Container(nil), t.Containers...)}
}

// checkInvariants compares the task after a step with the one before.
func checkInvariants(t *testing.T, step string, before snapshot, task *Task, now time.Time) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s: "+format, append([]any{step}, args...)...)
	}
	if task.Known < before.task.Known {
		fail("task known moved back %v → %v", before.task.Known, task.Known)
	}
	if task.Desired < before.task.Desired {
		fail("task desired moved back %v → %v", before.task.Desired, task.Desired)
	}
	if before.task.StopReason != "" && task.StopReason != before.task.StopReason {
		fail("stop reason changed %q → %q", before.task.StopReason, task.StopReason)
	}
	if got := TaskStatusOf(task.Containers); got != task.Known {
		fail("task known %v but containers map to %v", task.Known, got)
	}
	for i, c := range task.Containers {
		b := before.containers[i]
		if c.Known < b.Known {
			fail("container %s known moved back %v → %v", c.Name, b.Known, c.Known)
		}
		if c.Desired < b.Desired {
			fail("container %s desired moved back %v → %v", c.Name, b.Desired, c.Desired)
		}
		if b.Known >= ContainerStopped && (!equalExit(b.ExitCode, c.ExitCode) || b.Reason != c.Reason) {
			fail("stopped container %s changed its exit", c.Name)
		}
		if c.Essential && c.Known >= ContainerStopped && task.Desired != ecs.TaskStopped {
			fail("essential %s stopped but task desired %v", c.Name, task.Desired)
		}
		if task.Desired == ecs.TaskStopped && c.Desired != ContainerStopped {
			fail("task desired STOPPED but %s desired %v", c.Name, c.Desired)
		}
	}
	for _, a := range task.Plan(now).Actions {
		c := task.Container(a.Container)
		switch {
		case c.Known >= ContainerStopped:
			fail("plan %v for stopped container %s", a.Kind, c.Name)
		case task.Desired == ecs.TaskStopped && a.Kind != ActionStop && a.Kind != ActionMarkStopped:
			fail("plan %v for %s while the task stops", a.Kind, c.Name)
		case a.Kind == ActionStop && c.Known != ContainerRunning:
			fail("plan stop for %s in %v", c.Name, c.Known)
		}
	}
}

func equalExit(a, b *int) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// carryOut performs action a as a successful engine would.
func carryOut(task *Task, a Action, now time.Time, r *rand.Rand) {
	switch a.Kind {
	case ActionPull:
		task.Apply(Event{Container: a.Container, Status: ContainerPulled, At: now})
	case ActionCreate:
		task.Apply(Event{Container: a.Container, Status: ContainerCreated, At: now})
	case ActionStart:
		task.Apply(Event{Container: a.Container, Status: ContainerRunning, At: now})
	case ActionStop:
		task.Apply(Event{Container: a.Container, Status: ContainerStopped, At: now, ExitCode: code(143)})
	case ActionMarkStopped:
		task.Apply(Event{Container: a.Container, Status: ContainerStopped, At: now, Reason: a.Reason})
	case ActionProbe:
		task.RecordProbe(a.Container, now, r.IntN(2), "")
	}
}

// TestPropertyNeverBackwards feeds random event sequences (including
// duplicate, backwards and nonsensical ones, mixed with carrying out the
// plan) and checks after every step that no status moved backwards and the
// task-level rules hold; then it stops the task and checks that carrying
// out the plan always reaches STOPPED (no deadlock).
func TestPropertyNeverBackwards(t *testing.T) {
	for seed := uint64(0); seed < 2000; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		task := randomTask(r)
		now := t0
		for step := 0; step < 40; step++ {
			before := snap(task)
			before.task.Containers = nil
			now = now.Add(time.Duration(r.IntN(3000)) * time.Millisecond)
			c := task.Containers[r.IntN(len(task.Containers))].Name
			var desc string
			switch k := r.IntN(10); {
			case k < 3:
				ev := Event{Container: c, Status: ContainerStatus(r.IntN(int(ContainerStopped) + 2)), At: now}
				if ev.Status == ContainerStopped {
					ev.ExitCode = []*int{nil, code(0), code(1), code(137)}[r.IntN(4)]
					ev.Reason = []string{"", "boom"}[r.IntN(2)]
				}
				desc = fmt.Sprintf("apply %+v", ev)
				task.Apply(ev)
			case k == 3:
				d := []ecs.TaskStatus{ecs.TaskRunning, ecs.TaskStopped}[r.IntN(2)]
				desc = fmt.Sprintf("desired %v", d)
				task.SetDesired(d, "stop")
			case k == 4:
				desc = "probe " + c
				task.RecordProbe(c, now, r.IntN(2), "")
			default:
				p := task.Plan(now)
				if len(p.Actions) == 0 {
					continue
				}
				a := p.Actions[r.IntN(len(p.Actions))]
				desc = fmt.Sprintf("carry out %v %s", a.Kind, a.Container)
				carryOut(&task, a, now, r)
			}
			checkInvariants(t, fmt.Sprintf("seed %d step %d (%s)", seed, step, desc), before, &task, now)
		}

		task.SetDesired(ecs.TaskStopped, "")
		for round := 0; task.Known != ecs.TaskStopped; round++ {
			if round > 10 {
				t.Fatalf("seed %d: task did not reach STOPPED; containers %+v", seed, task.Containers)
			}
			for _, a := range task.Plan(now).Actions {
				carryOut(&task, a, now, r)
			}
		}
	}
}

// TestPropertyRunsToCompletion: carrying out every planned action (with
// dependencies succeeding and health checks passing) brings any random
// valid task to RUNNING, unless it fails on its own terms.
func TestPropertyRunsToCompletion(t *testing.T) {
	for seed := uint64(0); seed < 1000; seed++ {
		r := rand.New(rand.NewPCG(seed, 11))
		task := randomTask(r)
		// Remove what makes a task fail by design: startTimeouts (shorter
		// than health intervals) and HEALTHY on a container that others
		// wait on to exit.
		for i := range task.Containers {
			task.Containers[i].StartTimeout = 0
			for j, d := range task.Containers[i].DependsOn {
				if d.Condition == ConditionHealthy && awaitedToExit(&task, d.Container) {
					task.Containers[i].DependsOn[j].Condition = ConditionStart
				}
			}
		}
		if err := Validate(task.Containers); err != nil {
			t.Fatalf("seed %d: random task invalid: %v", seed, err)
		}
		now := t0
		for round := 0; task.Known < ecs.TaskRunning && task.Desired == ecs.TaskRunning; round++ {
			if round > 200 {
				t.Fatalf("seed %d: stuck; containers %+v", seed, task.Containers)
			}
			p := task.Plan(now)
			for _, a := range p.Actions {
				if a.Kind == ActionProbe {
					task.RecordProbe(a.Container, now, 0, "")
					continue
				}
				carryOut(&task, a, now, r)
			}
			// Containers that others wait on to COMPLETE/SUCCEED exit 0.
			for _, c := range task.Containers {
				if c.Known == ContainerRunning && awaitedToExit(&task, c.Name) {
					task.Apply(Event{Container: c.Name, Status: ContainerStopped, At: now, ExitCode: code(0)})
				}
			}
			if !p.WakeAt.IsZero() && p.WakeAt.After(now) {
				now = p.WakeAt
			} else {
				now = now.Add(time.Second)
			}
		}
		// A task that stopped by itself may only have done so because an
		// essential container exited 0 for a COMPLETE/SUCCESS dependent.
		if task.Desired == ecs.TaskStopped && task.StopReason != ReasonEssentialExited {
			t.Errorf("seed %d: task stopped with %q", seed, task.StopReason)
		}
	}
}

func awaitedToExit(t *Task, name string) bool {
	for _, c := range t.Containers {
		for _, d := range c.DependsOn {
			if d.Container == name && (d.Condition == ConditionComplete || d.Condition == ConditionSuccess) {
				return true
			}
		}
	}
	return false
}
