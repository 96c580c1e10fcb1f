package api_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/server"
	"github.com/berth/berth/internal/servertest"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

// tkEnv is a server with one cluster, for the task tests. Container
// instances are written straight into the store, as registration and the
// agent channel leave them: ACTIVE with a connected agent.
type tkEnv struct {
	srv     *servertest.Server
	c       *sdkecs.Client
	ctx     context.Context
	cluster string
}

func tkStart(t *testing.T, cluster string) *tkEnv {
	t.Helper()
	// No background service controller: tests that need it drive its
	// passes themselves.
	srv := servertest.Start(t, func(c *server.Config) { c.ServiceControllerInterval = -1 })
	e := &tkEnv{srv: srv, c: srv.ECS(t), ctx: testCtx(t), cluster: cluster}
	if _, err := e.c.CreateCluster(e.ctx, &sdkecs.CreateClusterInput{ClusterName: aws.String(cluster)}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *tkEnv) arnPrefix() string {
	return "arn:aws:ecs:" + e.srv.Config.Region + ":" + e.srv.Config.Account + ":"
}

// tkAttributes are the capabilities a Linux agent registers with.
func tkAttributes() []ecs.Attribute {
	var out []ecs.Attribute
	for v := 17; v <= 44; v++ {
		out = append(out, ecs.Attribute{Name: fmt.Sprintf("com.amazonaws.ecs.capability.docker-remote-api.1.%d", v)})
	}
	return append(out,
		ecs.Attribute{Name: "ecs.capability.task-eni"},
		ecs.Attribute{Name: "ecs.availability-zone", Value: "us-east-1a"},
		ecs.Attribute{Name: "ecs.os-type", Value: "linux"})
}

// instance writes an ACTIVE instance with cpu units and MiB of memory.
func (e *tkEnv) instance(t testing.TB, id string, cpu, mem int64, opts ...func(*ecs.ContainerInstance)) ecs.ContainerInstance {
	t.Helper()
	now := time.Now()
	ci := ecs.ContainerInstance{
		ID: id, ARN: e.arnPrefix() + "container-instance/" + e.cluster + "/" + id, Cluster: e.cluster,
		EC2InstanceID: "i-" + id, Status: ecs.InstanceActive, Attributes: tkAttributes(), RegisteredAt: now,
		RegisteredResources: []ecs.Resource{
			{Name: "CPU", Type: "INTEGER", IntegerValue: cpu},
			{Name: "MEMORY", Type: "INTEGER", IntegerValue: mem},
			{Name: "PORTS", Type: "STRINGSET", StringSetValue: []string{"22", "51678"}},
			{Name: "PORTS_UDP", Type: "STRINGSET"},
		},
		VersionInfo: ecs.VersionInfo{AgentVersion: "1.80.0"}, Owner: "agent",
		AgentConnected: true, AgentSeenAt: now, Version: 1,
	}
	for _, o := range opts {
		o(&ci)
	}
	put, err := state.PutOp(state.InstanceKey(e.cluster, id), ci, store.ExpectAny)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.Store().Txn(e.ctx, put); err != nil {
		t.Fatal(err)
	}
	return ci
}

func withAttribute(name, value string) func(*ecs.ContainerInstance) {
	return func(ci *ecs.ContainerInstance) {
		ci.Attributes = append(ci.Attributes, ecs.Attribute{Name: name, Value: value})
	}
}

// def registers a definition of family with the given containers.
func (e *tkEnv) def(t testing.TB, family string, mode types.NetworkMode, cs ...types.ContainerDefinition) string {
	t.Helper()
	out, err := e.c.RegisterTaskDefinition(e.ctx, &sdkecs.RegisterTaskDefinitionInput{
		Family: aws.String(family), NetworkMode: mode, ContainerDefinitions: cs,
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("core")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.TaskDefinition.TaskDefinitionArn)
}

func tkContainer(name string, cpu, mem int32, ports ...types.PortMapping) types.ContainerDefinition {
	return types.ContainerDefinition{Name: aws.String(name), Image: aws.String("busybox:1.36"), Cpu: cpu,
		Memory: aws.Int32(mem), PortMappings: ports, Command: []string{"sleep", "3600"},
		Environment: []types.KeyValuePair{{Name: aws.String("MODE"), Value: aws.String("default")}}}
}

func tkPort(container, host int32) types.PortMapping {
	pm := types.PortMapping{ContainerPort: aws.Int32(container)}
	if host >= 0 {
		pm.HostPort = aws.Int32(host)
	}
	return pm
}

func (e *tkEnv) run(t testing.TB, in *sdkecs.RunTaskInput) *sdkecs.RunTaskOutput {
	t.Helper()
	if in.Cluster == nil {
		in.Cluster = aws.String(e.cluster)
	}
	out, err := e.c.RunTask(e.ctx, in)
	if err != nil {
		t.Fatalf("RunTask: %v", err)
	}
	return out
}

// stored reads a task record.
func (e *tkEnv) stored(t testing.TB, taskArn string) ecs.Task {
	t.Helper()
	id := taskArn[strings.LastIndex(taskArn, "/")+1:]
	task, _, err := state.Get[ecs.Task](e.ctx, e.srv.Store(), state.TaskKey(e.cluster, id))
	if err != nil {
		t.Fatal(err)
	}
	return task
}

// setStatus moves a task's last status as the agent's reports would.
func (e *tkEnv) setStatus(t testing.TB, taskArn string, status ecs.TaskStatus, at time.Time) {
	t.Helper()
	id := taskArn[strings.LastIndex(taskArn, "/")+1:]
	_, err := state.Update(e.ctx, e.srv.Store(), state.TaskKey(e.cluster, id), func(task *ecs.Task, exists bool) ([]store.Op, error) {
		task.LastStatus = status
		task.Version++
		switch status {
		case ecs.TaskRunning:
			task.StartedAt, task.ConnectivityAt = at, at
		case ecs.TaskStopped:
			task.DesiredStatus, task.StoppedAt = ecs.TaskStopped, at
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func failureReasons(fs []types.Failure) []string {
	var out []string
	for _, f := range fs {
		out = append(out, aws.ToString(f.Reason))
	}
	sort.Strings(out)
	return out
}

func TestRunTaskPlacesAndShowsTheTask(t *testing.T) {
	e := tkStart(t, "prod")
	ci := e.instance(t, "inst1", 2048, 4096)
	defArn := e.def(t, "web", "", tkContainer("app", 256, 512, tkPort(80, 8080), tkPort(9000, -1)), tkContainer("log", 0, 64))

	// Two tasks cannot share the static host port 8080 on the one instance.
	out := e.run(t, &sdkecs.RunTaskInput{TaskDefinition: aws.String("web"), Count: aws.Int32(2), StartedBy: aws.String("ci/job-7"),
		Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
	if len(out.Tasks) != 1 || len(out.Failures) != 1 {
		t.Fatalf("RunTask: %d tasks, failures %+v", len(out.Tasks), out.Failures)
	}
	if f := out.Failures[0]; aws.ToString(f.Reason) != "RESOURCE:PORTS" || aws.ToString(f.Arn) != ci.ARN {
		t.Errorf("failure %+v", f)
	}
	task := out.Tasks[0]
	id := aws.ToString(task.TaskArn)[strings.LastIndex(aws.ToString(task.TaskArn), "/")+1:]
	checks := []struct {
		name, got, want string
	}{
		{"taskArn", aws.ToString(task.TaskArn), e.arnPrefix() + "task/prod/" + id},
		{"clusterArn", aws.ToString(task.ClusterArn), e.arnPrefix() + "cluster/prod"},
		{"containerInstanceArn", aws.ToString(task.ContainerInstanceArn), ci.ARN},
		{"taskDefinitionArn", aws.ToString(task.TaskDefinitionArn), defArn},
		{"lastStatus", aws.ToString(task.LastStatus), "PENDING"},
		{"desiredStatus", aws.ToString(task.DesiredStatus), "RUNNING"},
		{"launchType", string(task.LaunchType), "EC2"},
		{"group", aws.ToString(task.Group), "family:web"},
		{"startedBy", aws.ToString(task.StartedBy), "ci/job-7"},
		{"healthStatus", string(task.HealthStatus), "UNKNOWN"},
		{"availabilityZone", aws.ToString(task.AvailabilityZone), "us-east-1a"},
		{"cpu", aws.ToString(task.Cpu), "256"},
		{"memory", aws.ToString(task.Memory), "576"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if len(id) != 32 || task.Version != 1 || task.CreatedAt == nil {
		t.Errorf("id %q, version %d, createdAt %v", id, task.Version, task.CreatedAt)
	}
	if len(task.Tags) != 1 || aws.ToString(task.Tags[0].Key) != "k" {
		t.Errorf("tags %+v", task.Tags)
	}
	if len(task.Containers) != 2 {
		t.Fatalf("containers %+v", task.Containers)
	}
	app := task.Containers[0]
	if aws.ToString(app.Name) != "app" || aws.ToString(app.LastStatus) != "PENDING" || aws.ToString(app.Image) != "busybox:1.36" ||
		aws.ToString(app.Cpu) != "256" || aws.ToString(app.Memory) != "512" || aws.ToString(app.TaskArn) != aws.ToString(task.TaskArn) ||
		!strings.HasPrefix(aws.ToString(app.ContainerArn), e.arnPrefix()+"container/prod/"+id+"/") {
		t.Errorf("container %+v", app)
	}
	var bindings []string
	for _, b := range app.NetworkBindings {
		bindings = append(bindings, fmt.Sprintf("%s:%d->%d/%s", aws.ToString(b.BindIP), aws.ToInt32(b.HostPort), aws.ToInt32(b.ContainerPort), b.Protocol))
	}
	if want := []string{"0.0.0.0:8080->80/tcp", "0.0.0.0:49153->9000/tcp"}; !slices.Equal(bindings, want) {
		t.Errorf("bindings %v, want %v", bindings, want)
	}
	if o := task.Overrides; o == nil || len(o.ContainerOverrides) != 2 || aws.ToString(o.ContainerOverrides[1].Name) != "log" {
		t.Errorf("overrides %+v", task.Overrides)
	}
	// The record carries what the agent payload needs.
	rec := e.stored(t, aws.ToString(task.TaskArn))
	if rec.Seq != 1 || rec.ContainerInstanceID != "inst1" || len(rec.Ports) != 2 || rec.Ports[1].HostPort != 49153 ||
		rec.Definition.Family != "web" || rec.DesiredStatus != ecs.TaskRunning {
		t.Errorf("stored task %+v", rec)
	}
	// DescribeTasks shows the same task.
	d, err := e.c.DescribeTasks(e.ctx, &sdkecs.DescribeTasksInput{Cluster: aws.String("prod"), Tasks: []string{id}})
	if err != nil || len(d.Tasks) != 1 || aws.ToString(d.Tasks[0].TaskArn) != aws.ToString(task.TaskArn) {
		t.Fatalf("describe: %+v %v", d, err)
	}
	if len(d.Tasks[0].Tags) != 0 {
		t.Errorf("tags shown without include TAGS: %+v", d.Tasks[0].Tags)
	}
}

func TestRunTaskDynamicPortsAreUniqueOnAnInstance(t *testing.T) {
	e := tkStart(t, "dyn")
	e.instance(t, "i1", 4096, 8192)
	e.def(t, "svc", types.NetworkModeBridge, tkContainer("a", 10, 32, tkPort(80, 0), tkPort(81, -1)), tkContainer("b", 10, 32, tkPort(53, -1)))
	seen := map[int32]bool{}
	for round := 0; round < 3; round++ {
		out := e.run(t, &sdkecs.RunTaskInput{TaskDefinition: aws.String("svc"), Count: aws.Int32(10)})
		if len(out.Tasks) != 10 || len(out.Failures) != 0 {
			t.Fatalf("round %d: %d tasks, failures %+v", round, len(out.Tasks), out.Failures)
		}
		for _, task := range out.Tasks {
			for _, c := range task.Containers {
				for _, b := range c.NetworkBindings {
					hp := aws.ToInt32(b.HostPort)
					if hp < 49153 || hp > 65535 || seen[hp] {
						t.Fatalf("host port %d reused or outside the dynamic range", hp)
					}
					seen[hp] = true
				}
			}
		}
	}
	if len(seen) != 90 || !seen[49153] || !seen[49153+89] {
		t.Errorf("%d distinct ports; want the 90 lowest of the range", len(seen))
	}
}

func TestRunTaskResourceFailures(t *testing.T) {
	tests := []struct {
		name      string
		instances func(e *tkEnv)
		cpu, mem  int32
		want      []string // failure reasons; nil = placed
		wantErr   string   // error code
	}{
		{"fits", func(e *tkEnv) { e.instance(t, "a", 1024, 1024) }, 512, 512, nil, ""},
		{"cpu", func(e *tkEnv) { e.instance(t, "a", 512, 4096) }, 1024, 128, []string{"RESOURCE:CPU"}, ""},
		{"memory", func(e *tkEnv) { e.instance(t, "a", 4096, 256) }, 128, 512, []string{"RESOURCE:MEMORY"}, ""},
		{"each instance says why", func(e *tkEnv) { e.instance(t, "a", 128, 4096); e.instance(t, "b", 4096, 64) }, 256, 256,
			[]string{"RESOURCE:CPU", "RESOURCE:MEMORY"}, ""},
		{"agent disconnected", func(e *tkEnv) {
			e.instance(t, "a", 4096, 4096, func(ci *ecs.ContainerInstance) { ci.AgentConnected = false })
		}, 128, 128, []string{"AGENT"}, ""},
		{"agent silent too long", func(e *tkEnv) {
			e.instance(t, "a", 4096, 4096, func(ci *ecs.ContainerInstance) { ci.AgentSeenAt = time.Now().Add(-5 * time.Minute) })
		}, 128, 128, []string{"AGENT"}, ""},
		{"no instances", func(e *tkEnv) {}, 128, 128, nil, "InvalidParameterException"},
		{"only draining instances", func(e *tkEnv) {
			e.instance(t, "a", 4096, 4096, func(ci *ecs.ContainerInstance) { ci.Status = ecs.InstanceDraining })
		}, 128, 128, nil, "InvalidParameterException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tkStart(t, "res")
			tt.instances(e)
			e.def(t, "job", "", tkContainer("c", tt.cpu, tt.mem))
			out, err := e.c.RunTask(e.ctx, &sdkecs.RunTaskInput{Cluster: aws.String("res"), TaskDefinition: aws.String("job")})
			if tt.wantErr != "" {
				wantAPIError(t, err, tt.wantErr, "No Container Instances were found in your cluster.")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := failureReasons(out.Failures); !slices.Equal(got, tt.want) {
				t.Errorf("failures %v, want %v", got, tt.want)
			}
			if wantTasks := len(tt.want) == 0; (len(out.Tasks) == 1) != wantTasks {
				t.Errorf("%d tasks placed", len(out.Tasks))
			}
		})
	}
}

// Many RunTask calls at once never book more of an instance than it has.
func TestConcurrentRunTaskNeverOverbooks(t *testing.T) {
	e := tkStart(t, "busy")
	e.instance(t, "a", 1024, 8192)
	e.instance(t, "b", 1024, 8192)
	e.def(t, "w", "", tkContainer("c", 256, 64, tkPort(8000, -1)))
	const callers = 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	placed, failed := 0, 0
	errs := make(chan error, callers)
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := e.c.RunTask(e.ctx, &sdkecs.RunTaskInput{Cluster: aws.String("busy"), TaskDefinition: aws.String("w")})
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			placed += len(out.Tasks)
			if len(out.Tasks) == 0 {
				failed++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("RunTask: %v", err)
	}
	if placed != 8 || failed != callers-8 {
		t.Fatalf("placed %d tasks, %d calls failed; the two instances hold exactly 8", placed, failed)
	}
	recs, err := state.List[ecs.Task](e.ctx, e.srv.Store(), state.TasksPrefix("busy"), store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cpu := map[string]int64{}
	ports := map[string]bool{}
	for _, r := range recs {
		c, _ := r.Value.Definition.Reservation()
		cpu[r.Value.ContainerInstanceID] += c
		for _, p := range r.Value.Ports {
			k := fmt.Sprintf("%s/%d", r.Value.ContainerInstanceID, p.HostPort)
			if ports[k] {
				t.Errorf("host port %s booked twice", k)
			}
			ports[k] = true
		}
	}
	if cpu["a"] != 1024 || cpu["b"] != 1024 {
		t.Errorf("cpu booked per instance: %v", cpu)
	}
}

func TestRunTaskOverridesApplied(t *testing.T) {
	e := tkStart(t, "ov")
	e.instance(t, "a", 4096, 4096)
	e.def(t, "job", "", tkContainer("main", 128, 256), tkContainer("side", 0, 64))
	out := e.run(t, &sdkecs.RunTaskInput{TaskDefinition: aws.String("job"), Overrides: &types.TaskOverride{
		ContainerOverrides: []types.ContainerOverride{{
			Name:        aws.String("main"),
			Command:     []string{"echo", "hello"},
			Environment: []types.KeyValuePair{{Name: aws.String("MODE"), Value: aws.String("batch")}, {Name: aws.String("EXTRA"), Value: aws.String("1")}},
			Cpu:         aws.Int32(512),
			Memory:      aws.Int32(1024),
		}},
		Memory: aws.String("2048"),
	}})
	if len(out.Tasks) != 1 {
		t.Fatalf("failures %+v", out.Failures)
	}
	task := out.Tasks[0]
	if aws.ToString(task.Cpu) != "512" || aws.ToString(task.Memory) != "2048" || aws.ToString(task.Containers[0].Memory) != "1024" {
		t.Errorf("task cpu %s memory %s, container memory %s", aws.ToString(task.Cpu), aws.ToString(task.Memory), aws.ToString(task.Containers[0].Memory))
	}
	o := task.Overrides
	if aws.ToString(o.Memory) != "2048" || len(o.ContainerOverrides) != 2 || !slices.Equal(o.ContainerOverrides[0].Command, []string{"echo", "hello"}) ||
		aws.ToInt32(o.ContainerOverrides[0].Cpu) != 512 || o.ContainerOverrides[1].Command != nil {
		t.Errorf("overrides shown: %+v", o)
	}
	def := e.stored(t, aws.ToString(task.TaskArn)).Definition
	main := def.Container("main")
	env := map[string]string{}
	for _, kv := range main.Environment {
		env[kv.Name] = kv.Value
	}
	if !slices.Equal(main.Command, []string{"echo", "hello"}) || main.CPU != 512 || *main.Memory != 1024 || def.Memory != "2048" ||
		env["MODE"] != "batch" || env["EXTRA"] != "1" || len(env) != 2 {
		t.Errorf("definition the task runs: %+v env %v", main, env)
	}
	// The registered definition is untouched.
	d, err := e.c.DescribeTaskDefinition(e.ctx, &sdkecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("job")})
	if err != nil || d.TaskDefinition.ContainerDefinitions[0].Command[0] != "sleep" {
		t.Errorf("registered definition changed: %v %v", d, err)
	}
}

func TestRunTaskRejections(t *testing.T) {
	e := tkStart(t, "rej")
	e.instance(t, "a", 4096, 4096)
	e.def(t, "job", "", tkContainer("c", 128, 128))
	e.def(t, "vpc", types.NetworkModeAwsvpc, tkContainer("c", 128, 128))
	e.def(t, "gone", "", tkContainer("c", 128, 128))
	tty := tkContainer("c", 128, 128)
	tty.PseudoTerminal = aws.Bool(true)
	e.def(t, "tty", "", tty)
	if _, err := e.c.DeregisterTaskDefinition(e.ctx, &sdkecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("gone:1")}); err != nil {
		t.Fatal(err)
	}
	vpc := &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-1"}}}
	tooMany := make([]types.PlacementConstraint, 11)
	for i := range tooMany {
		tooMany[i] = types.PlacementConstraint{Type: types.PlacementConstraintTypeDistinctInstance}
	}
	tests := []struct {
		name  string
		in    sdkecs.RunTaskInput
		code  string
		frags []string
	}{
		{"count zero", sdkecs.RunTaskInput{Count: aws.Int32(0)}, "InvalidParameterException", []string{"count"}},
		{"count eleven", sdkecs.RunTaskInput{Count: aws.Int32(11)}, "InvalidParameterException", []string{"count", "10"}},
		{"fargate", sdkecs.RunTaskInput{LaunchType: types.LaunchTypeFargate}, "InvalidParameterException", []string{"launchType FARGATE is not supported by this cluster yet"}},
		{"capacity provider", sdkecs.RunTaskInput{CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE")}}},
			"InvalidParameterException", []string{"capacityProviderStrategy"}},
		{"platform version", sdkecs.RunTaskInput{PlatformVersion: aws.String("LATEST")}, "InvalidParameterException", []string{"platformVersion"}},
		{"startedBy", sdkecs.RunTaskInput{StartedBy: aws.String("has space")}, "InvalidParameterException", []string{"startedBy"}},
		{"group", sdkecs.RunTaskInput{Group: aws.String(strings.Repeat("g", 256))}, "InvalidParameterException", []string{"group"}},
		{"referenceId", sdkecs.RunTaskInput{ReferenceId: aws.String(strings.Repeat("r", 1025))}, "InvalidParameterException", []string{"referenceId"}},
		{"clientToken", sdkecs.RunTaskInput{ClientToken: aws.String(strings.Repeat("t", 65))}, "InvalidParameterException", []string{"clientToken"}},
		{"reserved tag", sdkecs.RunTaskInput{Tags: []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("v")}}}, "InvalidParameterException", []string{"aws:"}},
		{"propagate from service", sdkecs.RunTaskInput{PropagateTags: types.PropagateTagsService}, "InvalidParameterException", []string{"propagateTags"}},
		{"unknown container", sdkecs.RunTaskInput{Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String("nope")}}}},
			"InvalidParameterException", []string{"Override for container named nope is not a container in the TaskDefinition."}},
		{"environment files", sdkecs.RunTaskInput{Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String("c"),
			EnvironmentFiles: []types.EnvironmentFile{{Type: types.EnvironmentFileTypeS3, Value: aws.String("arn:aws:s3:::b/k.env")}}}}}},
			"InvalidParameterException", []string{"environmentFiles"}},
		{"override memory", sdkecs.RunTaskInput{Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String("c"), Memory: aws.Int32(1)}}}},
			"InvalidParameterException", []string{"'memory'", "'c'"}},
		{"overrides too large", sdkecs.RunTaskInput{Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String("c"),
			Command: []string{strings.Repeat("x", 9000)}}}}}, "InvalidParameterException", []string{"overrides", "8192"}},
		{"bridge with network configuration", sdkecs.RunTaskInput{NetworkConfiguration: vpc}, "InvalidParameterException", []string{"Network Configuration is not valid"}},
		{"awsvpc without network configuration", sdkecs.RunTaskInput{TaskDefinition: aws.String("vpc")}, "InvalidParameterException",
			[]string{"Network Configuration must be provided when networkMode 'awsvpc' is specified."}},
		{"awsvpc without subnets", sdkecs.RunTaskInput{TaskDefinition: aws.String("vpc"), NetworkConfiguration: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{}}}},
			"InvalidParameterException", []string{"subnets"}},
		{"inactive definition", sdkecs.RunTaskInput{TaskDefinition: aws.String("gone:1")}, "InvalidParameterException", []string{"TaskDefinition is inactive"}},
		{"unknown definition", sdkecs.RunTaskInput{TaskDefinition: aws.String("nope")}, "ClientException", []string{"Unable to describe task definition."}},
		{"unknown cluster", sdkecs.RunTaskInput{Cluster: aws.String("nope")}, "ClusterNotFoundException", nil},
		{"too many constraints", sdkecs.RunTaskInput{PlacementConstraints: tooMany}, "InvalidParameterException", []string{"placementConstraints"}},
		{"bad constraint expression", sdkecs.RunTaskInput{PlacementConstraints: []types.PlacementConstraint{{Type: types.PlacementConstraintTypeMemberOf, Expression: aws.String("attribute:x ==")}}},
			"InvalidParameterException", []string{"expression"}},
		{"bad strategy field", sdkecs.RunTaskInput{PlacementStrategy: []types.PlacementStrategy{{Type: types.PlacementStrategyTypeBinpack, Field: aws.String("disk")}}},
			"InvalidParameterException", []string{"placementStrategy[0].field"}},
		{"setting the agent cannot honour", sdkecs.RunTaskInput{TaskDefinition: aws.String("tty")}, "InvalidParameterException",
			[]string{"containerDefinitions[0].pseudoTerminal (container c) is not supported by Berth's agent yet"}},
		{"volume configurations", sdkecs.RunTaskInput{VolumeConfigurations: []types.TaskVolumeConfiguration{{Name: aws.String("v")}}}, "InvalidParameterException", []string{"volumeConfigurations"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			if in.Cluster == nil {
				in.Cluster = aws.String("rej")
			}
			if in.TaskDefinition == nil {
				in.TaskDefinition = aws.String("job")
			}
			_, err := e.c.RunTask(e.ctx, &in)
			wantAPIError(t, err, tt.code, tt.frags...)
		})
	}
	// Nothing was started by any of them.
	l, err := e.c.ListTasks(e.ctx, &sdkecs.ListTasksInput{Cluster: aws.String("rej")})
	if err != nil || len(l.TaskArns) != 0 {
		t.Fatalf("tasks after rejected calls: %v %v", l.TaskArns, err)
	}
}

func TestRunTaskAwsvpcAddresses(t *testing.T) {
	e := tkStart(t, "vpc")
	ci := e.instance(t, "a", 4096, 4096, withAttribute("berth.awsvpc-cidr", "10.213.128.0/29"))
	e.instance(t, "b", 4096, 4096) // no awsvpc subnet: never chosen for awsvpc tasks
	e.def(t, "net", types.NetworkModeAwsvpc, tkContainer("c", 16, 16, tkPort(80, -1)))
	nc := &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-x"}, SecurityGroups: []string{"sg-1"}}}
	out := e.run(t, &sdkecs.RunTaskInput{TaskDefinition: aws.String("net"), Count: aws.Int32(6), NetworkConfiguration: nc})
	// A /29 holds .2 to .6: five tasks.
	if len(out.Tasks) != 5 {
		t.Fatalf("%d tasks placed, failures %+v", len(out.Tasks), out.Failures)
	}
	if got := failureReasons(out.Failures); !slices.Equal(got, []string{"RESOURCE:ENI", "RESOURCE:ENI"}) {
		t.Errorf("failures %v", got)
	}
	var addrs []string
	for _, task := range out.Tasks {
		if aws.ToString(task.ContainerInstanceArn) != ci.ARN || aws.ToString(task.LastStatus) != "PROVISIONING" || len(task.Attachments) != 1 {
			t.Fatalf("awsvpc task %+v", task)
		}
		att := task.Attachments[0]
		details := map[string]string{}
		for _, d := range att.Details {
			details[aws.ToString(d.Name)] = aws.ToString(d.Value)
		}
		ip := details["privateIPv4Address"]
		addrs = append(addrs, ip)
		if aws.ToString(att.Type) != "ElasticNetworkInterface" || aws.ToString(att.Status) != "PRECREATED" ||
			details["subnetId"] != "subnet-berth-a" || !strings.HasPrefix(details["networkInterfaceId"], "eni-") || len(details["networkInterfaceId"]) != 21 ||
			!strings.HasPrefix(details["macAddress"], "0a:58:0a:d5:80:0") {
			t.Errorf("attachment %+v", details)
		}
		ni := task.Containers[0].NetworkInterfaces
		if len(ni) != 1 || aws.ToString(ni[0].PrivateIpv4Address) != ip || aws.ToString(ni[0].AttachmentId) != aws.ToString(att.Id) {
			t.Errorf("container interfaces %+v", ni)
		}
		if len(task.Containers[0].NetworkBindings) != 0 {
			t.Errorf("awsvpc task has host port bindings: %+v", task.Containers[0].NetworkBindings)
		}
	}
	sort.Strings(addrs)
	if want := []string{"10.213.128.2", "10.213.128.3", "10.213.128.4", "10.213.128.5", "10.213.128.6"}; !slices.Equal(addrs, want) {
		t.Errorf("addresses %v, want %v", addrs, want)
	}
	// A stopped task gives its address back.
	e.setStatus(t, aws.ToString(out.Tasks[0].TaskArn), ecs.TaskStopped, time.Now())
	again := e.run(t, &sdkecs.RunTaskInput{TaskDefinition: aws.String("net"), NetworkConfiguration: nc})
	if len(again.Tasks) != 1 {
		t.Fatalf("after a stop: failures %+v", again.Failures)
	}
}

func TestRunTaskTagsAndGroup(t *testing.T) {
	e := tkStart(t, "tags")
	e.instance(t, "a", 4096, 4096)
	e.def(t, "job", "", tkContainer("c", 16, 16))
	out := e.run(t, &sdkecs.RunTaskInput{TaskDefinition: aws.String("job"), Group: aws.String("batch"),
		PropagateTags: types.PropagateTagsTaskDefinition, EnableECSManagedTags: true,
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("ops")}, {Key: aws.String("x"), Value: aws.String("1")}}})
	task := out.Tasks[0]
	tags := map[string]string{}
	for _, tg := range task.Tags {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	want := map[string]string{"team": "ops", "x": "1", "aws:ecs:clusterName": "tags"}
	if fmt.Sprint(tags) != fmt.Sprint(want) || aws.ToString(task.Group) != "batch" {
		t.Errorf("tags %v group %q", tags, aws.ToString(task.Group))
	}
	d, err := e.c.DescribeTasks(e.ctx, &sdkecs.DescribeTasksInput{Cluster: aws.String("tags"), Tasks: []string{aws.ToString(task.TaskArn)},
		Include: []types.TaskField{types.TaskFieldTags}})
	if err != nil || len(d.Tasks[0].Tags) != 3 {
		t.Errorf("describe with TAGS: %+v %v", d, err)
	}
}

func TestRunTaskClientToken(t *testing.T) {
	e := tkStart(t, "idem")
	e.instance(t, "a", 4096, 4096)
	e.def(t, "job", "", tkContainer("c", 16, 16))
	in := &sdkecs.RunTaskInput{Cluster: aws.String("idem"), TaskDefinition: aws.String("job"), Count: aws.Int32(2), ClientToken: aws.String("tok-1")}
	first := e.run(t, in)
	second := e.run(t, in)
	arns := func(o *sdkecs.RunTaskOutput) []string {
		var out []string
		for _, task := range o.Tasks {
			out = append(out, aws.ToString(task.TaskArn))
		}
		sort.Strings(out)
		return out
	}
	if len(first.Tasks) != 2 || !slices.Equal(arns(first), arns(second)) {
		t.Fatalf("same token started %v then %v", arns(first), arns(second))
	}
	l, err := e.c.ListTasks(e.ctx, &sdkecs.ListTasksInput{Cluster: aws.String("idem")})
	if err != nil || len(l.TaskArns) != 2 {
		t.Fatalf("tasks after a repeated call: %v %v", l.TaskArns, err)
	}
	_, err = e.c.RunTask(e.ctx, &sdkecs.RunTaskInput{Cluster: aws.String("idem"), TaskDefinition: aws.String("job"), ClientToken: aws.String("tok-1")})
	wantAPIError(t, err, "ClientException", "clientToken")
	other := e.run(t, &sdkecs.RunTaskInput{TaskDefinition: aws.String("job"), ClientToken: aws.String("tok-2")})
	if len(other.Tasks) != 1 || slices.Contains(arns(first), aws.ToString(other.Tasks[0].TaskArn)) {
		t.Errorf("a new token reused tasks: %v", arns(other))
	}
}

func TestRunTaskPlacementConstraints(t *testing.T) {
	e := tkStart(t, "pc")
	e.instance(t, "a", 4096, 4096, withAttribute("tier", "web"))
	b := e.instance(t, "b", 4096, 4096, withAttribute("tier", "db"))
	e.def(t, "job", "", tkContainer("c", 16, 16))
	out := e.run(t, &sdkecs.RunTaskInput{TaskDefinition: aws.String("job"), Count: aws.Int32(3),
		PlacementConstraints: []types.PlacementConstraint{{Type: types.PlacementConstraintTypeMemberOf, Expression: aws.String("attribute:tier == db")}}})
	for _, task := range out.Tasks {
		if aws.ToString(task.ContainerInstanceArn) != b.ARN {
			t.Errorf("task placed on %s, outside the memberOf expression", aws.ToString(task.ContainerInstanceArn))
		}
	}
	// distinctInstance: at most one task of the group per instance.
	d := e.run(t, &sdkecs.RunTaskInput{TaskDefinition: aws.String("job"), Count: aws.Int32(3), Group: aws.String("solo"),
		PlacementConstraints: []types.PlacementConstraint{{Type: types.PlacementConstraintTypeDistinctInstance}}})
	if len(d.Tasks) != 2 || len(d.Failures) == 0 || aws.ToString(d.Tasks[0].ContainerInstanceArn) == aws.ToString(d.Tasks[1].ContainerInstanceArn) {
		t.Errorf("distinctInstance: %d tasks, failures %+v", len(d.Tasks), d.Failures)
	}
}

func TestStartTask(t *testing.T) {
	e := tkStart(t, "st")
	a := e.instance(t, "a", 1024, 1024)
	b := e.instance(t, "b", 128, 1024)
	gone := e.instance(t, "gone", 4096, 4096, func(ci *ecs.ContainerInstance) { ci.Status = ecs.InstanceInactive })
	e.def(t, "job", "", tkContainer("c", 512, 64, tkPort(7000, 7000)))
	out, err := e.c.StartTask(e.ctx, &sdkecs.StartTaskInput{Cluster: aws.String("st"), TaskDefinition: aws.String("job"),
		ContainerInstances: []string{"a", b.ARN, "nope", gone.ARN, a.ARN}, StartedBy: aws.String("me")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Tasks) != 1 || aws.ToString(out.Tasks[0].ContainerInstanceArn) != a.ARN || aws.ToString(out.Tasks[0].StartedBy) != "me" {
		t.Fatalf("tasks %+v", out.Tasks)
	}
	got := map[string]string{}
	for _, f := range out.Failures {
		got[aws.ToString(f.Arn)] = aws.ToString(f.Reason)
	}
	want := map[string]string{
		b.ARN: "RESOURCE:CPU",
		e.arnPrefix() + "container-instance/st/nope": "MISSING",
		gone.ARN: "INACTIVE",
		a.ARN:    "RESOURCE:PORTS", // named twice: the second task's port is taken by the first
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("failures %v, want %v", got, want)
	}
	tests := []struct {
		name string
		in   sdkecs.StartTaskInput
		frag string
	}{
		{"no instances", sdkecs.StartTaskInput{ContainerInstances: []string{}}, "containerInstances"},
		{"eleven instances", sdkecs.StartTaskInput{ContainerInstances: slices.Repeat([]string{"a"}, 11)}, "containerInstances"},
		{"bad startedBy", sdkecs.StartTaskInput{ContainerInstances: []string{"a"}, StartedBy: aws.String("ü")}, "startedBy"},
	}
	for _, tt := range tests {
		in := tt.in
		in.Cluster, in.TaskDefinition = aws.String("st"), aws.String("job")
		_, err := e.c.StartTask(e.ctx, &in)
		wantAPIError(t, err, "InvalidParameterException", tt.frag)
	}
}

// Tasks that find one instance's awsvpc subnet full go to another.
func TestRunTaskAwsvpcReplacesWhenASubnetFills(t *testing.T) {
	e := tkStart(t, "vpc2")
	e.instance(t, "small", 4096, 4096, withAttribute("berth.awsvpc-cidr", "10.1.0.0/30")) // one address
	e.instance(t, "big", 4096, 4096, withAttribute("berth.awsvpc-cidr", "10.2.0.0/24"))
	e.def(t, "net", types.NetworkModeAwsvpc, tkContainer("c", 16, 16))
	nc := &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-x"}}}
	out := e.run(t, &sdkecs.RunTaskInput{TaskDefinition: aws.String("net"), Count: aws.Int32(6), NetworkConfiguration: nc})
	if len(out.Tasks) != 6 || len(out.Failures) != 0 {
		t.Fatalf("%d tasks, failures %+v", len(out.Tasks), out.Failures)
	}
	onSmall := 0
	for _, task := range out.Tasks {
		if strings.HasSuffix(aws.ToString(task.ContainerInstanceArn), "/small") {
			onSmall++
		}
	}
	if onSmall > 1 {
		t.Errorf("%d tasks on an instance with one address", onSmall)
	}
}
