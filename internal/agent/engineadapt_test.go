package agent

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth/berth/internal/agent/engine"
	"github.com/berth/berth/internal/agent/runtime"
	"github.com/berth/berth/internal/agent/taskstate"
	"github.com/berth/berth/internal/ecs"
)

type fakeLister []engine.TaskSnapshot

func (f fakeLister) Tasks() []engine.TaskSnapshot { return f }

type fakeStatsReader map[string]runtime.Stats

func (f fakeStatsReader) Stats(_ context.Context, id string) (runtime.Stats, error) {
	s, ok := f[id]
	if !ok {
		return runtime.Stats{}, errors.New("not running")
	}
	return s, nil
}

func TestEngineStats(t *testing.T) {
	tasks := fakeLister{{ARN: "t1", Family: "web", Version: "2", Containers: []engine.ContainerSnapshot{
		{Name: "app", RuntimeID: "t1-app", KnownStatus: taskstate.ContainerRunning},
		{Name: "gone", RuntimeID: "t1-gone", KnownStatus: taskstate.ContainerRunning}, // exited meanwhile: no stats
		{Name: "done", RuntimeID: "t1-done", KnownStatus: taskstate.ContainerStopped},
	}}}
	stats := fakeStatsReader{
		"t1-app":  {CPU: runtime.CPUStats{TotalUsage: 5e9}, Memory: runtime.MemoryStats{Usage: 100 << 20, Stats: map[string]uint64{"cache": 40 << 20}}},
		"t1-done": {CPU: runtime.CPUStats{TotalUsage: 1}},
	}
	got, err := (&engineStats{engine: tasks, stats: stats}).ContainerSamples(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := containerSample{TaskARN: "t1", Family: "web", Version: "2", Container: "app", CPUUsage: 5 * time.Second, MemoryBytes: 60 << 20}
	if len(got) != 1 || got[0] != want {
		t.Errorf("samples = %+v, want [%+v]", got, want)
	}
}

func TestTaskStateInput(t *testing.T) {
	r := &engineReporter{cluster: "c1"}
	code := 137
	stopped := time.Unix(1700000000, 500e6)
	in := r.taskStateInput(engine.TaskChange{
		TaskARN: "t1", Status: ecs.TaskStopped, Reason: "Essential container in task exited", ExecutionStoppedAt: stopped,
		Containers: []engine.ContainerChange{{ContainerName: "app", RuntimeID: "t1-app", Status: "STOPPED", ExitCode: &code,
			NetworkBindings: []ecs.NetworkBinding{{BindIP: "0.0.0.0", ContainerPort: 80, HostPort: 49153, Protocol: "tcp"}}}},
		Attachments: []engine.AttachmentChange{{AttachmentARN: "att-1", Status: "ATTACHED"}},
	})
	if aws.ToString(in.Cluster) != "c1" || aws.ToString(in.Status) != "STOPPED" || in.PullStartedAt != nil || !in.ExecutionStoppedAt.Equal(stopped) {
		t.Errorf("input = %+v", in)
	}
	c := in.Containers[0]
	if aws.ToInt32(c.ExitCode) != 137 || aws.ToString(c.RuntimeId) != "t1-app" || c.ImageDigest != nil ||
		aws.ToInt32(c.NetworkBindings[0].HostPort) != 49153 || string(c.NetworkBindings[0].Protocol) != "tcp" {
		t.Errorf("container = %+v", c)
	}
	if aws.ToString(in.Attachments[0].AttachmentArn) != "att-1" || aws.ToString(in.Attachments[0].Status) != "ATTACHED" {
		t.Errorf("attachments = %+v", in.Attachments)
	}
}

func TestEngineReporterSendsAttachmentsFirst(t *testing.T) {
	api := newFakeSubmitAPI(nil)
	health := newHealthBook()
	health.set("t1", "", "web", "1", []containerHealth{{Container: "app", Status: "HEALTHY", Since: time.Now()}})
	r := &engineReporter{cluster: "c1", rep: &stateReporter{api: api, timing: fastTiming(), log: testLogger(t)}, health: health}
	err := r.ReportTask(context.Background(), engine.TaskChange{TaskARN: "t1", Status: ecs.TaskStopped,
		Attachments: []engine.AttachmentChange{{AttachmentARN: "att-1", Status: "DETACHED"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, acked := api.state(); len(acked) != 2 || acked[0] != "attachments" || acked[1] != "task/t1/STOPPED" {
		t.Errorf("sent %v, want the attachments then the task", acked)
	}
	if got := health.take(); len(got) != 0 {
		t.Errorf("a stopped task's health is still published: %+v", got)
	}
}
