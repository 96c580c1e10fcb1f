package agent

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth/berth/internal/agent/engine"
	"github.com/berth/berth/internal/agentproto"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/server"
	"github.com/berth/berth/internal/servertest"
)

// countingSubmitAPI counts task state change calls.
type countingSubmitAPI struct {
	submitAPI
	calls int
}

func (c *countingSubmitAPI) SubmitTaskStateChange(ctx context.Context, in *sdkecs.SubmitTaskStateChangeInput, opts ...func(*sdkecs.Options)) (*sdkecs.SubmitTaskStateChangeOutput, error) {
	c.calls++
	return c.submitAPI.SubmitTaskStateChange(ctx, in, opts...)
}

// payloadEngine is a fake engine that remembers the payload tasks it got.
type payloadEngine struct {
	*fakeEngine
	got chan agentproto.Task
}

func (e *payloadEngine) Apply(ctx context.Context, tasks []agentproto.Task) error {
	for _, t := range tasks {
		e.got <- t
	}
	return e.fakeEngine.Apply(ctx, tasks)
}

func (e *payloadEngine) next(t *testing.T, desired string) agentproto.Task {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case task := <-e.got:
			if task.DesiredStatus == desired {
				return task
			}
		case <-deadline:
			t.Fatalf("no payload task with desired status %s", desired)
		}
	}
}

// TestAgainstBerthServer drives registration, the ACS and TCS channels and
// the state-change reports against a real Berth server (API, SigV4, store,
// agent channel), with a fake task engine in place of containers.
func TestAgainstBerthServer(t *testing.T) {
	srv := servertest.Start(t, func(c *server.Config) {
		c.HeartbeatInterval = 100 * time.Millisecond
		c.ManifestInterval = 200 * time.Millisecond
	})
	admin := srv.ECS(t)
	ctx := context.Background()
	log := testLogger(t)

	// The agent acts with a credential of its own, read from its data dir.
	cfg := NewConfig()
	cfg.ServerURL = srv.Endpoint()
	cfg.Region = srv.Config.Region
	cfg.DataDir = t.TempDir()
	if _, err := srv.EnsureCredential(ctx, "agent-test", filepath.Join(cfg.DataDir, "credentials")); err != nil {
		t.Fatal(err)
	}
	cfg.Timing = fastTiming()
	creds, err := cfg.credentials()
	if err != nil {
		t.Fatal(err)
	}
	api := newECSClient(&cfg, creds, nil)

	// Registration in cluster "default", which does not exist yet: the
	// agent creates it, as the ECS agent does. The server must echo every
	// attribute (register fails otherwise).
	reg := testRegistration(DefaultCluster)
	reg.region = cfg.Region
	arn, err := register(ctx, api, reg, cfg.Timing, log)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	again := *reg
	again.previousARN = arn
	if arn2, err := register(ctx, api, &again, cfg.Timing, log); err != nil || arn2 != arn {
		t.Fatalf("re-register = %q, %v; want the same instance %s", arn2, err, arn)
	}
	desc, err := admin.DescribeContainerInstances(ctx, &sdkecs.DescribeContainerInstancesInput{ContainerInstances: []string{arn}})
	if err != nil || len(desc.ContainerInstances) != 1 {
		t.Fatalf("describe instance: %v %+v", err, desc)
	}
	ci := desc.ContainerInstances[0]
	if aws.ToString(ci.Ec2InstanceId) != reg.machine.InstanceID {
		t.Errorf("ec2InstanceId = %q, want %s", aws.ToString(ci.Ec2InstanceId), reg.machine.InstanceID)
	}
	if err := checkAttributeEcho(reg.attributes, ci.Attributes); err != nil {
		t.Errorf("described attributes: %v", err)
	}

	// ACS and TCS with a fake engine.
	eng := &payloadEngine{fakeEngine: newFakeEngine(), got: make(chan agentproto.Task, 16)}
	endpoints := &endpointCache{api: api, cluster: DefaultCluster, instanceARN: arn, ttl: time.Hour, timing: cfg.Timing, log: log}
	dialer := newWSDialer(creds, cfg.Region, nil)
	health := newHealthBook()
	acs := &acsClient{dialer: dialer, endpoints: endpoints, engine: eng, cluster: DefaultCluster, instanceARN: arn,
		version: "1.0.0", hash: "abc", runtime: runtimeName, timing: cfg.Timing, log: log.With("component", "acs")}
	tcs := &tcsClient{dialer: dialer, endpoints: endpoints, health: health, cluster: DefaultCluster, instanceARN: arn,
		version: "1.0.0", hash: "abc", runtime: runtimeName, timing: cfg.Timing, log: log.With("component", "tcs")}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	acsDone := make(chan error, 1)
	go func() { acsDone <- acs.run(runCtx) }()
	tcsDone := make(chan struct{})
	go func() { defer close(tcsDone); tcs.run(runCtx) }()
	defer func() { cancel(); <-tcsDone }()

	waitFor(t, "agentConnected", func() bool {
		d, err := admin.DescribeContainerInstances(ctx, &sdkecs.DescribeContainerInstancesInput{ContainerInstances: []string{arn}})
		return err == nil && len(d.ContainerInstances) == 1 && d.ContainerInstances[0].AgentConnected
	})

	// RunTask: the payload reaches the engine.
	_, err = admin.RegisterTaskDefinition(ctx, &sdkecs.RegisterTaskDefinitionInput{
		Family: aws.String("web"),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("app"), Image: aws.String("berth.test/busybox:latest"), Memory: aws.Int32(64), Essential: aws.Bool(true),
			HealthCheck: &types.HealthCheck{Command: []string{"CMD", "true"}},
		}},
	})
	if err != nil {
		t.Fatalf("register task definition: %v", err)
	}
	run, err := admin.RunTask(ctx, &sdkecs.RunTaskInput{TaskDefinition: aws.String("web")})
	if err != nil || len(run.Tasks) != 1 {
		t.Fatalf("run task: %v %+v", err, run)
	}
	taskARN := aws.ToString(run.Tasks[0].TaskArn)
	payload := eng.next(t, "RUNNING")
	if payload.ARN != taskARN || len(payload.Containers) != 1 || payload.Containers[0].Image != "berth.test/busybox:latest" {
		t.Fatalf("payload task = %+v", payload)
	}

	// Reports through the engine's Reporter, as the engine would send them.
	rep := &engineReporter{cluster: DefaultCluster, rep: &stateReporter{api: api, timing: cfg.Timing, log: log}, health: health}
	exit0 := 0
	err = rep.ReportTask(ctx, engine.TaskChange{TaskARN: taskARN, Status: ecs.TaskRunning, Containers: []engine.ContainerChange{{
		TaskARN: taskARN, ContainerName: "app", RuntimeID: "rt-app", Status: "RUNNING"}}})
	if err != nil {
		t.Fatalf("report RUNNING: %v", err)
	}
	rep.ReportHealth(ctx, engine.HealthChange{TaskARN: taskARN, ClusterARN: payload.TaskClusterARN, Family: "web", Version: "1",
		Containers: []engine.ContainerHealth{{Name: "app", Status: "HEALTHY", Since: time.Now()}}})
	waitFor(t, "task RUNNING and HEALTHY", func() bool {
		d, err := admin.DescribeTasks(ctx, &sdkecs.DescribeTasksInput{Tasks: []string{taskARN}})
		return err == nil && len(d.Tasks) == 1 && aws.ToString(d.Tasks[0].LastStatus) == "RUNNING" &&
			d.Tasks[0].HealthStatus == types.HealthStatusHealthy && aws.ToString(d.Tasks[0].Containers[0].RuntimeId) == "rt-app"
	})

	// StopTask: a STOPPED payload; the STOPPED report is accepted.
	if _, err := admin.StopTask(ctx, &sdkecs.StopTaskInput{Task: aws.String(taskARN), Reason: aws.String("test")}); err != nil {
		t.Fatalf("stop task: %v", err)
	}
	eng.next(t, "STOPPED")
	err = rep.ReportTask(ctx, engine.TaskChange{TaskARN: taskARN, Status: ecs.TaskStopped, ExecutionStoppedAt: time.Now(),
		Containers: []engine.ContainerChange{{TaskARN: taskARN, ContainerName: "app", RuntimeID: "rt-app", Status: "STOPPED", ExitCode: &exit0}}})
	if err != nil {
		t.Fatalf("report STOPPED: %v", err)
	}
	d, err := admin.DescribeTasks(ctx, &sdkecs.DescribeTasksInput{Tasks: []string{taskARN}})
	if err != nil || aws.ToString(d.Tasks[0].LastStatus) != "STOPPED" || aws.ToInt32(d.Tasks[0].Containers[0].ExitCode) != 0 ||
		d.Tasks[0].StopCode != types.TaskStopCodeUserInitiated {
		t.Fatalf("stopped task = %+v %v", d, err)
	}

	// A report by another credential (even an administrator) is refused
	// and given up after one attempt.
	adminCreds := aws.Credentials{AccessKeyID: srv.Admin.AccessKeyID, SecretAccessKey: srv.Admin.SecretAccessKey}
	deniedAPI := &countingSubmitAPI{submitAPI: newECSClient(&cfg, adminCreds, nil)}
	denied := &stateReporter{api: deniedAPI, timing: cfg.Timing, log: log}
	if err := denied.deliver(ctx, report{task: &sdkecs.SubmitTaskStateChangeInput{Cluster: aws.String(DefaultCluster), Task: aws.String(taskARN), Status: aws.String("STOPPED")}}); err != nil || deniedAPI.calls != 1 {
		t.Errorf("deliver by a non-owner = %v after %d calls, want given up (nil) after 1", err, deniedAPI.calls)
	}

	// Deregistration: the server closes ACS with InactiveInstanceException.
	if _, err := admin.DeregisterContainerInstance(ctx, &sdkecs.DeregisterContainerInstanceInput{ContainerInstance: aws.String(arn), Force: aws.Bool(true)}); err != nil {
		t.Fatalf("deregister: %v", err)
	}
	select {
	case err := <-acsDone:
		if !errors.Is(err, ErrInstanceInactive) {
			t.Fatalf("ACS run = %v, want ErrInstanceInactive", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ACS did not report the deregistration")
	}
	// Re-registering as the deregistered instance fails with a clear error.
	if _, err := register(ctx, api, &again, cfg.Timing, log); !errors.Is(err, ErrRegistration) || !strings.Contains(err.Error(), "remove the agent's data dir") {
		t.Errorf("re-register after deregistration: %v, want a registration error saying what to do", err)
	}
}
