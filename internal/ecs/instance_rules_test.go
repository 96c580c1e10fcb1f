package ecs

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestNormalizeResources(t *testing.T) {
	cpu := Resource{Name: "CPU", Type: "INTEGER", IntegerValue: 2048}
	mem := Resource{Name: "MEMORY", Type: "INTEGER", IntegerValue: 3900}
	tests := []struct {
		name string
		in   []Resource
		want []Resource
		frag string // error fragment; "" = no error
	}{
		{"agent's four", []Resource{cpu, mem, {Name: "PORTS", Type: "STRINGSET", StringSetValue: []string{"22", "2375", "22"}},
			{Name: "PORTS_UDP", Type: "STRINGSET", StringSetValue: []string{}}},
			[]Resource{cpu, mem, {Name: "PORTS", Type: "STRINGSET", StringSetValue: []string{"22", "2375"}},
				{Name: "PORTS_UDP", Type: "STRINGSET", StringSetValue: []string{}}}, ""},
		{"other resources pass", []Resource{{Name: "GPU", Type: "STRINGSET", StringSetValue: []string{"gpu0"}}},
			[]Resource{{Name: "GPU", Type: "STRINGSET", StringSetValue: []string{"gpu0"}}}, ""},
		{"no name", []Resource{{Type: "INTEGER"}}, nil, "needs a name"},
		{"twice", []Resource{cpu, cpu}, nil, "CPU is given twice"},
		{"unknown type", []Resource{{Name: "X", Type: "FLOAT"}}, nil, `type "FLOAT"`},
		{"cpu not integer", []Resource{{Name: "CPU", Type: "LONG", LongValue: 1}}, nil, "CPU must have type INTEGER"},
		{"negative memory", []Resource{{Name: "MEMORY", Type: "INTEGER", IntegerValue: -1}}, nil, "MEMORY has integerValue -1"},
		{"ports not a set", []Resource{{Name: "PORTS", Type: "INTEGER"}}, nil, "PORTS must have type STRINGSET"},
		{"port zero", []Resource{{Name: "PORTS", Type: "STRINGSET", StringSetValue: []string{"0"}}}, nil, `"0"`},
		{"port too high", []Resource{{Name: "PORTS_UDP", Type: "STRINGSET", StringSetValue: []string{"65536"}}}, nil, `PORTS_UDP lists "65536"`},
		{"port not canonical", []Resource{{Name: "PORTS", Type: "STRINGSET", StringSetValue: []string{"080"}}}, nil, `"080"`},
		{"port not a number", []Resource{{Name: "PORTS", Type: "STRINGSET", StringSetValue: []string{"ssh"}}}, nil, `"ssh"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeResources(tt.in)
			if tt.frag != "" {
				if !errors.Is(err, ErrInvalidParameter) || !strings.Contains(err.Error(), tt.frag) || !strings.Contains(err.Error(), "totalResources") {
					t.Fatalf("error %v, want InvalidParameter naming totalResources and %q", err, tt.frag)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestParseInstanceIdentityDocument(t *testing.T) {
	tests := []struct {
		doc, want, frag string
	}{
		{"", "", ""},
		{`{"instanceId":"i-0123456789abcdef","availabilityZone":"a","region":"r"}`, "i-0123456789abcdef", ""},
		{`{"region":"r"}`, "", ""},
		{`{"instanceId":`, "", "not a valid JSON"},
		{`{"instanceId":5}`, "", "not a valid JSON"},
		{`{"instanceId":"a b"}`, "", "spaces"},
		{`{"instanceId":"` + strings.Repeat("x", 256) + `"}`, "", "255"},
	}
	for _, tt := range tests {
		got, err := ParseInstanceIdentityDocument(tt.doc)
		if tt.frag != "" {
			if !errors.Is(err, ErrInvalidParameter) || !strings.Contains(err.Error(), tt.frag) || !strings.Contains(err.Error(), "instanceIdentityDocument") {
				t.Errorf("%q: error %v, want one naming instanceIdentityDocument and %q", tt.doc, err, tt.frag)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: got %q, %v; want %q", tt.doc, got, err, tt.want)
		}
	}
}

func TestRegistrationAttributes(t *testing.T) {
	got, err := RegistrationAttributes([]Attribute{{Name: "ecs.os-type", Value: "linux"}, {Name: "ecs.capability.external"},
		{Name: "ecs.os-type", Value: "linux"}, {Name: "berth.awsvpc-cidr", Value: "10.213.128.0/17", TargetType: "container-instance"}})
	want := []Attribute{{Name: "ecs.os-type", Value: "linux"}, {Name: "ecs.capability.external"}, {Name: "berth.awsvpc-cidr", Value: "10.213.128.0/17"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, %v", got, err)
	}
	if _, err := RegistrationAttributes([]Attribute{{Name: "a", Value: "1"}, {Name: "a", Value: "2"}}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("conflicting duplicate: %v", err)
	}
	if _, err := RegistrationAttributes([]Attribute{{Name: "bad name"}}); !errors.Is(err, ErrInvalidParameter) {
		t.Errorf("bad name: %v", err)
	}
}

func TestMergeRegistrationAttributes(t *testing.T) {
	current := []Attribute{{Name: "stack", Value: "prod"}, {Name: "ecs.capability.old"}, {Name: "zone", Value: "a"}}
	sent := []Attribute{{Name: "ecs.os-type", Value: "linux"}, {Name: "zone", Value: "b"}}
	got, err := MergeRegistrationAttributes(current, sent)
	want := []Attribute{{Name: "stack", Value: "prod"}, {Name: "ecs.os-type", Value: "linux"}, {Name: "zone", Value: "b"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, %v; want %+v", got, err, want)
	}
	var many []Attribute
	for i := range 10 {
		many = append(many, Attribute{Name: "c" + string(rune('a'+i))})
	}
	if _, err := MergeRegistrationAttributes(many, []Attribute{{Name: "one-more"}}); !errors.Is(err, ErrAttributeLimitExceeded) {
		t.Errorf("11 custom attributes: %v", err)
	}
	if _, err := MergeRegistrationAttributes(many, []Attribute{{Name: "berth.awsvpc-cidr", Value: "10.0.0.0/24"}}); err != nil {
		t.Errorf("berth.* counts as built-in: %v", err)
	}
}

// loadTask is a task of family web on instance "i1" of cluster "c".
func loadTask(status TaskStatus, cpu int, mem *int, res *int, ports ...PortAssignment) Task {
	return Task{ID: "t", Cluster: "c", ContainerInstanceID: "i1", LastStatus: status, Ports: ports,
		Definition: TaskDefinition{Family: "web", ContainerDefinitions: []ContainerDefinition{{Name: "app", CPU: cpu, Memory: mem, MemoryReservation: res}}}}
}

func TestComputeInstanceLoad(t *testing.T) {
	inst := &ContainerInstance{ID: "i1", Cluster: "c", RegisteredResources: []Resource{
		{Name: "CPU", Type: "INTEGER", IntegerValue: 2048}, {Name: "MEMORY", Type: "INTEGER", IntegerValue: 4000},
		{Name: "PORTS", Type: "STRINGSET", StringSetValue: []string{"22", "51678"}},
		{Name: "PORTS_UDP", Type: "STRINGSET", StringSetValue: []string{}}}}
	web := PortAssignment{Container: "app", ContainerPort: 80, HostPort: 49153, Protocol: "tcp"}
	dns := PortAssignment{Container: "app", ContainerPort: 53, HostPort: 53, Protocol: "udp"}
	other := loadTask(TaskRunning, 999, ptr(999), nil)
	other.ContainerInstanceID = "i2"
	otherCluster := loadTask(TaskRunning, 999, ptr(999), nil)
	otherCluster.Cluster = "d"
	taskLevel := loadTask(TaskPending, 0, nil, nil)
	taskLevel.Definition.CPU, taskLevel.Definition.Memory = "512", "1024"
	tests := []struct {
		name     string
		tasks    []Task
		cpu, mem int64
		tcp, udp []int
		run, pen int
	}{
		{"idle", nil, 2048, 4000, []int{22, 51678}, []int{}, 0, 0},
		{"running and pending", []Task{loadTask(TaskRunning, 256, ptr(512), nil, web), loadTask(TaskPending, 128, ptr(256), ptr(128), dns)},
			2048 - 384, 4000 - 640, []int{22, 49153, 51678}, []int{53}, 1, 1},
		{"provisioning counts as pending", []Task{loadTask(TaskProvisioning, 10, ptr(10), nil)}, 2038, 3990, []int{22, 51678}, []int{}, 0, 1},
		{"stopping still holds, neither running nor pending", []Task{loadTask(TaskStopping, 100, ptr(100), nil, web)},
			1948, 3900, []int{22, 49153, 51678}, []int{}, 0, 0},
		{"stopped tasks hold nothing", []Task{loadTask(TaskStopped, 100, ptr(100), nil, web)}, 2048, 4000, []int{22, 51678}, []int{}, 0, 0},
		{"other instances and clusters ignored", []Task{other, otherCluster}, 2048, 4000, []int{22, 51678}, []int{}, 0, 0},
		{"task-level sizes win", []Task{taskLevel}, 1536, 2976, []int{22, 51678}, []int{}, 0, 1},
		{"overcommitted goes negative", []Task{loadTask(TaskRunning, 4096, ptr(100), nil)}, -2048, 3900, []int{22, 51678}, []int{}, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := ComputeInstanceLoad(inst, taskPointers(tt.tasks))
			if l.RemainingCPU != tt.cpu || l.RemainingMemory != tt.mem || !reflect.DeepEqual(l.BusyTCP, tt.tcp) ||
				!reflect.DeepEqual(l.BusyUDP, tt.udp) || l.RunningTasks != tt.run || l.PendingTasks != tt.pen {
				t.Fatalf("got %+v", l)
			}
			for _, p := range tt.tcp {
				if !l.PortBusy("tcp", p) {
					t.Errorf("tcp %d not busy", p)
				}
			}
			if l.PortBusy("tcp", 80) || l.PortBusy("udp", 22) {
				t.Errorf("free port reported busy")
			}
		})
	}
}

func TestRemainingResources(t *testing.T) {
	inst := &ContainerInstance{ID: "i1", Cluster: "c", RegisteredResources: []Resource{
		{Name: "CPU", Type: "INTEGER", IntegerValue: 1024}, {Name: "MEMORY", Type: "INTEGER", IntegerValue: 2000},
		{Name: "PORTS", Type: "STRINGSET", StringSetValue: []string{"22"}}, {Name: "GPU", Type: "STRINGSET", StringSetValue: []string{"g0"}}}}
	task := loadTask(TaskRunning, 24, ptr(100), nil,
		PortAssignment{HostPort: 8080, Protocol: "tcp"}, PortAssignment{HostPort: 5353, Protocol: "udp"})
	l := ComputeInstanceLoad(inst, []*Task{&task})
	got := l.RemainingResources(inst)
	want := []Resource{
		{Name: "CPU", Type: "INTEGER", IntegerValue: 1000}, {Name: "MEMORY", Type: "INTEGER", IntegerValue: 1900},
		{Name: "PORTS", Type: "STRINGSET", StringSetValue: []string{"22", "8080"}}, {Name: "GPU", Type: "STRINGSET", StringSetValue: []string{"g0"}},
		{Name: "PORTS_UDP", Type: "STRINGSET", StringSetValue: []string{"5353"}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	got[3].StringSetValue[0] = "changed"
	if inst.RegisteredResources[3].StringSetValue[0] != "g0" {
		t.Errorf("RemainingResources shares slices with the instance")
	}
}

func TestOrphanTask(t *testing.T) {
	now := time.Unix(1700000000, 0)
	running := loadTask(TaskRunning, 1, ptr(1), nil)
	running.DesiredStatus = TaskRunning
	running.Containers = []TaskContainer{{Name: "app", LastStatus: ContainerRunning}}
	if !OrphanTask(&running, now) {
		t.Fatal("running task not orphaned")
	}
	if running.LastStatus != TaskStopped || running.DesiredStatus != TaskStopped || running.Seq != 1 || running.Version != 1 ||
		running.StoppedReason != StoppedReasonInstanceDeregistered || !running.StoppedAt.Equal(now) || running.Containers[0].LastStatus != ContainerStopped {
		t.Errorf("orphaned: %+v", running)
	}
	if OrphanTask(&running, now.Add(time.Second)) {
		t.Errorf("orphaning twice changed the task")
	}
	stopping := loadTask(TaskRunning, 1, ptr(1), nil)
	stopping.DesiredStatus, stopping.StoppedReason, stopping.Seq = TaskStopped, "Task stopped by user", 4
	OrphanTask(&stopping, now)
	if stopping.Seq != 4 || stopping.StoppedReason != "Task stopped by user" || stopping.LastStatus != TaskStopped {
		t.Errorf("stopping task: %+v", stopping)
	}
}

// taskPointers points at each of tasks.
func taskPointers(tasks []Task) []*Task {
	out := make([]*Task, len(tasks))
	for i := range tasks {
		out[i] = &tasks[i]
	}
	return out
}
