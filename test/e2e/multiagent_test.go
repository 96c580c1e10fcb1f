package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/berth/berth/internal/testimage"
)

// multiTaskDef is the tasks' definition: bridge mode without port
// mappings (the agents share the host's ports and each control plane
// hands out dynamic host ports on its own), a shell that ends at once on
// SIGTERM so that stops take no grace period.
const multiTaskDef = `{
  "family": "multi",
  "networkMode": "bridge",
  "containerDefinitions": [{
    "name": "app",
    "image": "` + testimage.DefaultRef + `",
    "essential": true,
    "cpu": 8,
    "memory": 16,
    "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
  }]
}`

// TestMultiAgent runs Berth's scheduler against real instances: one
// `berth dev --no-agent` and three `berth agent` processes on this
// machine (zones zone-a, zone-b, zone-c; b has the attribute
// tier=special), each with its own containerd namespace and network
// namespace, driven with the real aws CLI and running real containers.
// The subtests share the cluster and run in order; lost-instance kills an
// agent and so comes last.
func TestMultiAgent(t *testing.T) {
	e := startMultiEnv(t)
	e.cli.ok(t, "ecs", "register-task-definition", "--cli-input-json", multiTaskDef)
	t.Run("placement", e.testPlacement)
	t.Run("draining", e.testDraining)
	t.Run("lost-instance", e.testLostInstance)
}

// testPlacement: spread over zones, memberOf on a custom attribute and
// distinctInstance, each checked on the instances and in containerd.
func (e *multiEnv) testPlacement(t *testing.T) {
	var started []string
	t.Cleanup(func() { e.stopTasks(t, started) })

	// spread(attribute:ecs.availability-zone), 6 tasks over 3 zones.
	out := e.cli.ok(t, "ecs", "run-task", "--cluster", "default", "--task-definition", "multi",
		"--count", "6", "--group", "spread", "--placement-strategy", "type=spread,field=attribute:ecs.availability-zone")
	wantNoFailures(t, out)
	spread := taskARNs(t, out)
	started = append(started, spread...)
	e.waitTasksRunning(t, spread)
	if got := countsString(e.placement(t, spread)); got != "a=2 b=2 c=2" {
		t.Errorf("spread over zones placed %s, want a=2 b=2 c=2", got)
	}

	// memberOf(attribute:tier == special): only agent b has it.
	out = e.cli.ok(t, "ecs", "run-task", "--cluster", "default", "--task-definition", "multi",
		"--count", "3", "--group", "special",
		"--placement-constraints", `[{"type": "memberOf", "expression": "attribute:tier == special"}]`)
	wantNoFailures(t, out)
	special := taskARNs(t, out)
	started = append(started, special...)
	e.waitTasksRunning(t, special)
	if got := countsString(e.placement(t, special)); got != "b=3" {
		t.Errorf("memberOf(attribute:tier == special) placed %s, want b=3", got)
	}

	// distinctInstance with 4 tasks and 3 instances: ECS places 3, one per
	// instance, and answers the fourth with failures naming the
	// constraint. The group is the request's: the tasks above are in other
	// groups and do not count.
	out = e.cli.ok(t, "ecs", "run-task", "--cluster", "default", "--task-definition", "multi",
		"--count", "4", "--group", "distinct", "--placement-constraints", `[{"type": "distinctInstance"}]`)
	distinct := taskARNs(t, out)
	started = append(started, distinct...)
	if len(distinct) != 3 {
		t.Fatalf("distinctInstance with 4 tasks on 3 instances started %d tasks, want 3: %v", len(distinct), out)
	}
	e.waitTasksRunning(t, distinct)
	if got := countsString(e.placement(t, distinct)); got != "a=1 b=1 c=1" {
		t.Errorf("distinctInstance placed %s, want a=1 b=1 c=1", got)
	}
	fails, _ := out["failures"].([]any)
	failed := map[string]bool{}
	for _, x := range fails {
		f := x.(map[string]any)
		if f["reason"] != "DistinctInstance placement constraint unsatisfied." || e.agentByARN(fmt.Sprint(f["arn"])) == nil {
			t.Errorf("failure %v: want an instance ARN and reason %q", f, "DistinctInstance placement constraint unsatisfied.")
		}
		failed[fmt.Sprint(f["arn"])] = true
	}
	if len(failed) != 3 {
		t.Errorf("failures %v: want one per instance (each turned the fourth task down)", fails)
	}
	t.Logf("distinctInstance failures: %v", fails)
}

// testDraining: a REPLICA service of 3 (default strategies: one task per
// zone) and a standalone task on instance a. Draining a moves the
// service's task off it, starting the replacement before stopping the old
// task; the standalone task stays.
func (e *multiEnv) testDraining(t *testing.T) {
	const svc = "drain"
	a := e.agents[0]
	var standalone []string
	t.Cleanup(func() {
		e.cli.run(t, "ecs", "update-container-instances-state", "--cluster", "default",
			"--container-instances", a.arn, "--status", "ACTIVE")
		e.deleteService(t, svc)
		e.stopTasks(t, standalone)
	})

	e.cli.ok(t, "ecs", "create-service", "--cluster", "default", "--service-name", svc,
		"--task-definition", "multi", "--desired-count", "3")
	first := e.waitServiceRunning(t, svc, 3, nil)
	if got := countsString(e.placement(t, first)); got != "a=1 b=1 c=1" {
		t.Fatalf("service with the default strategies placed %s, want a=1 b=1 c=1 (spread over zones)", got)
	}
	var old string
	for _, task := range describeTasks(t, e.cli, first) {
		if task["containerInstanceArn"] == a.arn {
			old = task["taskArn"].(string)
		}
	}

	out := e.cli.ok(t, "ecs", "start-task", "--cluster", "default", "--task-definition", "multi",
		"--container-instances", a.arn, "--group", "standalone")
	wantNoFailures(t, out)
	standalone = taskARNs(t, out)
	e.waitTasksRunning(t, standalone)

	// Drain a while sampling the service's counts.
	stop := make(chan struct{})
	var samples []rolloutSample
	var sampleErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		samples, sampleErr = sampleService(e.sdk, svc, stop)
	}()
	stopSampler := sync.OnceFunc(func() { close(stop); <-done })
	t.Cleanup(stopSampler)

	out = e.cli.ok(t, "ecs", "update-container-instances-state", "--cluster", "default",
		"--container-instances", a.arn, "--status", "DRAINING")
	if cis, _ := out["containerInstances"].([]any); len(cis) != 1 || cis[0].(map[string]any)["status"] != "DRAINING" {
		t.Fatalf("update-container-instances-state DRAINING answered %v", out)
	}
	second := e.waitServiceRunning(t, svc, 3, func(arns []string) string {
		if slices.Contains(arns, old) {
			return "the task on the draining instance still runs"
		}
		return ""
	})
	stopSampler()
	if sampleErr != nil {
		t.Fatal(sampleErr)
	}

	// What moved: exactly the task on a, to b or c.
	counts := e.placement(t, second)
	if counts["a"] != 0 || counts["b"]+counts["c"] != 3 || max(counts["b"], counts["c"]) != 2 {
		t.Errorf("after draining a the service's tasks are on %s, want none on a and 2+1 on b and c", countsString(counts))
	}
	added := slices.DeleteFunc(slices.Clone(second), func(s string) bool { return slices.Contains(first, s) })
	if len(added) != 1 {
		t.Fatalf("draining started %d tasks, want 1: before %v after %v", len(added), first, second)
	}
	e.wantOnlyStopped(t, svc, []string{old})

	// New one first: with minimumHealthyPercent 100 the old task is told to
	// stop only once its replacement runs, and runningCount never drops.
	got := e.sdkTasks(t, []string{old, added[0]})
	if got[0].StoppingAt == nil || got[1].StartedAt == nil || got[0].StoppingAt.Before(*got[1].StartedAt) {
		t.Errorf("the old task was told to stop (stoppingAt %v) before its replacement started (startedAt %v)",
			got[0].StoppingAt, got[1].StartedAt)
	}
	if got[0].StopCode != types.TaskStopCodeServiceSchedulerInitiated {
		t.Errorf("old task stopCode %q, want ServiceSchedulerInitiated", got[0].StopCode)
	}
	minRunning, maxLive := 1<<30, 0
	var seen []string
	for _, s := range samples {
		minRunning = min(minRunning, s.running)
		maxLive = max(maxLive, s.running+s.pending)
		seen = append(seen, fmt.Sprintf("%d+%d", s.running, s.pending))
	}
	t.Logf("drain: %d samples of running+pending: %s", len(samples), compactSamples(seen))
	if len(samples) == 0 {
		t.Fatal("no sample of the service was taken while draining")
	}
	if minRunning < 3 {
		t.Errorf("runningCount dropped to %d while draining, below the floor 3 (minimumHealthyPercent 100)", minRunning)
	}
	if maxLive > 6 {
		t.Errorf("running+pending reached %d while draining, above the ceiling 6 (maximumPercent 200)", maxLive)
	}

	// The standalone task is not the service's business: it stays.
	for _, task := range describeTasks(t, e.cli, standalone) {
		if task["lastStatus"] != "RUNNING" || task["desiredStatus"] != "RUNNING" || task["containerInstanceArn"] != a.arn {
			t.Errorf("standalone task on the drained instance: %v %v on %v, want RUNNING on a",
				task["lastStatus"], task["desiredStatus"], task["containerInstanceArn"])
		}
	}
	onA := e.cli.ok(t, "ecs", "list-tasks", "--cluster", "default", "--container-instance", a.arn, "--desired-status", "RUNNING")
	if got := strSlice(onA["taskArns"]); !slices.Equal(got, standalone) {
		t.Errorf("tasks desired RUNNING on the drained instance: %v, want only the standalone %v", got, standalone)
	}

	oldID, newID := lastSegment(old), lastSegment(added[0])
	e.wantEvents(t, svc,
		fmt.Sprintf("(service %s) has started 1 tasks: (task %s).", svc, newID),
		fmt.Sprintf("(service %s) has stopped 1 running tasks: (task %s).", svc, oldID),
		fmt.Sprintf("(service %s) has reached a steady state.", svc))

	out = e.cli.ok(t, "ecs", "update-container-instances-state", "--cluster", "default",
		"--container-instances", a.arn, "--status", "ACTIVE")
	if cis, _ := out["containerInstances"].([]any); len(cis) != 1 || cis[0].(map[string]any)["status"] != "ACTIVE" {
		t.Errorf("update-container-instances-state ACTIVE answered %v", out)
	}
}

// testLostInstance: kill -9 the agent of an instance that runs a service
// task. Its websocket closes (agentConnected false at once); after
// --instance-lost-after the service controller records the task STOPPED
// and replaces it elsewhere, and says why in the service's events.
func (e *multiEnv) testLostInstance(t *testing.T) {
	const svc = "lost"
	victim := e.agents[2]
	if !victim.running() {
		t.Fatalf("agent %s is not running", victim.spec.name)
	}
	t.Cleanup(func() { e.deleteService(t, svc) })

	e.cli.ok(t, "ecs", "create-service", "--cluster", "default", "--service-name", svc,
		"--task-definition", "multi", "--desired-count", "3")
	first := e.waitServiceRunning(t, svc, 3, nil)
	var old string
	for _, task := range describeTasks(t, e.cli, first) {
		if task["containerInstanceArn"] == victim.arn {
			old = task["taskArn"].(string)
		}
	}
	if old == "" {
		t.Fatalf("no task of service %s on agent %s: %v", svc, victim.spec.name, first)
	}

	killedAt := time.Now()
	if err := victim.kill9(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the killed agent's instance to show agentConnected false", func() (bool, string) {
		ci := e.sdkInstance(t, victim.arn)
		return !ci.AgentConnected, fmt.Sprintf("agentConnected %v", ci.AgentConnected)
	})

	second := e.waitServiceRunning(t, svc, 3, func(arns []string) string {
		if slices.Contains(arns, old) {
			return "the lost instance's task is still desired RUNNING"
		}
		return ""
	})
	counts := e.placement(t, second)
	if counts[victim.spec.name] != 0 || len(second) != 3 {
		t.Errorf("after losing %s the service's tasks are on %s, want none there", victim.spec.name, countsString(counts))
	}
	e.wantOnlyStopped(t, svc, []string{old})

	instID := lastSegment(victim.arn)
	why := fmt.Sprintf("was lost: its agent has not been heard from for more than %s", multiLostAfter)
	lost := describeTasks(t, e.cli, []string{old})[0]
	if lost["lastStatus"] != "STOPPED" || lost["stopCode"] != "ServiceSchedulerInitiated" ||
		lost["stoppedReason"] != "Container instance "+instID+" "+why {
		t.Errorf("the lost instance's task: lastStatus %v stopCode %v stoppedReason %q, want STOPPED, ServiceSchedulerInitiated, %q",
			lost["lastStatus"], lost["stopCode"], lost["stoppedReason"], "Container instance "+instID+" "+why)
	}
	// The agent was connected until it died: its instance may count as
	// lost only --instance-lost-after later (a second of slack for the
	// wire's millisecond timestamps).
	switch stopping := e.sdkTasks(t, []string{old})[0].StoppingAt; {
	case stopping == nil:
		t.Errorf("the lost instance's task has no stoppingAt")
	case stopping.Before(killedAt.Add(multiLostAfter - time.Second)):
		t.Errorf("BERTH BUG: the service controller gave up the killed agent's task at %v, %v after the kill, before --instance-lost-after %s had passed",
			stopping, stopping.Sub(killedAt), multiLostAfter)
	}
	e.wantEvents(t, svc,
		fmt.Sprintf("(service %s) (container-instance %s) %s. Replacing its 1 tasks: (task %s).", svc, instID, why, lastSegment(old)),
		fmt.Sprintf("(service %s) has reached a steady state.", svc))

	// Nobody told the killed agent: its container still runs in its
	// namespace until the test's clean-up removes it.
	if n := containersIn(t, victim.ns, old); n != 1 {
		t.Errorf("the killed agent's namespace has %d containers of its task, want 1 (it keeps running)", n)
	}
}

// waitServiceRunning waits until the service has want tasks desired
// RUNNING, all RUNNING and no other task of the service still stopping,
// and extra (if given) has no complaint; then the CLI's services-stable
// waiter must agree. It returns the running tasks' ARNs.
func (e *multiEnv) waitServiceRunning(t *testing.T, svc string, want int, extra func([]string) string) []string {
	t.Helper()
	var arns []string
	waitFor(t, 90*time.Second, "service "+svc+" to run "+fmt.Sprint(want)+" tasks", func() (bool, string) {
		arns = e.sdkList(t, &sdkecs.ListTasksInput{ServiceName: aws.String(svc), DesiredStatus: types.DesiredStatusRunning})
		if len(arns) != want {
			return false, fmt.Sprintf("%d tasks desired RUNNING", len(arns))
		}
		for _, task := range e.sdkTasks(t, arns) {
			if aws.ToString(task.LastStatus) != "RUNNING" {
				return false, fmt.Sprintf("task %s is %s", lastSegment(aws.ToString(task.TaskArn)), aws.ToString(task.LastStatus))
			}
		}
		stopped := e.sdkList(t, &sdkecs.ListTasksInput{ServiceName: aws.String(svc), DesiredStatus: types.DesiredStatusStopped})
		for _, task := range e.sdkTasks(t, stopped) {
			if aws.ToString(task.LastStatus) != "STOPPED" {
				return false, fmt.Sprintf("task %s is still stopping", lastSegment(aws.ToString(task.TaskArn)))
			}
		}
		if extra != nil {
			if why := extra(arns); why != "" {
				return false, why
			}
		}
		return true, ""
	})
	e.cli.ok(t, "ecs", "wait", "services-stable", "--cluster", "default", "--services", svc)
	s := describeService(t, e.cli, svc)
	if fmt.Sprint(s["runningCount"]) != fmt.Sprint(want) || len(s["deployments"].([]any)) != 1 {
		t.Fatalf("service %s after services-stable: runningCount %v, %d deployments", svc, s["runningCount"], len(s["deployments"].([]any)))
	}
	return arns
}

// wantOnlyStopped requires the service's stopped tasks to be exactly want:
// nothing else was replaced.
func (e *multiEnv) wantOnlyStopped(t *testing.T, svc string, want []string) {
	t.Helper()
	got := strSlice(e.cli.ok(t, "ecs", "list-tasks", "--cluster", "default", "--service-name", svc, "--desired-status", "STOPPED")["taskArns"])
	if !sameSet(got, want) {
		var why []string
		for _, task := range e.sdkTasks(t, got) {
			line := fmt.Sprintf("%s on %s: %s", lastSegment(aws.ToString(task.TaskArn)),
				e.nameOf(aws.ToString(task.ContainerInstanceArn)), aws.ToString(task.StoppedReason))
			if a := e.agentByARN(aws.ToString(task.ContainerInstanceArn)); a != nil && a.running() &&
				strings.Contains(aws.ToString(task.StoppedReason), "was lost") {
				line += " (BERTH BUG: that agent runs and holds its channel)"
			}
			why = append(why, line)
		}
		t.Errorf("service %s stopped %d tasks, want only %v:\n%s", svc, len(got), want, strings.Join(why, "\n"))
	}
}

// wantEvents requires each message among the service's events.
func (e *multiEnv) wantEvents(t *testing.T, svc string, msgs ...string) {
	t.Helper()
	s := describeService(t, e.cli, svc)
	var have []string
	for _, x := range s["events"].([]any) {
		have = append(have, fmt.Sprint(x.(map[string]any)["message"]))
	}
	for _, m := range msgs {
		if !slices.Contains(have, m) {
			t.Errorf("service %s has no event %q; events (newest first):\n%s", svc, m, strings.Join(have, "\n"))
		}
	}
}

// placement counts tasks per agent name. Each task must run on its
// instance (lastStatus RUNNING), carry its instance's zone, and have its
// one container in that agent's containerd namespace and in no other.
func (e *multiEnv) placement(t *testing.T, arns []string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for _, task := range describeTasks(t, e.cli, arns) {
		arn := task["taskArn"].(string)
		a := e.agentByARN(fmt.Sprint(task["containerInstanceArn"]))
		if a == nil {
			t.Fatalf("task %s is on unknown instance %v", arn, task["containerInstanceArn"])
		}
		counts[a.spec.name]++
		if task["lastStatus"] != "RUNNING" || task["availabilityZone"] != a.spec.zone {
			t.Errorf("task %s on %s: lastStatus %v availabilityZone %v, want RUNNING in %s",
				lastSegment(arn), a.spec.name, task["lastStatus"], task["availabilityZone"], a.spec.zone)
		}
		for _, other := range e.agents {
			want := 0
			if other == a {
				want = 1
			}
			if n := containersIn(t, other.ns, arn); n != want {
				t.Errorf("task %s (instance %s): %d containers in namespace %s, want %d", lastSegment(arn), a.spec.name, n, other.ns, want)
			}
		}
	}
	return counts
}

// waitTasksRunning waits until every task is RUNNING (failing at once if
// one stops), then runs the CLI's tasks-running waiter.
func (e *multiEnv) waitTasksRunning(t *testing.T, arns []string) {
	t.Helper()
	waitFor(t, 60*time.Second, fmt.Sprintf("%d tasks to run", len(arns)), func() (bool, string) {
		running := 0
		for _, task := range e.sdkTasks(t, arns) {
			switch aws.ToString(task.LastStatus) {
			case "RUNNING":
				running++
			case "STOPPED", "DEPROVISIONING":
				t.Fatalf("task %s stopped before running: %s", aws.ToString(task.TaskArn), aws.ToString(task.StoppedReason))
			}
		}
		return running == len(arns), fmt.Sprintf("%d of %d RUNNING", running, len(arns))
	})
	e.cli.ok(t, append([]string{"ecs", "wait", "tasks-running", "--cluster", "default", "--tasks"}, arns...)...)
}

// stopTasks stops tasks (a clean-up: through the SDK) and waits until
// their agents report them STOPPED; tasks of a dead agent are skipped.
func (e *multiEnv) stopTasks(t *testing.T, arns []string) {
	t.Helper()
	var live []string
	for _, task := range e.sdkTasks(t, arns) {
		if a := e.agentByARN(aws.ToString(task.ContainerInstanceArn)); a != nil && a.running() {
			live = append(live, aws.ToString(task.TaskArn))
		}
	}
	for _, arn := range live {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := e.sdk.StopTask(ctx, &sdkecs.StopTaskInput{Cluster: aws.String("default"), Task: aws.String(arn), Reason: aws.String("e2e: done")})
		cancel()
		if err != nil {
			t.Errorf("stop task %s: %v", arn, err)
		}
	}
	e.waitStopped(t, live)
}

// deleteService scales the service to 0, deletes it and waits until its
// tasks on live agents are STOPPED.
func (e *multiEnv) deleteService(t *testing.T, svc string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := e.sdk.DeleteService(ctx, &sdkecs.DeleteServiceInput{Cluster: aws.String("default"), Service: aws.String(svc), Force: aws.Bool(true)})
	var notFound *types.ServiceNotFoundException
	switch {
	case errors.As(err, &notFound):
		return // the test ended before creating it
	case err != nil:
		t.Errorf("delete service %s: %v", svc, err)
		return
	}
	var live []string
	for _, task := range e.sdkTasks(t, e.sdkList(t, &sdkecs.ListTasksInput{ServiceName: aws.String(svc), DesiredStatus: types.DesiredStatusRunning})) {
		if a := e.agentByARN(aws.ToString(task.ContainerInstanceArn)); a != nil && a.running() {
			live = append(live, aws.ToString(task.TaskArn))
		}
	}
	waitFor(t, 60*time.Second, "service "+svc+" to stop its tasks", func() (bool, string) {
		n := len(e.sdkList(t, &sdkecs.ListTasksInput{ServiceName: aws.String(svc), DesiredStatus: types.DesiredStatusRunning}))
		return n == 0, fmt.Sprintf("%d tasks still desired RUNNING", n)
	})
	e.waitStopped(t, live)
}

// waitStopped waits until the tasks are STOPPED.
func (e *multiEnv) waitStopped(t *testing.T, arns []string) {
	t.Helper()
	if len(arns) == 0 {
		return
	}
	waitFor(t, 60*time.Second, fmt.Sprintf("%d tasks to stop", len(arns)), func() (bool, string) {
		stopped := 0
		for _, task := range e.sdkTasks(t, arns) {
			if aws.ToString(task.LastStatus) == "STOPPED" {
				stopped++
			}
		}
		return stopped == len(arns), fmt.Sprintf("%d of %d STOPPED", stopped, len(arns))
	})
}

// sdkTasks describes tasks through the SDK, in the order given.
func (e *multiEnv) sdkTasks(t *testing.T, arns []string) []types.Task {
	t.Helper()
	var out []types.Task
	for chunk := range slices.Chunk(arns, 100) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		d, err := e.sdk.DescribeTasks(ctx, &sdkecs.DescribeTasksInput{Cluster: aws.String("default"), Tasks: chunk})
		cancel()
		if err != nil {
			t.Fatalf("DescribeTasks: %v", err)
		}
		byARN := map[string]types.Task{}
		for _, task := range d.Tasks {
			byARN[aws.ToString(task.TaskArn)] = task
		}
		for _, arn := range chunk {
			task, ok := byARN[arn]
			if !ok {
				t.Fatalf("DescribeTasks did not return %s (failures %+v)", arn, d.Failures)
			}
			out = append(out, task)
		}
	}
	return out
}

// sdkList lists the cluster's tasks through the SDK.
func (e *multiEnv) sdkList(t *testing.T, in *sdkecs.ListTasksInput) []string {
	t.Helper()
	in.Cluster = aws.String("default")
	var arns []string
	p := sdkecs.NewListTasksPaginator(e.sdk, in)
	for p.HasMorePages() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		page, err := p.NextPage(ctx)
		cancel()
		if err != nil {
			t.Fatalf("ListTasks: %v", err)
		}
		arns = append(arns, page.TaskArns...)
	}
	return arns
}

// sdkInstance describes one container instance through the SDK.
func (e *multiEnv) sdkInstance(t *testing.T, arn string) types.ContainerInstance {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := e.sdk.DescribeContainerInstances(ctx, &sdkecs.DescribeContainerInstancesInput{Cluster: aws.String("default"), ContainerInstances: []string{arn}})
	if err != nil || len(d.ContainerInstances) != 1 {
		t.Fatalf("DescribeContainerInstances %s: %v %+v", arn, err, d)
	}
	return d.ContainerInstances[0]
}

// nameOf names the agent of an instance ARN for messages.
func (e *multiEnv) nameOf(arn string) string {
	if a := e.agentByARN(arn); a != nil {
		return a.spec.name
	}
	return arn
}

// containersIn counts the containers of a task in a containerd namespace.
func containersIn(t *testing.T, ns, taskARN string) int {
	t.Helper()
	c, err := client.New(testimage.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(context.Background(), ns)
	list, err := c.Containers(ctx, fmt.Sprintf(`labels."com.amazonaws.ecs.task-arn"==%q`, taskARN))
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

func wantNoFailures(t *testing.T, out map[string]any) {
	t.Helper()
	if f, _ := out["failures"].([]any); len(f) != 0 {
		t.Fatalf("failures: %v", f)
	}
}

func lastSegment(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

func sameSet(a, b []string) bool {
	return len(a) == len(b) && !slices.ContainsFunc(a, func(s string) bool { return !slices.Contains(b, s) })
}

// compactSamples run-length encodes samples: "3+0 x12, 3+1 x4, ...".
func compactSamples(s []string) string {
	var parts []string
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] == s[i] {
			j++
		}
		parts = append(parts, fmt.Sprintf("%s x%d", s[i], j-i))
		i = j
	}
	return strings.Join(parts, ", ")
}
