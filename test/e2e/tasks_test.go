package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/berth/berth/internal/testimage"
)

// agentNamespace is the containerd namespace Berth's agent runs tasks in.
const agentNamespace = "berth"

// startDevWithAgent starts `berth dev` with its agent and waits for the
// agent's container instance to be ACTIVE and connected.
func startDevWithAgent(t *testing.T, dataDir, addr string) *berthProc {
	t.Helper()
	// No introspection API: its fixed port (51678, as ECS's) lies in the
	// kernel's ephemeral range, where a client connection of another test
	// may hold it.
	b, err := startBerthArgs(dataDir, addr, "--introspection-port", "0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.stopIfRunning)
	cli := b.cli()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out := cli.ok(t, "ecs", "list-container-instances", "--cluster", "default")
		if arns, _ := out["containerInstanceArns"].([]any); len(arns) == 1 {
			d := cli.ok(t, "ecs", "describe-container-instances", "--cluster", "default", "--container-instances", arns[0].(string))
			ci := d["containerInstances"].([]any)[0].(map[string]any)
			if ci["agentConnected"] == true && ci["status"] == "ACTIVE" {
				return b
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent of berth dev did not connect within 60s\n--- stderr:\n%s", b.stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func taskARNs(t *testing.T, out map[string]any) []string {
	t.Helper()
	var arns []string
	for _, x := range out["tasks"].([]any) {
		arns = append(arns, x.(map[string]any)["taskArn"].(string))
	}
	return arns
}

func describeTasks(t *testing.T, cli awsCLI, arns []string) []map[string]any {
	t.Helper()
	out := cli.ok(t, append([]string{"ecs", "describe-tasks", "--cluster", "default", "--tasks"}, arns...)...)
	var tasks []map[string]any
	for _, x := range out["tasks"].([]any) {
		tasks = append(tasks, x.(map[string]any))
	}
	if len(tasks) != len(arns) {
		t.Fatalf("describe-tasks returned %d tasks for %d ARNs: %v", len(tasks), len(arns), out)
	}
	return tasks
}

func container0(t *testing.T, task map[string]any) map[string]any {
	t.Helper()
	cs, _ := task["containers"].([]any)
	if len(cs) == 0 {
		t.Fatalf("task has no containers: %v", task)
	}
	return cs[0].(map[string]any)
}

func hostPort(t *testing.T, task map[string]any) string {
	t.Helper()
	nb, _ := container0(t, task)["networkBindings"].([]any)
	if len(nb) != 1 {
		t.Fatalf("want one network binding, got %v", container0(t, task))
	}
	return fmt.Sprint(nb[0].(map[string]any)["hostPort"])
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	var last error
	for range 50 { // the server process may need a moment after RUNNING
		resp, err := c.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return string(b)
			}
			last = fmt.Errorf("status %d", resp.StatusCode)
		} else {
			last = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, last)
	return ""
}

// containersOfTask counts the containerd containers labelled with task.
func containersOfTask(t *testing.T, taskARN string) int {
	t.Helper()
	c, err := client.New(testimage.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(context.Background(), agentNamespace)
	list, err := c.Containers(ctx, fmt.Sprintf(`labels."com.amazonaws.ecs.task-arn"==%q`, taskARN))
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

// removeTaskContainers deletes the containers of tasks a test ran: the
// agent keeps stopped tasks' containers for an hour, longer than the
// test's berth dev lives.
func removeTaskContainers(t *testing.T, taskARNs []string) {
	c, err := client.New(testimage.Socket)
	if err != nil {
		t.Log(err)
		return
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(context.Background(), agentNamespace)
	for _, arn := range taskARNs {
		list, err := c.Containers(ctx, fmt.Sprintf(`labels."com.amazonaws.ecs.task-arn"==%q`, arn))
		if err != nil {
			t.Log(err)
			continue
		}
		for _, ctr := range list {
			if task, err := ctr.Task(ctx, nil); err == nil {
				task.Delete(ctx, client.WithProcessKill)
			}
			if err := ctr.Delete(ctx, client.WithSnapshotCleanup); err != nil {
				t.Logf("remove container %s: %v", ctr.ID(), err)
			}
		}
	}
}

// TestRunTaskWithAgent is the "must show" with the real aws CLI:
// run-task --count 2 → wait tasks-running → both containers answer on their
// host ports → stop-task → STOPPED with exit codes and the reason. Then
// berth dev is killed with -9 mid-task and restarted: the running task is
// adopted (same container, no duplicate) and still serves.
func TestRunTaskWithAgent(t *testing.T) {
	requireAWS(t)
	testimage.RequireContainerd(t)
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	b := startDevWithAgent(t, dataDir, addr)
	cli := b.cli()

	// The README's walk-through: its task definition uses the image berth
	// dev imports (berth.local/busybox:latest) and serves HTTP from httpd.
	cli.ok(t, "ecs", "register-task-definition", "--cli-input-json", "file://docs/examples/web-taskdef.json")

	run := cli.ok(t, "ecs", "run-task", "--cluster", "default", "--task-definition", "web", "--count", "2")
	if f, _ := run["failures"].([]any); len(f) != 0 {
		t.Fatalf("run-task failures: %v", f)
	}
	arns := taskARNs(t, run)
	t.Cleanup(func() { removeTaskContainers(t, arns) })
	if len(arns) != 2 {
		t.Fatalf("run-task started %d tasks, want 2", len(arns))
	}
	cli.ok(t, append([]string{"ecs", "wait", "tasks-running", "--cluster", "default", "--tasks"}, arns...)...)

	tasks := describeTasks(t, cli, arns)
	ports := map[string]bool{}
	for _, task := range tasks {
		if task["lastStatus"] != "RUNNING" {
			t.Fatalf("task not RUNNING after the waiter: %v", task)
		}
		port := hostPort(t, task)
		ports[port] = true
		// The container's hostname is its runtime id's first 12 characters
		// (the task id's): the answer proves the port reaches this task.
		body := httpGet(t, "http://127.0.0.1:"+port+"/")
		taskID := task["taskArn"].(string)[strings.LastIndex(task["taskArn"].(string), "/")+1:]
		if strings.TrimSpace(body) != "hello from "+taskID[:12] {
			t.Fatalf("127.0.0.1:%s answered %q, want hello from %s", port, body, taskID[:12])
		}
		if rt, _ := container0(t, task)["runtimeId"].(string); rt == "" {
			t.Errorf("container has no runtimeId: %v", container0(t, task))
		}
	}
	if len(ports) != 2 {
		t.Fatalf("the two tasks share a host port: %v", ports)
	}

	// Adoption: kill berth dev (server and agent) with -9, restart it, and
	// the tasks keep running in the same containers.
	before := describeTasks(t, cli, arns[:1])[0]
	if err := b.kill9(); err != nil {
		t.Fatal(err)
	}
	b = startDevWithAgent(t, dataDir, addr)
	cli = b.cli()
	after := describeTasks(t, cli, arns[:1])[0]
	if after["lastStatus"] != "RUNNING" || container0(t, after)["runtimeId"] != container0(t, before)["runtimeId"] {
		t.Fatalf("after kill -9 and restart the task is not the same running container:\nbefore %v\nafter  %v", before, after)
	}
	if n := containersOfTask(t, arns[0]); n != 1 {
		t.Fatalf("task %s has %d containers in containerd after the restart, want 1", arns[0], n)
	}
	httpGet(t, "http://127.0.0.1:"+hostPort(t, after)+"/")

	for _, arn := range arns {
		cli.ok(t, "ecs", "stop-task", "--cluster", "default", "--task", arn, "--reason", "e2e: done")
	}
	cli.ok(t, append([]string{"ecs", "wait", "tasks-stopped", "--cluster", "default", "--tasks"}, arns...)...)
	for _, task := range describeTasks(t, cli, arns) {
		c := container0(t, task)
		if task["lastStatus"] != "STOPPED" || task["stopCode"] != "UserInitiated" || task["stoppedReason"] != "e2e: done" {
			t.Errorf("stopped task: %v", task)
		}
		// httpd does not catch SIGTERM: it dies of it, exit code 128+15.
		if fmt.Sprint(c["exitCode"]) != "143" || c["lastStatus"] != "STOPPED" {
			t.Errorf("stopped container: exitCode %v lastStatus %v", c["exitCode"], c["lastStatus"])
		}
		for _, k := range []string{"createdAt", "startedAt", "stoppingAt", "stoppedAt", "executionStoppedAt"} {
			if task[k] == nil {
				t.Errorf("stopped task has no %s: %v", k, task)
			}
		}
	}
	if err := b.terminate(); err != nil {
		t.Fatalf("%v\n--- stderr:\n%s", err, b.stderr)
	}
}
