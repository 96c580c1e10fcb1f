package taskstate

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/berth/berth/internal/ecs"
)

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func code(i int) *int { return &i }

// withKnown returns containers named by names with the given known statuses.
func withKnown(statuses ...ContainerStatus) []Container {
	out := make([]Container, len(statuses))
	for i, s := range statuses {
		out[i] = Container{Name: string(rune('a' + i)), Known: s}
	}
	return out
}

func TestTaskStatusOf(t *testing.T) {
	tests := []struct {
		name string
		in   []Container
		want ecs.TaskStatus
	}{
		{"no containers", nil, ecs.TaskPending},
		{"new", withKnown(ContainerNone), ecs.TaskPending},
		{"pulled", withKnown(ContainerPulled, ContainerManifestPulled), ecs.TaskPending},
		{"created", withKnown(ContainerCreated), ecs.TaskPending},
		{"one running one created", withKnown(ContainerRunning, ContainerCreated), ecs.TaskPending},
		{"all running", withKnown(ContainerRunning, ContainerRunning), ecs.TaskRunning},
		{"init exited, app running", withKnown(ContainerStopped, ContainerRunning), ecs.TaskRunning},
		{"init exited, app pulled", withKnown(ContainerStopped, ContainerPulled), ecs.TaskPending},
		{"all stopped", withKnown(ContainerStopped, ContainerStopped), ecs.TaskStopped},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TaskStatusOf(tt.in); got != tt.want {
				t.Errorf("TaskStatusOf = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestContainerStatusNamesAndJSON(t *testing.T) {
	tests := []struct {
		s        ContainerStatus
		name     string
		reported string
	}{
		{ContainerNone, "NONE", "PENDING"},
		{ContainerManifestPulled, "MANIFEST_PULLED", "PENDING"},
		{ContainerPulled, "PULLED", "PENDING"},
		{ContainerCreated, "CREATED", "PENDING"},
		{ContainerRunning, "RUNNING", "RUNNING"},
		{ContainerStopped, "STOPPED", "STOPPED"},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.name {
			t.Errorf("%d.String() = %q, want %q", tt.s, got, tt.name)
		}
		if got := tt.s.Reported(); got != tt.reported {
			t.Errorf("%v.Reported() = %q, want %q", tt.s, got, tt.reported)
		}
		b, err := json.Marshal(tt.s)
		if err != nil {
			t.Fatal(err)
		}
		var back ContainerStatus
		if err := json.Unmarshal(b, &back); err != nil || back != tt.s {
			t.Errorf("JSON round trip of %v: %v, %v", tt.s, back, err)
		}
	}
	var s ContainerStatus
	if err := json.Unmarshal([]byte(`"BOGUS"`), &s); err == nil {
		t.Error("unknown status name accepted")
	}
	var h HealthStatus
	if err := json.Unmarshal([]byte(`"UNHEALTHY"`), &h); err != nil || h != HealthUnhealthy {
		t.Errorf("health JSON: %v %v", h, err)
	}
	if err := json.Unmarshal([]byte(`"SICK"`), &h); err == nil {
		t.Error("unknown health name accepted")
	}
}

func TestTaskJSONRoundTrip(t *testing.T) {
	task := New(ecs.TaskRunning, []Container{
		{Name: "app", Essential: true, HealthCheck: &HealthCheck{Command: []string{"true"}, Interval: time.Second}},
		{Name: "side", DependsOn: []Dependency{{Container: "app", Condition: ConditionHealthy}}},
	})
	task.Apply(Event{Container: "app", Status: ContainerRunning, At: t0})
	task.RecordProbe("app", t0.Add(time.Second), 0, "ok")
	b, err := json.Marshal(task)
	if err != nil {
		t.Fatal(err)
	}
	var back Task
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(back)
	if string(b) != string(b2) {
		t.Errorf("round trip changed the task:\n%s\n%s", b, b2)
	}
	if back.Containers[0].Health.Status != HealthHealthy || back.Known != ecs.TaskPending {
		t.Errorf("decoded task lost state: %+v", back)
	}
}

func TestApplyOnlyMovesForwards(t *testing.T) {
	tests := []struct {
		name      string
		from      ContainerStatus
		to        ContainerStatus
		applied   bool
		wantKnown ContainerStatus
	}{
		{"none to pulled", ContainerNone, ContainerPulled, true, ContainerPulled},
		{"pulled to created", ContainerPulled, ContainerCreated, true, ContainerCreated},
		{"skip to running", ContainerPulled, ContainerRunning, true, ContainerRunning},
		{"never ran to stopped", ContainerNone, ContainerStopped, true, ContainerStopped},
		{"duplicate", ContainerRunning, ContainerRunning, false, ContainerRunning},
		{"backwards", ContainerRunning, ContainerCreated, false, ContainerRunning},
		{"after stopped", ContainerStopped, ContainerRunning, false, ContainerStopped},
		{"out of range", ContainerRunning, ContainerStopped + 1, false, ContainerRunning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task := New(ecs.TaskRunning, []Container{{Name: "c"}})
			task.Containers[0].Known = tt.from
			if got := task.Apply(Event{Container: "c", Status: tt.to, At: t0}); got != tt.applied {
				t.Errorf("Apply = %v, want %v", got, tt.applied)
			}
			if got := task.Containers[0].Known; got != tt.wantKnown {
				t.Errorf("known = %v, want %v", got, tt.wantKnown)
			}
		})
	}
	task := New(ecs.TaskRunning, []Container{{Name: "c"}})
	if task.Apply(Event{Container: "nope", Status: ContainerPulled}) {
		t.Error("event for an unknown container applied")
	}
}

func TestApplyStoppedKeepsFirstReasonAndExitCode(t *testing.T) {
	task := New(ecs.TaskRunning, []Container{{Name: "c", Essential: true}, {Name: "d"}})
	task.Apply(Event{Container: "c", Status: ContainerRunning, At: t0})
	task.Apply(Event{Container: "c", Status: ContainerStopped, At: t0.Add(time.Minute), ExitCode: code(137),
		Reason: "OutOfMemoryError: Container killed due to memory usage"})
	c := task.Container("c")
	if c.ExitCode == nil || *c.ExitCode != 137 || c.Reason != "OutOfMemoryError: Container killed due to memory usage" ||
		!c.FinishedAt.Equal(t0.Add(time.Minute)) || !c.StartedAt.Equal(t0) || c.Desired != ContainerStopped {
		t.Errorf("stopped container = %+v", c)
	}
	if task.Apply(Event{Container: "c", Status: ContainerStopped, ExitCode: code(0), Reason: "other"}) {
		t.Error("second STOPPED applied")
	}
	if *c.ExitCode != 137 || c.Reason != "OutOfMemoryError: Container killed due to memory usage" {
		t.Errorf("second STOPPED changed the container: %+v", c)
	}
}

// TestEssentialRules covers how container exits decide the task's fate.
func TestEssentialRules(t *testing.T) {
	type step struct {
		container string
		status    ContainerStatus
		exit      *int
		reason    string
	}
	tests := []struct {
		name        string
		containers  []Container
		steps       []step
		wantDesired ecs.TaskStatus
		wantKnown   ecs.TaskStatus
		wantReason  string
	}{
		{
			name:        "essential exit stops the task",
			containers:  []Container{{Name: "app", Essential: true}, {Name: "side"}},
			steps:       []step{{"app", ContainerRunning, nil, ""}, {"side", ContainerRunning, nil, ""}, {"app", ContainerStopped, code(1), ""}},
			wantDesired: ecs.TaskStopped, wantKnown: ecs.TaskRunning, wantReason: ReasonEssentialExited,
		},
		{
			name:        "task stopped once every container stopped",
			containers:  []Container{{Name: "app", Essential: true}, {Name: "side"}},
			steps:       []step{{"app", ContainerRunning, nil, ""}, {"side", ContainerRunning, nil, ""}, {"app", ContainerStopped, code(0), ""}, {"side", ContainerStopped, code(143), ""}},
			wantDesired: ecs.TaskStopped, wantKnown: ecs.TaskStopped, wantReason: ReasonEssentialExited,
		},
		{
			name:        "non-essential exit keeps the task running",
			containers:  []Container{{Name: "app", Essential: true}, {Name: "side"}},
			steps:       []step{{"app", ContainerRunning, nil, ""}, {"side", ContainerRunning, nil, ""}, {"side", ContainerStopped, code(2), ""}},
			wantDesired: ecs.TaskRunning, wantKnown: ecs.TaskRunning,
		},
		{
			name:        "essential that never ran gives its reason",
			containers:  []Container{{Name: "app", Essential: true}, {Name: "side"}},
			steps:       []step{{"app", ContainerStopped, nil, "CannotPullContainerError: not found"}},
			wantDesired: ecs.TaskStopped, wantKnown: ecs.TaskPending, wantReason: "CannotPullContainerError: not found",
		},
		{
			name:        "OOM of a running essential container",
			containers:  []Container{{Name: "app", Essential: true}},
			steps:       []step{{"app", ContainerRunning, nil, ""}, {"app", ContainerStopped, code(137), "OutOfMemoryError: Container killed due to memory usage"}},
			wantDesired: ecs.TaskStopped, wantKnown: ecs.TaskStopped, wantReason: ReasonEssentialExited,
		},
		{
			name:        "all non-essential containers exited",
			containers:  []Container{{Name: "a"}, {Name: "b"}},
			steps:       []step{{"a", ContainerRunning, nil, ""}, {"b", ContainerRunning, nil, ""}, {"a", ContainerStopped, code(0), ""}, {"b", ContainerStopped, code(0), ""}},
			wantDesired: ecs.TaskStopped, wantKnown: ecs.TaskStopped,
		},
		{
			name:        "init container exits, app runs",
			containers:  []Container{{Name: "init"}, {Name: "app", Essential: true, DependsOn: []Dependency{{"init", ConditionSuccess}}}},
			steps:       []step{{"init", ContainerRunning, nil, ""}, {"init", ContainerStopped, code(0), ""}, {"app", ContainerRunning, nil, ""}},
			wantDesired: ecs.TaskRunning, wantKnown: ecs.TaskRunning,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task := New(ecs.TaskRunning, tt.containers)
			for i, s := range tt.steps {
				if !task.Apply(Event{Container: s.container, Status: s.status, At: t0.Add(time.Duration(i) * time.Second), ExitCode: s.exit, Reason: s.reason}) {
					t.Fatalf("step %d (%+v) not applied", i, s)
				}
			}
			if task.Desired != tt.wantDesired || task.Known != tt.wantKnown || task.StopReason != tt.wantReason {
				t.Errorf("task desired=%v known=%v reason=%q, want %v %v %q",
					task.Desired, task.Known, task.StopReason, tt.wantDesired, tt.wantKnown, tt.wantReason)
			}
			if task.Desired == ecs.TaskStopped {
				for _, c := range task.Containers {
					if c.Desired != ContainerStopped {
						t.Errorf("container %s desired %v after the task desired STOPPED", c.Name, c.Desired)
					}
				}
			}
		})
	}
}

func TestSetDesired(t *testing.T) {
	task := New(ecs.TaskRunning, []Container{{Name: "c", Essential: true}})
	if task.SetDesired(ecs.TaskRunning, "") {
		t.Error("RUNNING → RUNNING reported a change")
	}
	if !task.SetDesired(ecs.TaskStopped, "Task stopped by user") {
		t.Error("RUNNING → STOPPED not applied")
	}
	if task.SetDesired(ecs.TaskRunning, "") || task.Desired != ecs.TaskStopped {
		t.Error("STOPPED → RUNNING applied")
	}
	if task.SetDesired(ecs.TaskStopped, "again") || task.StopReason != "Task stopped by user" {
		t.Errorf("second stop changed the reason to %q", task.StopReason)
	}
	if task.Containers[0].Desired != ContainerStopped {
		t.Error("container desired not STOPPED")
	}

	born := New(ecs.TaskStopped, []Container{{Name: "c"}})
	if born.Desired != ecs.TaskStopped || born.Containers[0].Desired != ContainerStopped || born.Known != ecs.TaskPending {
		t.Errorf("task created STOPPED: %+v", born)
	}
}

func TestValidate(t *testing.T) {
	hc := &HealthCheck{Command: []string{"true"}}
	tests := []struct {
		name    string
		in      []Container
		wantErr string
	}{
		{"ok", []Container{{Name: "a"}, {Name: "b", DependsOn: []Dependency{{"a", ConditionStart}}}}, ""},
		{"ok healthy", []Container{{Name: "a", HealthCheck: hc}, {Name: "b", DependsOn: []Dependency{{"a", ConditionHealthy}}}}, ""},
		{"empty", nil, "no containers"},
		{"unnamed", []Container{{}}, "without a name"},
		{"duplicate", []Container{{Name: "a"}, {Name: "a"}}, "used twice"},
		{"unknown dependency", []Container{{Name: "a", DependsOn: []Dependency{{"zz", ConditionStart}}}}, "not in the task"},
		{"self", []Container{{Name: "a", DependsOn: []Dependency{{"a", ConditionStart}}}}, "itself"},
		{"bad condition", []Container{{Name: "a"}, {Name: "b", DependsOn: []Dependency{{"a", "READY"}}}}, "unknown dependsOn condition"},
		{"healthy without check", []Container{{Name: "a"}, {Name: "b", DependsOn: []Dependency{{"a", ConditionHealthy}}}}, "no health check"},
		{"cycle", []Container{
			{Name: "a", DependsOn: []Dependency{{"c", ConditionStart}}},
			{Name: "b", DependsOn: []Dependency{{"a", ConditionStart}}},
			{Name: "c", DependsOn: []Dependency{{"b", ConditionStart}}},
		}, "cycle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.in)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
