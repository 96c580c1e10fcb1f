package ecs

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func overrideBase() TaskDefinition {
	return TaskDefinition{
		Family: "web",
		ContainerDefinitions: []ContainerDefinition{
			{Name: "app", Image: "nginx", CPU: 128, Memory: ptr(256), Command: []string{"serve"},
				Environment: []KeyValuePair{{Name: "A", Value: "1"}, {Name: "B", Value: "2"}}},
			{Name: "side", Image: "busybox", MemoryReservation: ptr(64), Essential: ptr(false)},
		},
	}
}

func TestApplyTaskOverride(t *testing.T) {
	base := overrideBase()
	got, err := ApplyTaskOverride(base, TaskOverride{
		ContainerOverrides: []ContainerOverride{{
			Name:        "app",
			Command:     []string{"sh", "-c", "echo hi"},
			Environment: []KeyValuePair{{Name: "B", Value: "two"}, {Name: "C", Value: "3"}},
			CPU:         ptr(256),
			Memory:      ptr(512),
		}, {
			Name:              "side",
			MemoryReservation: ptr(32),
		}},
		Memory:      "2048",
		TaskRoleArn: "arn:aws:iam::1:role/r",
	})
	if err != nil {
		t.Fatal(err)
	}
	app := got.Container("app")
	if !reflect.DeepEqual(app.Command, []string{"sh", "-c", "echo hi"}) || app.CPU != 256 || *app.Memory != 512 {
		t.Errorf("app after override: %+v", app)
	}
	wantEnv := []KeyValuePair{{Name: "A", Value: "1"}, {Name: "B", Value: "two"}, {Name: "C", Value: "3"}}
	if !reflect.DeepEqual(app.Environment, wantEnv) {
		t.Errorf("environment = %v, want %v", app.Environment, wantEnv)
	}
	if *got.Container("side").MemoryReservation != 32 || got.Memory != "2048" || got.TaskRoleArn != "arn:aws:iam::1:role/r" {
		t.Errorf("side/task after override: %+v %q", got.Container("side"), got.Memory)
	}
	// The input is untouched.
	if a := base.Container("app"); a.CPU != 128 || *a.Memory != 256 || len(a.Environment) != 2 || a.Command[0] != "serve" {
		t.Errorf("override changed the base definition: %+v", a)
	}
	// No override: same definition.
	same, err := ApplyTaskOverride(base, TaskOverride{})
	if err != nil || !reflect.DeepEqual(same, base) {
		t.Errorf("empty override: %v %+v", err, same)
	}
}

func TestApplyTaskOverrideRejects(t *testing.T) {
	tests := []struct {
		name string
		o    TaskOverride
		want string
	}{
		{"unnamed", TaskOverride{ContainerOverrides: []ContainerOverride{{Command: []string{"x"}}}}, "containerOverrides[0].name"},
		{"unknown container", TaskOverride{ContainerOverrides: []ContainerOverride{{Name: "nope"}}}, "Override for container named nope is not a container in the TaskDefinition."},
		{"twice", TaskOverride{ContainerOverrides: []ContainerOverride{{Name: "app"}, {Name: "app"}}}, "more than once"},
		{"negative cpu", TaskOverride{ContainerOverrides: []ContainerOverride{{Name: "app", CPU: ptr(-1)}}}, "'cpu' override for container 'app'"},
		{"tiny memory", TaskOverride{ContainerOverrides: []ContainerOverride{{Name: "app", Memory: ptr(2)}}}, "'memory' override for container 'app'"},
		{"reservation over memory", TaskOverride{ContainerOverrides: []ContainerOverride{{Name: "app", MemoryReservation: ptr(1024)}}}, "'memoryReservation' value (1024)"},
		{"unnamed env", TaskOverride{ContainerOverrides: []ContainerOverride{{Name: "app", Environment: []KeyValuePair{{Value: "x"}}}}}, "environment variable needs a name"},
		{"bad task cpu", TaskOverride{CPU: "lots"}, "'cpu' override for task"},
		{"bad task memory", TaskOverride{Memory: "0"}, "'memory' override for task"},
		{"container over task memory", TaskOverride{Memory: "128"}, "must not be greater than the task memory"},
		{"container cpu over task cpu", TaskOverride{CPU: "128", ContainerOverrides: []ContainerOverride{{Name: "app", CPU: ptr(512)}}}, "must not be greater than the task cpu"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ApplyTaskOverride(overrideBase(), tt.o)
			if !errors.Is(err, ErrInvalidParameter) {
				t.Fatalf("err = %v, want InvalidParameter", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("message %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestTaskPortNeeds(t *testing.T) {
	pm := func(cp int, hp *int, proto TransportProtocol) PortMapping {
		return PortMapping{ContainerPort: ptr(cp), HostPort: hp, Protocol: proto}
	}
	tests := []struct {
		name string
		mode NetworkMode
		pms  []PortMapping
		want []PortAssignment
	}{
		{"bridge static and dynamic", "", []PortMapping{pm(80, ptr(8080), ""), pm(443, nil, "tcp"), pm(53, ptr(0), "udp")}, []PortAssignment{
			{Container: "c", ContainerPort: 80, HostPort: 8080, Protocol: "tcp"},
			{Container: "c", ContainerPort: 443, HostPort: 0, Protocol: "tcp"},
			{Container: "c", ContainerPort: 53, HostPort: 0, Protocol: "udp"},
		}},
		{"host uses container ports", NetworkModeHost, []PortMapping{pm(80, nil, ""), pm(9000, ptr(9000), "udp")}, []PortAssignment{
			{Container: "c", ContainerPort: 80, HostPort: 80, Protocol: "tcp"},
			{Container: "c", ContainerPort: 9000, HostPort: 9000, Protocol: "udp"},
		}},
		{"bridge range is dynamic port by port", NetworkModeBridge, []PortMapping{{ContainerPortRange: "7000-7001"}}, []PortAssignment{
			{Container: "c", ContainerPort: 7000, Protocol: "tcp"},
			{Container: "c", ContainerPort: 7001, Protocol: "tcp"},
		}},
		{"awsvpc needs none", NetworkModeAwsvpc, []PortMapping{pm(80, ptr(80), "")}, nil},
		{"none needs none", NetworkModeNone, []PortMapping{pm(80, nil, "")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			def := TaskDefinition{NetworkMode: tt.mode, ContainerDefinitions: []ContainerDefinition{{Name: "c", PortMappings: tt.pms}}}
			if got := TaskPortNeeds(&def); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("TaskPortNeeds = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestTaskPortsInUse(t *testing.T) {
	assigned := Task{Ports: []PortAssignment{{Container: "c", ContainerPort: 80, HostPort: 49153, Protocol: "tcp"}}}
	if got := TaskPortsInUse(&assigned); len(got) != 1 || got[0].HostPort != 49153 {
		t.Errorf("assigned ports: %+v", got)
	}
	// A record without assignments holds its static ports only.
	legacy := Task{Definition: TaskDefinition{ContainerDefinitions: []ContainerDefinition{{Name: "c",
		PortMappings: []PortMapping{{ContainerPort: ptr(80), HostPort: ptr(8080)}, {ContainerPort: ptr(81)}}}}}}
	if got := TaskPortsInUse(&legacy); len(got) != 1 || got[0].HostPort != 8080 {
		t.Errorf("static ports of an unassigned task: %+v", got)
	}
}

func TestLaunchFieldValidation(t *testing.T) {
	tests := []struct {
		name string
		err  error
		ok   bool
	}{
		{"startedBy ok", ValidateStartedBy("ecs-svc/123_abc-x"), true},
		{"startedBy empty", ValidateStartedBy(""), true},
		{"startedBy space", ValidateStartedBy("a b"), false},
		{"startedBy long", ValidateStartedBy(strings.Repeat("a", 129)), false},
		{"group ok", ValidateTaskGroup(strings.Repeat("g", 255)), true},
		{"group long", ValidateTaskGroup(strings.Repeat("g", 256)), false},
		{"reference long", ValidateReferenceID(strings.Repeat("r", 1025)), false},
		{"token ok", ValidateClientToken("abc-123"), true},
		{"token long", ValidateClientToken(strings.Repeat("t", 65)), false},
		{"token non-ascii", ValidateClientToken("é"), false},
		{"reason long", ValidateStopReason(strings.Repeat("x", 256)), false},
		{"reason ok", ValidateStopReason("done"), true},
	}
	for _, tt := range tests {
		if (tt.err == nil) != tt.ok {
			t.Errorf("%s: err = %v, want ok=%v", tt.name, tt.err, tt.ok)
		}
		if tt.err != nil && !errors.Is(tt.err, ErrInvalidParameter) {
			t.Errorf("%s: %v is not InvalidParameter", tt.name, tt.err)
		}
	}
}

func TestNetworkBindings(t *testing.T) {
	ports := []PortAssignment{
		{Container: "a", ContainerPort: 80, HostPort: 49153, Protocol: "tcp"},
		{Container: "b", ContainerPort: 53, HostPort: 53, Protocol: "udp"},
	}
	got := NetworkBindings(ports, "b")
	want := []NetworkBinding{{BindIP: "0.0.0.0", ContainerPort: 53, HostPort: 53, Protocol: "udp"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("NetworkBindings = %+v, want %+v", got, want)
	}
}
