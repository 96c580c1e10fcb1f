package taskstate

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth/berth/internal/ecs"
)

func actionsOf(p Plan) []string {
	var out []string
	for _, a := range p.Actions {
		out = append(out, a.Kind.String()+":"+a.Container)
	}
	return out
}

func TestPlanLifecycle(t *testing.T) {
	task := New(ecs.TaskRunning, []Container{{Name: "a", Essential: true}, {Name: "b"}})
	steps := []struct {
		apply []Event
		want  []string
	}{
		{nil, []string{"pull:a", "pull:b"}},
		{[]Event{{Container: "a", Status: ContainerPulled}}, []string{"create:a", "pull:b"}},
		{[]Event{{Container: "b", Status: ContainerPulled}, {Container: "a", Status: ContainerCreated}}, []string{"start:a", "create:b"}},
		{[]Event{{Container: "a", Status: ContainerRunning, At: t0}, {Container: "b", Status: ContainerCreated}}, []string{"start:b"}},
		{[]Event{{Container: "b", Status: ContainerRunning, At: t0}}, nil},
	}
	for i, s := range steps {
		for _, ev := range s.apply {
			task.Apply(ev)
		}
		if got := actionsOf(task.Plan(t0)); !slices.Equal(got, s.want) {
			t.Errorf("step %d: plan = %v, want %v", i, got, s.want)
		}
	}
	if task.Known != ecs.TaskRunning {
		t.Errorf("task known = %v, want RUNNING", task.Known)
	}
}

func TestPlanStopping(t *testing.T) {
	tests := []struct {
		name  string
		known []ContainerStatus // of a, b, c
		want  []string
	}{
		{"never ran", []ContainerStatus{ContainerNone, ContainerPulled, ContainerCreated}, []string{"mark-stopped:a", "mark-stopped:b", "mark-stopped:c"}},
		// b depends on a; c depends on b: c stops first, then b, then a.
		{"dependents first", []ContainerStatus{ContainerRunning, ContainerRunning, ContainerRunning}, []string{"stop:c"}},
		{"then the middle", []ContainerStatus{ContainerRunning, ContainerRunning, ContainerStopped}, []string{"stop:b"}},
		{"then the root", []ContainerStatus{ContainerRunning, ContainerStopped, ContainerStopped}, []string{"stop:a"}},
		{"dependent not running", []ContainerStatus{ContainerRunning, ContainerCreated, ContainerStopped}, []string{"stop:a", "mark-stopped:b"}},
		{"all stopped", []ContainerStatus{ContainerStopped, ContainerStopped, ContainerStopped}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task := New(ecs.TaskRunning, []Container{
				{Name: "a", Essential: true},
				{Name: "b", DependsOn: []Dependency{{"a", ConditionStart}}},
				{Name: "c", DependsOn: []Dependency{{"b", ConditionStart}}},
			})
			for i, s := range tt.known {
				task.Containers[i].Known = s
			}
			task.SetDesired(ecs.TaskStopped, "")
			if got := actionsOf(task.Plan(t0)); !slices.Equal(got, tt.want) {
				t.Errorf("plan = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestPlanDependsOn covers the four conditions: what the dependent
// ("app", pulled) gets planned for each state of its dependency ("dep").
func TestPlanDependsOn(t *testing.T) {
	hc := &HealthCheck{Command: []string{"true"}, Interval: time.Hour}
	type depState struct {
		known  ContainerStatus
		exit   *int
		health HealthStatus
	}
	tests := []struct {
		cond       Condition
		dep        depState
		wantAction string // "" = wait
		wantReason string
	}{
		{ConditionStart, depState{known: ContainerPulled}, "", ""},
		{ConditionStart, depState{known: ContainerCreated}, "", ""},
		{ConditionStart, depState{known: ContainerRunning}, "create", ""},
		{ConditionStart, depState{known: ContainerStopped, exit: code(1)}, "create", ""}, // it did start
		{ConditionStart, depState{known: ContainerStopped}, "mark-stopped", "stopped without starting"},

		{ConditionComplete, depState{known: ContainerRunning}, "", ""},
		{ConditionComplete, depState{known: ContainerStopped, exit: code(0)}, "create", ""},
		{ConditionComplete, depState{known: ContainerStopped, exit: code(3)}, "create", ""},

		{ConditionSuccess, depState{known: ContainerRunning}, "", ""},
		{ConditionSuccess, depState{known: ContainerStopped, exit: code(0)}, "create", ""},
		{ConditionSuccess, depState{known: ContainerStopped, exit: code(3)}, "mark-stopped", "did not exit successfully (exit code 3)"},
		{ConditionSuccess, depState{known: ContainerStopped}, "mark-stopped", "did not exit successfully"},

		{ConditionHealthy, depState{known: ContainerRunning}, "", ""},
		{ConditionHealthy, depState{known: ContainerRunning, health: HealthUnhealthy}, "", ""},
		{ConditionHealthy, depState{known: ContainerRunning, health: HealthHealthy}, "create", ""},
		{ConditionHealthy, depState{known: ContainerStopped, exit: code(0), health: HealthHealthy}, "mark-stopped", "stopped before it became healthy"},
	}
	for _, tt := range tests {
		name := string(tt.cond) + "/" + tt.dep.known.String() + "/" + tt.dep.health.String()
		t.Run(name, func(t *testing.T) {
			task := New(ecs.TaskRunning, []Container{
				{Name: "dep", HealthCheck: hc},
				{Name: "app", Essential: true, DependsOn: []Dependency{{"dep", tt.cond}}},
			})
			dep, app := &task.Containers[0], &task.Containers[1]
			dep.Known, dep.ExitCode, dep.Health.Status = tt.dep.known, tt.dep.exit, tt.dep.health
			if tt.dep.known >= ContainerRunning && tt.dep.exit != nil {
				dep.StartedAt = t0
			}
			if tt.dep.known == ContainerRunning {
				dep.StartedAt = t0
			}
			app.Known = ContainerPulled
			var got Action
			for _, a := range task.Plan(t0).Actions {
				if a.Container == "app" {
					got = a
				}
			}
			gotKind := ""
			if got.Kind != 0 {
				gotKind = got.Kind.String()
			}
			if gotKind != tt.wantAction {
				t.Fatalf("app action = %q, want %q", gotKind, tt.wantAction)
			}
			if tt.wantReason != "" && (!strings.HasPrefix(got.Reason, "CannotStartContainerError: ") || !strings.Contains(got.Reason, tt.wantReason)) {
				t.Errorf("reason = %q, want CannotStartContainerError containing %q", got.Reason, tt.wantReason)
			}
			if tt.wantAction == "create" {
				// Created: the same conditions let it start.
				app.Known = ContainerCreated
				if acts := actionsOf(task.Plan(t0)); !slices.Contains(acts, "start:app") {
					t.Errorf("created app: plan = %v, want start:app", acts)
				}
			}
		})
	}
}

// TestFailedDependencyStopsTheTask: an essential container whose SUCCESS
// dependency failed is marked stopped with the reason, which stops the task
// with that reason.
func TestFailedDependencyStopsTheTask(t *testing.T) {
	task := New(ecs.TaskRunning, []Container{
		{Name: "init"},
		{Name: "app", Essential: true, DependsOn: []Dependency{{"init", ConditionSuccess}}},
	})
	task.Apply(Event{Container: "init", Status: ContainerRunning, At: t0})
	task.Apply(Event{Container: "app", Status: ContainerPulled})
	task.Apply(Event{Container: "init", Status: ContainerStopped, At: t0, ExitCode: code(1)})
	p := task.Plan(t0)
	if len(p.Actions) != 1 || p.Actions[0].Kind != ActionMarkStopped {
		t.Fatalf("plan = %+v", p)
	}
	task.Apply(Event{Container: "app", Status: ContainerStopped, At: t0, Reason: p.Actions[0].Reason})
	if task.Known != ecs.TaskStopped || task.Desired != ecs.TaskStopped || task.StopReason != p.Actions[0].Reason {
		t.Errorf("task = known %v desired %v reason %q", task.Known, task.Desired, task.StopReason)
	}
}

func TestPlanDependencyStartTimeout(t *testing.T) {
	task := New(ecs.TaskRunning, []Container{
		{Name: "db", StartTimeout: time.Minute, HealthCheck: &HealthCheck{Command: []string{"true"}, Interval: time.Hour}},
		{Name: "app", Essential: true, DependsOn: []Dependency{{"db", ConditionHealthy}}},
	})
	task.Apply(Event{Container: "db", Status: ContainerRunning, At: t0})
	task.Apply(Event{Container: "app", Status: ContainerPulled})

	p := task.Plan(t0.Add(30 * time.Second))
	if len(p.Actions) != 0 || !p.WakeAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("before the timeout: plan = %+v, want no actions and a wake at %v", p, t0.Add(time.Minute))
	}
	p = task.Plan(t0.Add(time.Minute))
	if len(p.Actions) != 1 || p.Actions[0].Kind != ActionMarkStopped || !strings.Contains(p.Actions[0].Reason, "startTimeout") {
		t.Errorf("at the timeout: plan = %+v", p)
	}
}

func TestPlanProbes(t *testing.T) {
	task := New(ecs.TaskRunning, []Container{{Name: "a", Essential: true, HealthCheck: &HealthCheck{Command: []string{"true"}, Interval: 10 * time.Second}}})
	task.Apply(Event{Container: "a", Status: ContainerRunning, At: t0})
	if p := task.Plan(t0.Add(time.Second)); len(p.Actions) != 0 || !p.WakeAt.Equal(t0.Add(10*time.Second)) {
		t.Errorf("plan = %+v, want wake at first interval", p)
	}
	if acts := actionsOf(task.Plan(t0.Add(10 * time.Second))); !slices.Equal(acts, []string{"probe:a"}) {
		t.Errorf("plan = %v, want probe", acts)
	}
	task.RecordProbe("a", t0.Add(11*time.Second), 0, "")
	if p := task.Plan(t0.Add(12 * time.Second)); len(p.Actions) != 0 || !p.WakeAt.Equal(t0.Add(21*time.Second)) {
		t.Errorf("plan = %+v, want wake an interval after the last probe", p)
	}
	task.SetDesired(ecs.TaskStopped, "")
	if acts := actionsOf(task.Plan(t0.Add(time.Hour))); !slices.Equal(acts, []string{"stop:a"}) {
		t.Errorf("stopping task: plan = %v, want only stop", acts)
	}
}
