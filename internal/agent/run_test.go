package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth/berth/internal/agent/runtime"
	"github.com/berth/berth/internal/server"
	"github.com/berth/berth/internal/servertest"
	"github.com/berth/berth/internal/testimage"
)

const e2eNamespace = "berth-agent-e2e"

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// agentRun is a Run in the background.
type agentRun struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func startRun(t *testing.T, cfg Config) *agentRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &agentRun{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = Run(ctx, cfg, testLogger(t))
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run and returns its result.
func (r *agentRun) stop(t *testing.T) error {
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	return r.err
}

// removeContainers removes every container of the test's namespace, so
// that runs do not see each other's leftovers.
func removeContainers(t *testing.T, cfg Config) {
	t.Helper()
	ctx := context.Background()
	rt, err := runtime.New(ctx, runtime.Config{Address: cfg.ContainerdAddress, Namespace: cfg.ContainerdNamespace}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	infos, err := rt.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range infos {
		if i.Running {
			rt.Stop(ctx, i.ID, time.Second)
		}
		if err := rt.Remove(ctx, i.ID); err != nil {
			t.Logf("remove container %s: %v", i.ID, err)
		}
	}
}

// runningContainers lists the containers of the agent's namespace whose
// process runs.
func runningContainers(t *testing.T, cfg Config) []string {
	t.Helper()
	rt, err := runtime.New(context.Background(), runtime.Config{Address: cfg.ContainerdAddress, Namespace: cfg.ContainerdNamespace}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	infos, err := rt.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, i := range infos {
		if i.Running {
			ids = append(ids, i.ID)
		}
	}
	return ids
}

func describeTask(t *testing.T, c *sdkecs.Client, arn string) types.Task {
	t.Helper()
	d, err := c.DescribeTasks(context.Background(), &sdkecs.DescribeTasksInput{Cluster: aws.String("e2e"), Tasks: []string{arn}})
	if err != nil || len(d.Tasks) != 1 {
		t.Fatalf("describe task %s: %v %+v", arn, err, d)
	}
	return d.Tasks[0]
}

// TestRunEndToEnd runs the whole agent (registration, engine, containerd,
// ACS, reports) against a real Berth server: a host-mode task starts and
// is stopped; across an agent restart the instance keeps its ARN and a
// running task is adopted, not restarted.
func TestRunEndToEnd(t *testing.T) {
	image := testimage.Busybox(t, e2eNamespace) // skips unless root + containerd
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		t.Skip("CNI plugins absent from /usr/lib/cni")
	}
	srv := servertest.Start(t, func(c *server.Config) {
		c.HeartbeatInterval = 200 * time.Millisecond
		c.ManifestInterval = 500 * time.Millisecond
	})
	admin := srv.ECS(t)
	ctx := context.Background()
	if _, err := admin.CreateCluster(ctx, &sdkecs.CreateClusterInput{ClusterName: aws.String("e2e")}); err != nil {
		t.Fatal(err)
	}

	cfg := NewConfig()
	cfg.ServerURL, cfg.Region, cfg.Cluster = srv.Endpoint(), srv.Config.Region, "e2e"
	cfg.DataDir = t.TempDir()
	cfg.InstanceID = "i-00000000000e2e01"
	cfg.ContainerdNamespace = e2eNamespace
	cfg.IntrospectionPort = freePort(t)
	cfg.MetadataPort = freePort(t)
	cfg.ContainerStopTimeout = 2 * time.Second
	cfg.Timing = fastTiming()
	cfg.Timing.MetricsInterval = time.Second
	cfg.Attributes = map[string]string{"stack": "e2e"}
	if _, err := srv.EnsureCredential(ctx, "e2e-agent", filepath.Join(cfg.DataDir, "credentials")); err != nil {
		t.Fatal(err)
	}
	removeContainers(t, cfg)
	t.Cleanup(func() { removeContainers(t, cfg) })

	run := startRun(t, cfg)
	var instanceARN string
	waitFor(t, "the instance to register and connect", func() bool {
		l, err := admin.ListContainerInstances(ctx, &sdkecs.ListContainerInstancesInput{Cluster: aws.String("e2e")})
		if err != nil || len(l.ContainerInstanceArns) != 1 {
			return false
		}
		d, err := admin.DescribeContainerInstances(ctx, &sdkecs.DescribeContainerInstancesInput{Cluster: aws.String("e2e"), ContainerInstances: l.ContainerInstanceArns})
		if err != nil || len(d.ContainerInstances) != 1 || !d.ContainerInstances[0].AgentConnected {
			return false
		}
		instanceARN = aws.ToString(d.ContainerInstances[0].ContainerInstanceArn)
		return true
	})

	// Introspection names the instance.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/v1/metadata", cfg.IntrospectionPort))
	if err != nil {
		t.Fatal(err)
	}
	var md introspectionMetadata
	json.NewDecoder(resp.Body).Decode(&md)
	resp.Body.Close()
	if md.ContainerInstanceArn != instanceARN || md.Cluster != "e2e" {
		t.Errorf("introspection = %+v, want %s", md, instanceARN)
	}

	if _, err := admin.RegisterTaskDefinition(ctx, &sdkecs.RegisterTaskDefinitionInput{
		Family: aws.String("sleeper"), NetworkMode: types.NetworkModeHost,
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("app"), Image: aws.String(image), Memory: aws.Int32(32), Essential: aws.Bool(true),
			EntryPoint: []string{"/bin/busybox"}, Command: []string{"sleep", "300"}, StopTimeout: aws.Int32(2),
		}},
	}); err != nil {
		t.Fatal(err)
	}
	runTask := func() string {
		t.Helper()
		out, err := admin.RunTask(ctx, &sdkecs.RunTaskInput{Cluster: aws.String("e2e"), TaskDefinition: aws.String("sleeper")})
		if err != nil || len(out.Tasks) != 1 {
			t.Fatalf("run task: %v %+v", err, out)
		}
		return aws.ToString(out.Tasks[0].TaskArn)
	}
	waitStatus := func(arn, status string) types.Task {
		t.Helper()
		var task types.Task
		deadline := time.Now().Add(30 * time.Second)
		for {
			task = describeTask(t, admin, arn)
			if aws.ToString(task.LastStatus) == status {
				return task
			}
			if time.Now().After(deadline) {
				t.Fatalf("task %s is %s (%s), want %s", arn, aws.ToString(task.LastStatus), aws.ToString(task.StoppedReason), status)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// A task runs and is stopped.
	first := runTask()
	running := waitStatus(first, "RUNNING")
	runtimeID := aws.ToString(running.Containers[0].RuntimeId)
	if runtimeID == "" {
		t.Errorf("running container has no runtimeId: %+v", running.Containers[0])
	}
	if _, err := admin.StopTask(ctx, &sdkecs.StopTaskInput{Cluster: aws.String("e2e"), Task: aws.String(first)}); err != nil {
		t.Fatal(err)
	}
	stopped := waitStatus(first, "STOPPED")
	if stopped.Containers[0].ExitCode == nil {
		t.Errorf("stopped container has no exit code: %+v", stopped.Containers[0])
	}

	// The task metadata endpoint answers the task's containers (host mode:
	// on 127.0.0.1); the container's exit code says what it saw.
	if _, err := admin.RegisterTaskDefinition(ctx, &sdkecs.RegisterTaskDefinitionInput{
		Family: aws.String("meta"), NetworkMode: types.NetworkModeHost,
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("probe"), Image: aws.String(image), Memory: aws.Int32(32), Essential: aws.Bool(true),
			EntryPoint: []string{"/bin/busybox", "sh", "-c"},
			Command:    []string{`/bin/busybox wget -qO- "$ECS_CONTAINER_METADATA_URI_V4/task" | /bin/busybox grep -q '"Family":"meta"' && exit 0; exit 3`},
		}},
	}); err != nil {
		t.Fatal(err)
	}
	out, err := admin.RunTask(ctx, &sdkecs.RunTaskInput{Cluster: aws.String("e2e"), TaskDefinition: aws.String("meta")})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("run task: %v %+v", err, out)
	}
	meta := waitStatus(aws.ToString(out.Tasks[0].TaskArn), "STOPPED")
	if code := meta.Containers[0].ExitCode; code == nil || *code != 0 {
		t.Errorf("metadata probe exit code = %v (3: no or wrong metadata), want 0", aws.ToInt32(code))
	}

	// Restart with a task running: it keeps running, is adopted, and the
	// instance keeps its identity.
	second := runTask()
	waitStatus(second, "RUNNING")
	if err := run.stop(t); err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
	if ids := runningContainers(t, cfg); len(ids) != 1 {
		t.Fatalf("running containers after the agent stopped = %v, want the task's one", ids)
	}
	run = startRun(t, cfg)
	waitFor(t, "the agent to reconnect", func() bool {
		d, err := admin.DescribeContainerInstances(ctx, &sdkecs.DescribeContainerInstancesInput{Cluster: aws.String("e2e"), ContainerInstances: []string{instanceARN}})
		return err == nil && len(d.ContainerInstances) == 1 && d.ContainerInstances[0].AgentConnected
	})
	l, err := admin.ListContainerInstances(ctx, &sdkecs.ListContainerInstancesInput{Cluster: aws.String("e2e")})
	if err != nil || len(l.ContainerInstanceArns) != 1 || l.ContainerInstanceArns[0] != instanceARN {
		t.Fatalf("instances after restart = %v %v, want only %s", l, err, instanceARN)
	}
	if _, err := admin.StopTask(ctx, &sdkecs.StopTaskInput{Cluster: aws.String("e2e"), Task: aws.String(second)}); err != nil {
		t.Fatal(err)
	}
	waitStatus(second, "STOPPED")

	// Deregistration ends Run with ErrInstanceInactive.
	third := runTask()
	waitStatus(third, "RUNNING")
	if _, err := admin.DeregisterContainerInstance(ctx, &sdkecs.DeregisterContainerInstanceInput{Cluster: aws.String("e2e"), ContainerInstance: aws.String(instanceARN), Force: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-run.done:
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not end after deregistration")
	}
	if !errors.Is(run.err, ErrInstanceInactive) {
		t.Fatalf("Run = %v, want ErrInstanceInactive", run.err)
	}
	if ids := runningContainers(t, cfg); len(ids) != 0 {
		t.Errorf("containers still running after deregistration: %v", ids)
	}
}
