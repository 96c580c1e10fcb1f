package e2e

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/berth/berth/internal/testimage"
)

// describeService returns the one service describe-services reports.
func describeService(t *testing.T, cli awsCLI, name string) map[string]any {
	t.Helper()
	out := cli.ok(t, "ecs", "describe-services", "--cluster", "default", "--services", name)
	svcs, _ := out["services"].([]any)
	if len(svcs) != 1 {
		t.Fatalf("describe-services %s: want one service, got %v", name, out)
	}
	return svcs[0].(map[string]any)
}

// serviceTasks lists the service's task ARNs with the given desired status.
func serviceTasks(t *testing.T, cli awsCLI, name, desired string) []string {
	t.Helper()
	out := cli.ok(t, "ecs", "list-tasks", "--cluster", "default", "--service-name", name, "--desired-status", desired)
	var arns []string
	for _, x := range out["taskArns"].([]any) {
		arns = append(arns, x.(string))
	}
	return arns
}

// killContainer sends SIGKILL to the process of containerd container id
// (the agent's namespace), as `kill -9` on its pid would.
func killContainer(t *testing.T, id string) {
	t.Helper()
	c, err := client.New(testimage.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(context.Background(), agentNamespace)
	ctr, err := c.LoadContainer(ctx, id)
	if err != nil {
		t.Fatalf("load container %s: %v", id, err)
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		t.Fatalf("task of container %s: %v", id, err)
	}
	pid := task.Pid()
	if pid == 0 {
		t.Fatalf("container %s has no process", id)
	}
	if err := syscall.Kill(int(pid), syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d (container %s): %v", pid, id, err)
	}
}

// rolloutSample is one describe-services observation during a rollout.
type rolloutSample struct {
	running, pending, deployments int
}

// sampleService polls DescribeServices through the SDK until stop is
// closed and returns what it saw and the first error.
func sampleService(ecsc *sdkecs.Client, name string, stop <-chan struct{}) ([]rolloutSample, error) {
	var samples []rolloutSample
	for {
		select {
		case <-stop:
			return samples, nil
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := ecsc.DescribeServices(ctx, &sdkecs.DescribeServicesInput{Cluster: aws.String("default"), Services: []string{name}})
		cancel()
		if err != nil {
			return samples, fmt.Errorf("DescribeServices: %w", err)
		}
		if len(out.Services) != 1 {
			return samples, fmt.Errorf("DescribeServices returned %d services", len(out.Services))
		}
		s := out.Services[0]
		samples = append(samples, rolloutSample{running: int(s.RunningCount), pending: int(s.PendingCount), deployments: len(s.Deployments)})
		time.Sleep(100 * time.Millisecond)
	}
}

// TestServiceLifecycleWithAgent is issue 4's "must show" with the real aws
// CLI, the agent and real containers: create-service --desired-count 3 →
// wait services-stable → kill -9 one task's process and see the service
// replace it → update-service to a new revision → wait services-stable
// while sampling runningCount, which never drops below 3
// (minimumHealthyPercent 100) → desired count 0 → delete-service → wait
// services-inactive.
func TestServiceLifecycleWithAgent(t *testing.T) {
	requireAWS(t)
	testimage.RequireContainerd(t)
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	b := startDevWithAgent(t, dataDir, addr)
	cli := b.cli()

	var seenMu sync.Mutex
	seen := map[string]bool{}
	see := func(arns ...string) {
		seenMu.Lock()
		defer seenMu.Unlock()
		for _, a := range arns {
			seen[a] = true
		}
	}
	// Cleanup: list every task of the service, stop berth (so that nothing
	// replaces what is removed), then remove the containers.
	t.Cleanup(func() {
		select {
		case <-b.exited: // terminated at the end, after every task was seen
		default:
			for _, desired := range []string{"RUNNING", "STOPPED"} {
				res := cli.run(t, "ecs", "list-tasks", "--cluster", "default", "--family", "web", "--desired-status", desired)
				if m, err := decodeObject(res.stdout); res.code == 0 && err == nil {
					for _, x := range m["taskArns"].([]any) {
						see(x.(string))
					}
				}
			}
		}
		b.stopIfRunning()
		seenMu.Lock()
		defer seenMu.Unlock()
		removeTaskContainers(t, slices.Sorted(maps.Keys(seen)))
	})

	cli.ok(t, "ecs", "register-task-definition", "--cli-input-json", "file://docs/examples/web-taskdef.json")
	created := cli.ok(t, "ecs", "create-service", "--cluster", "default", "--service-name", "web",
		"--task-definition", "web", "--desired-count", "3")
	svc := created["service"].(map[string]any)
	if want := "arn:aws:ecs:" + region + ":" + account + ":service/default/web"; svc["serviceArn"] != want {
		t.Errorf("serviceArn %v, want %s", svc["serviceArn"], want)
	}
	dc, _ := svc["deploymentConfiguration"].(map[string]any)
	if fmt.Sprint(dc["minimumHealthyPercent"]) != "100" || fmt.Sprint(dc["maximumPercent"]) != "200" {
		t.Errorf("deploymentConfiguration %v, want ECS's defaults 100/200", dc)
	}
	cli.ok(t, "ecs", "wait", "services-stable", "--cluster", "default", "--services", "web")
	svc = describeService(t, cli, "web")
	if fmt.Sprint(svc["runningCount"]) != "3" || len(svc["deployments"].([]any)) != 1 {
		t.Fatalf("after services-stable: %v", svc)
	}
	first := serviceTasks(t, cli, "web", "RUNNING")
	see(first...)
	if len(first) != 3 {
		t.Fatalf("service web has %d RUNNING tasks, want 3: %v", len(first), first)
	}
	tasks := describeTasks(t, cli, first)
	for _, task := range tasks {
		if task["lastStatus"] != "RUNNING" || task["group"] != "service:web" {
			t.Fatalf("service task: %v", task)
		}
		httpGet(t, "http://127.0.0.1:"+hostPort(t, task)+"/")
	}

	// kill -9 one task's process: the agent reports it STOPPED and the
	// service starts a replacement.
	victim := tasks[0]["taskArn"].(string)
	runtimeID, _ := container0(t, tasks[0])["runtimeId"].(string)
	if runtimeID == "" {
		t.Fatalf("task has no runtimeId: %v", tasks[0])
	}
	killContainer(t, runtimeID)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		running := serviceTasks(t, cli, "web", "RUNNING")
		see(running...)
		svc = describeService(t, cli, "web")
		victimNow := describeTasks(t, cli, []string{victim})[0]
		if victimNow["lastStatus"] == "STOPPED" && len(running) == 3 && !slices.Contains(running, victim) &&
			fmt.Sprint(svc["runningCount"]) == "3" {
			rt := describeTasks(t, cli, running)
			allRunning := true
			for _, task := range rt {
				allRunning = allRunning && task["lastStatus"] == "RUNNING"
			}
			if allRunning {
				c := container0(t, victimNow)
				if fmt.Sprint(c["exitCode"]) != "137" {
					t.Errorf("killed container: exitCode %v, want 137 (SIGKILL)", c["exitCode"])
				}
				t.Logf("killed task %s (%v), replaced: %v", victim, victimNow["stoppedReason"], running)
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the killed task was not replaced within 2 minutes:\nvictim %v\nrunning %v\nservice %v\n--- stderr:\n%s",
				victimNow, running, svc, b.stderr)
		}
		time.Sleep(500 * time.Millisecond)
	}
	cli.ok(t, "ecs", "wait", "services-stable", "--cluster", "default", "--services", "web")

	// Roll out revision 2 while sampling runningCount through the SDK.
	cli.ok(t, "ecs", "register-task-definition", "--cli-input-json", "file://docs/examples/web-taskdef.json")
	keyID, secret := readCredentials(t, filepath.Join(dataDir, "credentials"))
	ecsc := sdkecs.New(sdkecs.Options{
		Region:       region,
		BaseEndpoint: aws.String(b.endpoint()),
		Credentials:  credentials.NewStaticCredentialsProvider(keyID, secret, ""),
	})
	stop := make(chan struct{})
	var samples []rolloutSample
	var sampleErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		samples, sampleErr = sampleService(ecsc, "web", stop)
	}()
	stopSampler := sync.OnceFunc(func() { close(stop); <-done })
	t.Cleanup(stopSampler)
	updated := cli.ok(t, "ecs", "update-service", "--cluster", "default", "--service", "web", "--task-definition", "web:2")
	if td, _ := updated["service"].(map[string]any)["taskDefinition"].(string); !strings.HasSuffix(td, ":task-definition/web:2") {
		t.Errorf("update-service: taskDefinition %q, want web:2", td)
	}
	cli.ok(t, "ecs", "wait", "services-stable", "--cluster", "default", "--services", "web")
	stopSampler()
	if sampleErr != nil {
		t.Fatal(sampleErr)
	}
	minRunning, maxTotal, sawRollout := 1<<30, 0, false
	var counts []string
	for _, s := range samples {
		minRunning = min(minRunning, s.running)
		maxTotal = max(maxTotal, s.running+s.pending)
		sawRollout = sawRollout || s.deployments > 1
		counts = append(counts, fmt.Sprintf("%d+%d", s.running, s.pending))
	}
	t.Logf("rollout: %d samples of running+pending: %s", len(samples), strings.Join(counts, " "))
	if !sawRollout {
		t.Fatalf("no sample saw two deployments: the rollout was not observed (%d samples)", len(samples))
	}
	if minRunning < 3 {
		t.Errorf("runningCount dropped to %d during the rollout, below the floor 3 (minimumHealthyPercent 100)", minRunning)
	}
	if maxTotal > 6 {
		t.Errorf("running+pending reached %d during the rollout, above the ceiling 6 (maximumPercent 200)", maxTotal)
	}
	svc = describeService(t, cli, "web")
	deps := svc["deployments"].([]any)
	if len(deps) != 1 || fmt.Sprint(svc["runningCount"]) != "3" {
		t.Fatalf("after the rollout: %v", svc)
	}
	if d := deps[0].(map[string]any); d["rolloutState"] != "COMPLETED" || !strings.HasSuffix(fmt.Sprint(d["taskDefinition"]), "web:2") {
		t.Errorf("deployment after the rollout: %v", d)
	}
	second := serviceTasks(t, cli, "web", "RUNNING")
	see(second...)
	for _, task := range describeTasks(t, cli, second) {
		if !strings.HasSuffix(fmt.Sprint(task["taskDefinitionArn"]), ":task-definition/web:2") || task["lastStatus"] != "RUNNING" {
			t.Errorf("task after the rollout: %v %v", task["taskDefinitionArn"], task["lastStatus"])
		}
	}
	events, _ := svc["events"].([]any)
	if len(events) == 0 || !strings.Contains(fmt.Sprint(events[0].(map[string]any)["message"]), "(service web) has reached a steady state.") {
		t.Errorf("newest event is not the steady state: %v", events)
	}

	// Scale to zero, delete, and wait until INACTIVE.
	cli.ok(t, "ecs", "update-service", "--cluster", "default", "--service", "web", "--desired-count", "0")
	cli.ok(t, "ecs", "delete-service", "--cluster", "default", "--service", "web")
	cli.ok(t, "ecs", "wait", "services-inactive", "--cluster", "default", "--services", "web")
	svc = describeService(t, cli, "web")
	if svc["status"] != "INACTIVE" {
		t.Fatalf("after services-inactive: %v", svc)
	}
	if left := serviceTasks(t, cli, "web", "RUNNING"); len(left) != 0 {
		t.Errorf("tasks still desired RUNNING after delete: %v", left)
	}
	see(serviceTasks(t, cli, "web", "STOPPED")...)
	if err := b.terminate(); err != nil {
		t.Fatalf("%v\n--- stderr:\n%s", err, b.stderr)
	}
}
