package api

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/ecs/arn"
	"github.com/berth/berth/internal/service"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
	"github.com/berth/berth/internal/store/embedded"
)

// scEnv is a Handler served over HTTP (no authentication) with one
// cluster, a clock the test moves, and a service controller whose passes
// the test drives. The agents are simulated by writing task states into
// the store.
type scEnv struct {
	h   *Handler
	ctl *serviceController
	c   *sdkecs.Client
	ctx context.Context

	mu  sync.Mutex
	now time.Time
}

const scCluster = "svcctl"

func scStart(t *testing.T) *scEnv {
	t.Helper()
	st, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"), embedded.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	e := &scEnv{ctx: ctx, now: time.Now().UTC()}
	e.h = New(Config{Store: st, Namer: arn.Namer{Region: "us-east-1", Account: "000000000000"}, Now: e.clock,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	e.ctl = e.h.newServiceController(0)
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close)
	e.c = sdkecs.New(sdkecs.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")})
	if _, err := e.c.CreateCluster(ctx, &sdkecs.CreateClusterInput{ClusterName: aws.String(scCluster)}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *scEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *scEnv) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

// instance writes an ACTIVE instance with a connected agent.
func (e *scEnv) instance(t *testing.T, id string, cpu, mem int64) {
	t.Helper()
	ci := ecs.ContainerInstance{ID: id, ARN: e.h.namer.ContainerInstance(scCluster, id), Cluster: scCluster, EC2InstanceID: "i-" + id,
		Status: ecs.InstanceActive, RegisteredAt: e.clock(), AgentConnected: true, AgentSeenAt: e.clock(), Version: 1,
		Attributes: []ecs.Attribute{{Name: "ecs.availability-zone", Value: "us-east-1a"}, {Name: "ecs.os-type", Value: "linux"}},
		RegisteredResources: []ecs.Resource{{Name: "CPU", Type: "INTEGER", IntegerValue: cpu}, {Name: "MEMORY", Type: "INTEGER", IntegerValue: mem},
			{Name: "PORTS", Type: "STRINGSET"}, {Name: "PORTS_UDP", Type: "STRINGSET"}}}
	put, err := state.PutOp(state.InstanceKey(scCluster, id), ci, store.ExpectAny)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.h.store.Txn(e.ctx, put); err != nil {
		t.Fatal(err)
	}
}

// def registers a revision of family "web" whose one container reserves
// cpu units and mem MiB.
func (e *scEnv) def(t *testing.T, cpu, mem int32) string {
	t.Helper()
	out, err := e.c.RegisterTaskDefinition(e.ctx, &sdkecs.RegisterTaskDefinitionInput{Family: aws.String("web"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("c"), Image: aws.String("busybox:1.36"), Cpu: cpu, Memory: aws.Int32(mem)}},
		Tags:                 []types.Tag{{Key: aws.String("from"), Value: aws.String("taskdef")}}})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.TaskDefinition.TaskDefinitionArn)
}

func (e *scEnv) pass(t *testing.T) {
	t.Helper()
	if err := e.ctl.pass(e.ctx); err != nil {
		t.Fatalf("controller pass: %v", err)
	}
}

func (e *scEnv) tasks(t *testing.T) []ecs.Task {
	t.Helper()
	recs, err := state.List[ecs.Task](e.ctx, e.h.store, state.TasksPrefix(scCluster), store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]ecs.Task, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.Value)
	}
	return out
}

// agents does what the agents would: tasks desired STOPPED stop, pending
// ones start (and are RUNNING at once).
func (e *scEnv) agents(t *testing.T) {
	t.Helper()
	for _, task := range e.tasks(t) {
		e.setTask(t, task.ID, func(task *ecs.Task) {
			switch {
			case task.Stopped():
			case task.DesiredStatus == ecs.TaskStopped:
				task.LastStatus, task.StoppedAt, task.ExecutionStoppedAt = ecs.TaskStopped, e.clock(), e.clock()
			case task.LastStatus < ecs.TaskRunning:
				task.LastStatus, task.StartedAt = ecs.TaskRunning, e.clock()
			}
		})
	}
}

func (e *scEnv) setTask(t *testing.T, id string, fn func(*ecs.Task)) {
	t.Helper()
	_, err := state.Update(e.ctx, e.h.store, state.TaskKey(scCluster, id), func(task *ecs.Task, exists bool) ([]store.Op, error) {
		fn(task)
		task.Version++
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (e *scEnv) describe(t *testing.T, name string) types.Service {
	t.Helper()
	out, err := e.c.DescribeServices(e.ctx, &sdkecs.DescribeServicesInput{Cluster: aws.String(scCluster), Services: []string{name}})
	if err != nil || len(out.Services) != 1 {
		t.Fatalf("DescribeServices: %v, %+v", err, out)
	}
	return out.Services[0]
}

func eventTexts(s types.Service) []string {
	var out []string
	for _, ev := range s.Events {
		out = append(out, aws.ToString(ev.Message))
	}
	return out
}

func hasEvent(s types.Service, fragment string) bool {
	return slices.ContainsFunc(s.Events, func(ev types.ServiceEvent) bool { return strings.Contains(aws.ToString(ev.Message), fragment) })
}

// census counts a service's tasks: RUNNING and meant to stay (the
// floor's measure) and not yet STOPPED (the ceiling's).
func census(tasks []ecs.Task, name string) (running, live int) {
	for _, task := range tasks {
		if task.ServiceName != name {
			continue
		}
		if !task.Stopped() {
			live++
		}
		if task.LastStatus == ecs.TaskRunning && task.DesiredStatus == ecs.TaskRunning {
			running++
		}
	}
	return running, live
}

func TestServiceControllerReplicaLifecycle(t *testing.T) {
	e := scStart(t)
	e.instance(t, "a", 4096, 4096)
	e.instance(t, "b", 4096, 4096)
	def1 := e.def(t, 256, 256)
	def2 := e.def(t, 256, 256)
	if _, err := e.c.CreateService(e.ctx, &sdkecs.CreateServiceInput{Cluster: aws.String(scCluster), ServiceName: aws.String("web"),
		TaskDefinition: aws.String("web:1"), DesiredCount: aws.Int32(3), PropagateTags: types.PropagateTagsService,
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("core")}}}); err != nil {
		t.Fatal(err)
	}

	// Three tasks placed, across both instances.
	e.pass(t)
	s := e.describe(t, "web")
	dep := aws.ToString(s.Deployments[0].Id)
	onInst := map[string]int{}
	for _, task := range e.tasks(t) {
		onInst[task.ContainerInstanceID]++
		if task.StartedBy != dep || task.ServiceName != "web" || task.Group != "service:web" || task.Definition.ARN != def1 ||
			!slices.Contains(task.Tags, ecs.Tag{Key: "team", Value: "core"}) {
			t.Errorf("service task = startedBy %q service %q group %q def %s tags %v", task.StartedBy, task.ServiceName, task.Group, task.Definition.ARN, task.Tags)
		}
	}
	if len(onInst) != 2 || onInst["a"]+onInst["b"] != 3 || s.PendingCount != 3 || !hasEvent(s, "(service web) has started 3 tasks:") {
		t.Fatalf("after the first pass: tasks per instance %v, pending %d, events %v", onInst, s.PendingCount, eventTexts(s))
	}
	// Nothing more while they start.
	e.pass(t)
	if n := len(e.tasks(t)); n != 3 {
		t.Fatalf("%d tasks after a second pass, want 3", n)
	}

	// RUNNING: steady state, the deployment COMPLETED, services-stable done.
	e.agents(t)
	e.pass(t)
	s = e.describe(t, "web")
	if s.RunningCount != 3 || len(s.Deployments) != 1 || s.Deployments[0].RolloutState != types.DeploymentRolloutStateCompleted ||
		!hasEvent(s, "(service web) has reached a steady state.") || !hasEvent(s, "(deployment "+dep+") deployment completed.") {
		t.Fatalf("after RUNNING: running %d, deployments %+v, events %v", s.RunningCount, s.Deployments, eventTexts(s))
	}
	in := &sdkecs.DescribeServicesInput{Cluster: aws.String(scCluster), Services: []string{"web"}}
	if err := sdkecs.NewServicesStableWaiter(e.c).Wait(e.ctx, in, 5*time.Second); err != nil {
		t.Fatalf("services-stable: %v", err)
	}
	// A steady service is not written again: the steady-state event is
	// the newest, so the next pass posts nothing.
	before := e.describe(t, "web")
	e.pass(t)
	if after := e.describe(t, "web"); len(after.Events) != len(before.Events) {
		t.Errorf("a steady pass posted events: %d → %d", len(before.Events), len(after.Events))
	}

	// A task that stops is replaced.
	victim := e.tasks(t)[0].ID
	e.setTask(t, victim, func(task *ecs.Task) {
		task.LastStatus, task.DesiredStatus, task.StoppedAt = ecs.TaskStopped, ecs.TaskStopped, e.clock()
		task.StopCode, task.StoppedReason = ecs.StopCodeEssentialContainerExited, "Essential container in task exited"
	})
	e.pass(t)
	if running, live := census(e.tasks(t), "web"); running != 2 || live != 3 {
		t.Fatalf("after a task stopped: running %d live %d, want 2 and 3 (one replacement)", running, live)
	}
	e.agents(t)
	e.pass(t)

	// A new revision rolls out within 100%..200%.
	if _, err := e.c.UpdateService(e.ctx, &sdkecs.UpdateServiceInput{Cluster: aws.String(scCluster), Service: aws.String("web"),
		TaskDefinition: aws.String("web:2")}); err != nil {
		t.Fatal(err)
	}
	passes := 0
	for ; passes < 20; passes++ {
		e.pass(t)
		running, live := census(e.tasks(t), "web")
		if running < 3 || live > 6 {
			t.Fatalf("pass %d: %d RUNNING, %d live; floor 3, ceiling 6", passes, running, live)
		}
		e.agents(t)
		if running, live = census(e.tasks(t), "web"); running < 3 || live > 6 {
			t.Fatalf("pass %d after the agents: %d RUNNING, %d live; floor 3, ceiling 6", passes, running, live)
		}
		if s = e.describe(t, "web"); len(s.Deployments) == 1 && s.RunningCount == 3 && s.Deployments[0].RolloutState == types.DeploymentRolloutStateCompleted {
			break
		}
	}
	t.Logf("rollout finished after %d passes", passes+1)
	if aws.ToString(s.Deployments[0].TaskDefinition) != def2 || aws.ToString(s.TaskDefinition) != def2 {
		t.Fatalf("rollout did not finish in %d passes: %+v", passes, s.Deployments)
	}
	for _, task := range e.tasks(t) {
		if !task.Stopped() && task.Definition.ARN != def2 {
			t.Errorf("task %s of %s still live", task.ID, task.Definition.ARN)
		}
		if task.Definition.ARN == def1 && task.StopCode != ecs.StopCodeServiceSchedulerInitiated && task.ID != victim {
			t.Errorf("old task %s stopCode %q", task.ID, task.StopCode)
		}
	}
	if err := sdkecs.NewServicesStableWaiter(e.c).Wait(e.ctx, in, 5*time.Second); err != nil {
		t.Fatalf("services-stable after the rollout: %v", err)
	}
	if !hasEvent(s, "deployment completed.") {
		t.Errorf("no deployment completed event: %v", eventTexts(s))
	}
	// The old deployment went to the history.
	hist, err := state.List[ecs.Deployment](e.ctx, e.h.store, serviceDeploymentsPrefix, store.ListOptions{})
	if err != nil || len(hist) != 1 || hist[0].Value.ID != dep || hist[0].Value.Status != ecs.DeploymentInactive {
		t.Errorf("retired deployments = %+v, %v", hist, err)
	}

	// Scale to 0, delete: INACTIVE, services-inactive done.
	if _, err := e.c.UpdateService(e.ctx, &sdkecs.UpdateServiceInput{Cluster: aws.String(scCluster), Service: aws.String("web"), DesiredCount: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	e.pass(t)
	e.agents(t)
	if _, err := e.c.DeleteService(e.ctx, &sdkecs.DeleteServiceInput{Cluster: aws.String(scCluster), Service: aws.String("web")}); err != nil {
		t.Fatal(err)
	}
	e.pass(t)
	if s = e.describe(t, "web"); aws.ToString(s.Status) != "INACTIVE" || s.RunningCount != 0 {
		t.Fatalf("after delete: status %s running %d", aws.ToString(s.Status), s.RunningCount)
	}
	if err := sdkecs.NewServicesInactiveWaiter(e.c).Wait(e.ctx, in, 5*time.Second); err != nil {
		t.Fatalf("services-inactive: %v", err)
	}
	// An INACTIVE service is left alone.
	e.pass(t)
	if n := len(e.describe(t, "web").Events); n != len(s.Events) {
		t.Errorf("an INACTIVE service got events")
	}
}

func TestServiceControllerDaemon(t *testing.T) {
	e := scStart(t)
	e.instance(t, "a", 1024, 1024)
	e.instance(t, "b", 1024, 1024)
	e.def(t, 128, 128)
	if _, err := e.c.CreateService(e.ctx, &sdkecs.CreateServiceInput{Cluster: aws.String(scCluster), ServiceName: aws.String("logs"),
		TaskDefinition: aws.String("web:1"), SchedulingStrategy: types.SchedulingStrategyDaemon}); err != nil {
		t.Fatal(err)
	}
	e.pass(t)
	onInst := map[string]int{}
	for _, task := range e.tasks(t) {
		onInst[task.ContainerInstanceID]++
	}
	if len(onInst) != 2 || onInst["a"] != 1 || onInst["b"] != 1 {
		t.Fatalf("DAEMON tasks per instance = %v, want one on each", onInst)
	}
	e.agents(t)
	e.pass(t)
	s := e.describe(t, "logs")
	if s.DesiredCount != 2 || s.RunningCount != 2 || !hasEvent(s, "has reached a steady state.") {
		t.Fatalf("DAEMON service: desired %d running %d events %v", s.DesiredCount, s.RunningCount, eventTexts(s))
	}
	// A third instance joins: it gets its task.
	e.instance(t, "c", 1024, 1024)
	e.pass(t)
	onInst = map[string]int{}
	for _, task := range e.tasks(t) {
		onInst[task.ContainerInstanceID]++
	}
	if onInst["c"] != 1 || len(e.tasks(t)) != 3 {
		t.Fatalf("after an instance joined: %v", onInst)
	}
}

// Tasks that find no room are reported once, and what is placed never
// overbooks the instance.
func TestServiceControllerUnableToPlace(t *testing.T) {
	e := scStart(t)
	e.instance(t, "a", 1024, 4096)
	e.def(t, 512, 128)
	if _, err := e.c.CreateService(e.ctx, &sdkecs.CreateServiceInput{Cluster: aws.String(scCluster), ServiceName: aws.String("web"),
		TaskDefinition: aws.String("web:1"), DesiredCount: aws.Int32(3)}); err != nil {
		t.Fatal(err)
	}
	e.pass(t)
	e.pass(t)
	if n := len(e.tasks(t)); n != 2 {
		t.Fatalf("%d tasks on an instance with room for 2", n)
	}
	s := e.describe(t, "web")
	msg := service.UnableToPlaceMessage("web", "a", "RESOURCE:CPU")
	n := 0
	for _, ev := range s.Events {
		if aws.ToString(ev.Message) == msg {
			n++
		}
	}
	if n != 1 {
		t.Errorf("unable-to-place event %q posted %d times; events %v", msg, n, eventTexts(s))
	}
}

// A lost instance's tasks are marked STOPPED at once and replaced.
func TestServiceControllerLostInstance(t *testing.T) {
	e := scStart(t)
	e.instance(t, "a", 4096, 4096)
	e.def(t, 128, 128)
	if _, err := e.c.CreateService(e.ctx, &sdkecs.CreateServiceInput{Cluster: aws.String(scCluster), ServiceName: aws.String("web"),
		TaskDefinition: aws.String("web:1"), DesiredCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	e.pass(t)
	e.agents(t)
	e.pass(t)
	e.advance(10 * time.Minute) // instance a's agent is not heard from
	e.instance(t, "b", 4096, 4096)
	e.pass(t)
	var stopped, onB int
	for _, task := range e.tasks(t) {
		switch {
		case task.ContainerInstanceID == "a" && task.Stopped() && task.StopCode == ecs.StopCodeServiceSchedulerInitiated:
			stopped++
		case task.ContainerInstanceID == "b" && !task.Stopped():
			onB++
		}
	}
	if stopped != 2 || onB != 2 {
		t.Fatalf("lost instance: %d tasks stopped on a, %d started on b; want 2 and 2", stopped, onB)
	}
	if s := e.describe(t, "web"); !hasEvent(s, "(container-instance a) was lost") {
		t.Errorf("no lost-instance event: %v", eventTexts(s))
	}
}
