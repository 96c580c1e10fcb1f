package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
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
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth/berth/internal/testimage"
)

// ECS's wording for the circuit breaker (service-event-messages and the
// deployment's rolloutStateReason in the ECS developer guide).
const breakerReason = "ECS deployment circuit breaker: tasks failed to start."

func breakerFailedEvent(svc, depID string) string {
	return fmt.Sprintf("(service %s) (deployment %s) deployment failed: tasks failed to start.", svc, depID)
}

func breakerRollbackEvent(svc, depID string) string {
	return fmt.Sprintf("(service %s) rolling back to deployment %s.", svc, depID)
}

// breakerTaskDef writes a task definition of one essential busybox
// container with no network (nothing to set up on a bridge) and returns
// its file:// argument. initProcessEnabled lets `sleep` die of SIGTERM, so
// replaced tasks stop at once instead of after the stop timeout.
func breakerTaskDef(t *testing.T, family, image string) string {
	t.Helper()
	body := fmt.Sprintf(`{
  "family": %q,
  "networkMode": "none",
  "containerDefinitions": [{
    "name": "app", "image": %q, "cpu": 64, "memory": 32, "essential": true,
    "stopTimeout": 5,
    "linuxParameters": {"initProcessEnabled": true},
    "command": ["sleep", "3600"]
  }]
}`, family, image)
	path := filepath.Join(t.TempDir(), family+"-taskdef.json")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return "file://" + path
}

// breakerSample is one observation of the service during the rollout.
type breakerSample struct {
	at      time.Duration // since update-service
	running int           // the service's runningCount
	deps    []types.Deployment
	// sdStatus is ListServiceDeployments' status per service deployment ARN.
	sdStatus map[string]types.ServiceDeploymentStatus
}

// runningOf sums the runningCount of the deployments running taskDef.
func (s breakerSample) runningOf(taskDef string) int {
	n := 0
	for _, d := range s.deps {
		if aws.ToString(d.TaskDefinition) == taskDef {
			n += int(d.RunningCount)
		}
	}
	return n
}

func (s breakerSample) dep(id string) (types.Deployment, bool) {
	for _, d := range s.deps {
		if aws.ToString(d.Id) == id {
			return d, true
		}
	}
	return types.Deployment{}, false
}

// state describes the sample but for its time.
func (s breakerSample) state() string {
	var parts []string
	for _, d := range s.deps {
		td := aws.ToString(d.TaskDefinition)
		parts = append(parts, fmt.Sprintf("%s %s %s %s run=%d pend=%d failed=%d", aws.ToString(d.Id), aws.ToString(d.Status),
			td[strings.LastIndex(td, "/")+1:], d.RolloutState, d.RunningCount, d.PendingCount, d.FailedTasks))
	}
	return fmt.Sprintf("running=%d [%s]", s.running, strings.Join(parts, "; "))
}

func (s breakerSample) String() string { return fmt.Sprintf("%6.2fs %s", s.at.Seconds(), s.state()) }

// sampleBreaker polls DescribeServices and ListServiceDeployments through
// the SDK until stop is closed and returns what it saw and the first
// error.
func sampleBreaker(ecsc *sdkecs.Client, name string, t0 time.Time, stop <-chan struct{}) ([]breakerSample, error) {
	var samples []breakerSample
	for {
		select {
		case <-stop:
			return samples, nil
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := ecsc.DescribeServices(ctx, &sdkecs.DescribeServicesInput{Cluster: aws.String("default"), Services: []string{name}})
		if err != nil {
			cancel()
			return samples, fmt.Errorf("DescribeServices: %w", err)
		}
		if len(out.Services) != 1 {
			cancel()
			return samples, fmt.Errorf("DescribeServices returned %d services", len(out.Services))
		}
		lsd, err := ecsc.ListServiceDeployments(ctx, &sdkecs.ListServiceDeploymentsInput{Cluster: aws.String("default"), Service: aws.String(name)})
		cancel()
		if err != nil {
			return samples, fmt.Errorf("ListServiceDeployments: %w", err)
		}
		s := out.Services[0]
		smp := breakerSample{at: time.Since(t0), running: int(s.RunningCount), deps: s.Deployments, sdStatus: map[string]types.ServiceDeploymentStatus{}}
		for _, b := range lsd.ServiceDeployments {
			smp.sdStatus[aws.ToString(b.ServiceDeploymentArn)] = b.Status
		}
		samples = append(samples, smp)
		time.Sleep(100 * time.Millisecond)
	}
}

// TestServiceCircuitBreaker is issue 4's deployment circuit breaker with
// the real aws CLI, the agent and real containers: a service of 2 good
// tasks (circuit breaker with rollback, 100%/200%) is updated to a
// revision whose image cannot be pulled (a registry on 127.0.0.1:1, where
// nothing listens). Its tasks stop with CannotPullContainerError, the
// deployment's failedTasks climbs to the threshold (3 for 2 tasks), it
// becomes FAILED, the service rolls back to the good revision and reaches
// a steady state; the good tasks never fall below 2 RUNNING meanwhile, and
// the events and the service deployments tell the story in ECS's words.
func TestServiceCircuitBreaker(t *testing.T) {
	requireAWS(t)
	testimage.RequireContainerd(t)
	started := time.Now()
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	b := startDevWithAgent(t, dataDir, addr)
	cli := b.cli()
	const name = "cbreak"

	// Cleanup: note every task of the family (the test body does too
	// before it stops berth), stop berth (so that nothing replaces what is
	// removed), then remove the containers and whatever the agent left
	// mounted in the data directory (network namespaces of tasks that were
	// still running), so that the temporary directory can go.
	seen := map[string]bool{}
	noteTasks := func() {
		for _, desired := range []string{"RUNNING", "STOPPED"} {
			res := cli.run(t, "ecs", "list-tasks", "--cluster", "default", "--family", name, "--desired-status", desired)
			if m, err := decodeObject(res.stdout); res.code == 0 && err == nil {
				for _, x := range m["taskArns"].([]any) {
					seen[x.(string)] = true
				}
			}
		}
	}
	t.Cleanup(func() {
		select {
		case <-b.exited:
		default:
			noteTasks()
		}
		b.stopIfRunning()
		removeTaskContainers(t, slices.Sorted(maps.Keys(seen)))
		unmountUnder(t, dataDir)
	})

	reg := cli.ok(t, "ecs", "register-task-definition", "--cli-input-json", breakerTaskDef(t, name, "berth.local/busybox:latest"))
	goodTD := reg["taskDefinition"].(map[string]any)["taskDefinitionArn"].(string)
	created := cli.ok(t, "ecs", "create-service", "--cluster", "default", "--service-name", name,
		"--task-definition", goodTD, "--desired-count", "2",
		"--deployment-configuration", "deploymentCircuitBreaker={enable=true,rollback=true},minimumHealthyPercent=100,maximumPercent=200")
	dc, _ := created["service"].(map[string]any)["deploymentConfiguration"].(map[string]any)
	if cb, _ := dc["deploymentCircuitBreaker"].(map[string]any); cb["enable"] != true || cb["rollback"] != true {
		t.Fatalf("create-service: deploymentConfiguration %v, want the circuit breaker with rollback", dc)
	}
	cli.ok(t, "ecs", "wait", "services-stable", "--cluster", "default", "--services", name)
	svc := describeService(t, cli, name)
	deps := svc["deployments"].([]any)
	if fmt.Sprint(svc["runningCount"]) != "2" || len(deps) != 1 {
		t.Fatalf("after services-stable: %v", svc)
	}
	goodDep := deps[0].(map[string]any)["id"].(string)
	goodTasks := serviceTasks(t, cli, name, "RUNNING")
	if len(goodTasks) != 2 {
		t.Fatalf("service %s has %d RUNNING tasks, want 2: %v", name, len(goodTasks), goodTasks)
	}
	t.Logf("%.1fs: service stable on %s (deployment %s), tasks %v", time.Since(started).Seconds(), goodTD, goodDep, goodTasks)

	// The bad revision: its registry is 127.0.0.1:1, where nothing
	// listens, so the agent's pull is refused at once (and no traffic
	// leaves the machine).
	const badImage = "127.0.0.1:1/nothing:latest"
	reg = cli.ok(t, "ecs", "register-task-definition", "--cli-input-json", breakerTaskDef(t, name, badImage))
	badTD := reg["taskDefinition"].(map[string]any)["taskDefinitionArn"].(string)

	keyID, secret := readCredentials(t, filepath.Join(dataDir, "credentials"))
	ecsc := sdkecs.New(sdkecs.Options{
		Region:       region,
		BaseEndpoint: aws.String(b.endpoint()),
		Credentials:  credentials.NewStaticCredentialsProvider(keyID, secret, ""),
	})
	t0 := time.Now()
	stop := make(chan struct{})
	var samples []breakerSample
	var sampleErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		samples, sampleErr = sampleBreaker(ecsc, name, t0, stop)
	}()
	stopSampler := sync.OnceFunc(func() { close(stop); <-done })
	t.Cleanup(stopSampler)

	updated := cli.ok(t, "ecs", "update-service", "--cluster", "default", "--service", name, "--task-definition", badTD)
	if td := updated["service"].(map[string]any)["taskDefinition"]; td != badTD {
		t.Fatalf("update-service: taskDefinition %v, want %s", td, badTD)
	}
	cli.ok(t, "ecs", "wait", "services-stable", "--cluster", "default", "--services", name)
	stableAt := time.Since(t0)
	stopSampler()
	if sampleErr != nil {
		t.Fatal(sampleErr)
	}
	if len(samples) == 0 {
		t.Fatal("no sample of the service during the rollout")
	}

	// The deployments seen: the bad one, and the rollback (a new PRIMARY
	// deployment running the good revision again).
	var badDep, rollbackDep string
	for _, s := range samples {
		for _, d := range s.deps {
			id := aws.ToString(d.Id)
			switch td := aws.ToString(d.TaskDefinition); {
			case td == badTD && badDep == "":
				badDep = id
			case td == goodTD && id != goodDep && rollbackDep == "":
				rollbackDep = id
			}
		}
	}
	if badDep == "" || rollbackDep == "" {
		t.Fatalf("the samples show no deployment of %s (%q) or no rollback deployment of %s (%q)", badTD, badDep, goodTD, rollbackDep)
	}

	// Timeline and invariants over the samples.
	var failedAt, rollbackAt time.Duration = -1, -1
	lastFailed, minGood := 0, 1<<30
	var timeline []string
	for i, s := range samples {
		if i == 0 || s.state() != samples[i-1].state() {
			timeline = append(timeline, s.String())
		}
		good := s.runningOf(goodTD)
		minGood = min(minGood, good)
		if good < 2 {
			t.Errorf("RUNNING tasks of the good revision fell to %d, below the floor 2 (minimumHealthyPercent 100): %s", good, s)
		}
		rb, haveRollback := s.dep(rollbackDep)
		if haveRollback && rollbackAt < 0 {
			rollbackAt = s.at
			if aws.ToString(rb.Status) != "PRIMARY" {
				t.Errorf("rollback deployment first seen not PRIMARY: %s", s)
			}
		}
		if od, ok := s.dep(goodDep); !haveRollback && (!ok || od.RunningCount != 2) {
			t.Errorf("before the rollback, the good deployment %s does not have its 2 RUNNING tasks: %s", goodDep, s)
		}
		bd, ok := s.dep(badDep)
		if !ok {
			continue
		}
		if int(bd.FailedTasks) < lastFailed {
			t.Errorf("failedTasks of %s went down from %d: %s", badDep, lastFailed, s)
		}
		lastFailed = int(bd.FailedTasks)
		if bd.RunningCount != 0 {
			t.Errorf("a task of the bad revision is RUNNING: %s", s)
		}
		switch bd.RolloutState {
		case types.DeploymentRolloutStateInProgress:
			if failedAt >= 0 {
				t.Errorf("%s is IN_PROGRESS again after FAILED: %s", badDep, s)
			}
		case types.DeploymentRolloutStateFailed:
			if failedAt < 0 {
				failedAt = s.at
			}
			if bd.FailedTasks < 3 {
				t.Errorf("%s FAILED with failedTasks %d, below the threshold 3 (ceil(50%% of 2) clamped to 3): %s", badDep, bd.FailedTasks, s)
			}
			if r := aws.ToString(bd.RolloutStateReason); r != breakerReason {
				t.Errorf("FAILED deployment's rolloutStateReason %q, want %q", r, breakerReason)
			}
			if aws.ToString(bd.Status) != "ACTIVE" || !haveRollback {
				t.Errorf("%s FAILED without a rollback PRIMARY deployment: %s", badDep, s)
			}
		default:
			t.Errorf("%s has rolloutState %s: %s", badDep, bd.RolloutState, s)
		}
	}
	t.Logf("%d samples, the changes (seconds after update-service):\n%s", len(samples), strings.Join(timeline, "\n"))
	t.Logf("timeline after update-service: failedTasks reached %d; FAILED first seen at %.2fs; rollback deployment %s first seen at %.2fs; services-stable returned at %.2fs; min RUNNING of the good revision %d",
		lastFailed, failedAt.Seconds(), rollbackDep, rollbackAt.Seconds(), stableAt.Seconds(), minGood)
	if failedAt < 0 {
		t.Errorf("no sample saw %s FAILED", badDep)
	}
	if lastFailed < 3 {
		t.Errorf("failedTasks of %s reached only %d, want at least the threshold 3", badDep, lastFailed)
	}

	// The service after services-stable: the good revision again, on the
	// rollback deployment, with 2 new RUNNING tasks.
	svc = describeService(t, cli, name)
	if svc["taskDefinition"] != goodTD {
		t.Errorf("service taskDefinition %v after the rollback, want %s", svc["taskDefinition"], goodTD)
	}
	deps = svc["deployments"].([]any)
	if len(deps) != 1 || fmt.Sprint(svc["runningCount"]) != "2" {
		t.Fatalf("after the rollback: %v", svc)
	}
	if d := deps[0].(map[string]any); d["id"] != rollbackDep || d["status"] != "PRIMARY" || d["rolloutState"] != "COMPLETED" || d["taskDefinition"] != goodTD {
		t.Errorf("deployment after the rollback: %v", d)
	}
	final := serviceTasks(t, cli, name, "RUNNING")
	for _, task := range describeTasks(t, cli, final) {
		if task["taskDefinitionArn"] != goodTD || task["lastStatus"] != "RUNNING" || task["startedBy"] != rollbackDep {
			t.Errorf("task after the rollback: %v %v startedBy %v", task["taskDefinitionArn"], task["lastStatus"], task["startedBy"])
		}
	}

	// The bad revision's tasks: STOPPED, never started, for the pull; one
	// still PENDING when the breaker tripped may instead have been stopped
	// by the rollback (ServiceSchedulerInitiated), which is no failure.
	pullFailed, rolledBack := 0, 0
	stopped := serviceTasks(t, cli, name, "STOPPED")
	if len(stopped) > 0 {
		for _, task := range describeTasks(t, cli, stopped) {
			if task["taskDefinitionArn"] != badTD {
				continue
			}
			reason := fmt.Sprint(task["stoppedReason"])
			if task["lastStatus"] != "STOPPED" || task["startedAt"] != nil {
				t.Errorf("task of the bad revision: lastStatus %v startedAt %v, want STOPPED and never started", task["lastStatus"], task["startedAt"])
			}
			if task["stopCode"] == "ServiceSchedulerInitiated" {
				rolledBack++
				t.Logf("a task of the bad revision was stopped by the rollback: %q", reason)
				continue
			}
			pullFailed++
			if task["stopCode"] != "TaskFailedToStart" || !strings.HasPrefix(reason, "CannotPullContainerError: ") || !strings.Contains(reason, badImage) {
				t.Errorf("task of the bad revision: stopCode %v stoppedReason %q, want TaskFailedToStart and CannotPullContainerError for %s", task["stopCode"], reason, badImage)
			}
			if c := container0(t, task); !strings.HasPrefix(fmt.Sprint(c["reason"]), "CannotPullContainerError: ") {
				t.Errorf("container of the bad revision: reason %v, want CannotPullContainerError", c["reason"])
			}
			if pullFailed == 1 {
				t.Logf("a task of the bad revision: stopCode %v, stoppedReason %q", task["stopCode"], reason)
			}
		}
	}
	if pullFailed != lastFailed {
		t.Errorf("%d tasks of the bad revision failed to pull (and %d were stopped by the rollback), but failedTasks is %d", pullFailed, rolledBack, lastFailed)
	}
	for _, arn := range goodTasks {
		if task := describeTasks(t, cli, []string{arn})[0]; task["lastStatus"] != "STOPPED" || task["stopCode"] != "ServiceSchedulerInitiated" {
			t.Errorf("original task %s after the rollback: lastStatus %v stopCode %v (want replaced by the rollback deployment)", arn, task["lastStatus"], task["stopCode"])
		}
	}

	// Events, newest first: the failure, then the rollback, then steady.
	var events []string
	for _, e := range svc["events"].([]any) {
		events = append(events, fmt.Sprint(e.(map[string]any)["message"]))
	}
	failedEv := slices.Index(events, breakerFailedEvent(name, badDep))
	rollbackEv := slices.Index(events, breakerRollbackEvent(name, goodDep))
	if failedEv < 0 || rollbackEv < 0 || rollbackEv > failedEv {
		t.Errorf("events lack %q followed by %q:\n%s", breakerFailedEvent(name, badDep), breakerRollbackEvent(name, goodDep), strings.Join(events, "\n"))
	}
	if len(events) == 0 || events[0] != fmt.Sprintf("(service %s) has reached a steady state.", name) {
		t.Errorf("newest event is not the steady state:\n%s", strings.Join(events, "\n"))
	}

	// Service deployments. The aws CLI of Debian 12 (2.9) predates
	// ListServiceDeployments, so the SDK asks.
	sdARN := func(id string) string {
		return "arn:aws:ecs:" + region + ":" + account + ":service-deployment/default/" + name + "/" + strings.TrimPrefix(id, "ecs-svc/")
	}
	revARN := func(id string) string {
		return "arn:aws:ecs:" + region + ":" + account + ":service-revision/default/" + name + "/" + strings.TrimPrefix(id, "ecs-svc/")
	}
	checkBreakerDeployments(t, ecsc, name, samples, sdARN, revARN, goodDep, badDep, rollbackDep, goodTD, lastFailed)

	// Clean up: scale in, delete, and wait until INACTIVE.
	cli.ok(t, "ecs", "delete-service", "--cluster", "default", "--service", name, "--force")
	deadline := time.Now().Add(time.Minute)
	for describeService(t, cli, name)["status"] != "INACTIVE" {
		if time.Now().After(deadline) {
			t.Fatalf("service %s not INACTIVE a minute after delete-service --force", name)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("total %.1fs (berth dev start to INACTIVE)", time.Since(started).Seconds())
	noteTasks()
	if err := b.terminate(); err != nil {
		t.Fatalf("%v\n--- stderr:\n%s", err, b.stderr)
	}
}

// checkBreakerDeployments checks ListServiceDeployments and
// DescribeServiceDeployments after the rollback, and the service
// deployment statuses the samples saw.
func checkBreakerDeployments(t *testing.T, ecsc *sdkecs.Client, name string, samples []breakerSample,
	sdARN, revARN func(string) string, goodDep, badDep, rollbackDep, goodTD string, failed int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Newest first: the rollback, the failed one, the original.
	lsd, err := ecsc.ListServiceDeployments(ctx, &sdkecs.ListServiceDeploymentsInput{Cluster: aws.String("default"), Service: aws.String(name)})
	if err != nil {
		t.Fatalf("ListServiceDeployments: %v", err)
	}
	want := []string{
		sdARN(rollbackDep) + " SUCCESSFUL",
		sdARN(badDep) + " ROLLBACK_SUCCESSFUL",
		sdARN(goodDep) + " SUCCESSFUL",
	}
	var got []string
	for _, b := range lsd.ServiceDeployments {
		got = append(got, aws.ToString(b.ServiceDeploymentArn)+" "+string(b.Status))
	}
	if !slices.Equal(got, want) {
		t.Errorf("ListServiceDeployments:\n got %q\nwant %q", got, want)
	}
	lsd, err = ecsc.ListServiceDeployments(ctx, &sdkecs.ListServiceDeploymentsInput{Cluster: aws.String("default"), Service: aws.String(name),
		Status: []types.ServiceDeploymentStatus{types.ServiceDeploymentStatusRollbackSuccessful}})
	if err != nil {
		t.Fatalf("ListServiceDeployments (status ROLLBACK_SUCCESSFUL): %v", err)
	}
	if len(lsd.ServiceDeployments) != 1 || aws.ToString(lsd.ServiceDeployments[0].ServiceDeploymentArn) != sdARN(badDep) {
		t.Errorf("ListServiceDeployments with status ROLLBACK_SUCCESSFUL: %+v, want only %s", lsd.ServiceDeployments, sdARN(badDep))
	}

	dsd, err := ecsc.DescribeServiceDeployments(ctx, &sdkecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{sdARN(badDep)}})
	if err != nil {
		t.Fatalf("DescribeServiceDeployments: %v", err)
	}
	if len(dsd.ServiceDeployments) != 1 || len(dsd.Failures) != 0 {
		t.Fatalf("DescribeServiceDeployments %s: %+v failures %+v", sdARN(badDep), dsd.ServiceDeployments, dsd.Failures)
	}
	d := dsd.ServiceDeployments[0]
	if d.Status != types.ServiceDeploymentStatusRollbackSuccessful || aws.ToString(d.StatusReason) != breakerReason {
		t.Errorf("failed service deployment: status %s reason %q, want ROLLBACK_SUCCESSFUL %q", d.Status, aws.ToString(d.StatusReason), breakerReason)
	}
	if d.TargetServiceRevision == nil || aws.ToString(d.TargetServiceRevision.Arn) != revARN(badDep) {
		t.Errorf("failed service deployment: targetServiceRevision %+v, want %s", d.TargetServiceRevision, revARN(badDep))
	}
	if !slices.ContainsFunc(d.SourceServiceRevisions, func(r types.ServiceRevisionSummary) bool { return aws.ToString(r.Arn) == revARN(goodDep) }) {
		t.Errorf("failed service deployment: sourceServiceRevisions %+v lack %s", d.SourceServiceRevisions, revARN(goodDep))
	}
	if d.Rollback == nil || aws.ToString(d.Rollback.ServiceRevisionArn) != revARN(rollbackDep) || d.Rollback.StartedAt == nil {
		t.Errorf("failed service deployment: rollback %+v, want service revision %s with startedAt", d.Rollback, revARN(rollbackDep))
	}
	if d.FinishedAt == nil || d.StoppedAt == nil {
		t.Errorf("failed service deployment: finishedAt %v stoppedAt %v, want both", d.FinishedAt, d.StoppedAt)
	}
	if cb := d.DeploymentCircuitBreaker; cb == nil || cb.Status != types.ServiceDeploymentRollbackMonitorsStatusTriggered ||
		cb.Threshold != 3 || int(cb.FailureCount) != failed {
		t.Errorf("failed service deployment: deploymentCircuitBreaker %+v, want TRIGGERED, threshold 3, failureCount %d", cb, failed)
	}

	// The rollback's revision is the good task definition.
	rev, err := ecsc.DescribeServiceRevisions(ctx, &sdkecs.DescribeServiceRevisionsInput{ServiceRevisionArns: []string{revARN(rollbackDep)}})
	if err != nil {
		t.Fatalf("DescribeServiceRevisions: %v", err)
	}
	if len(rev.ServiceRevisions) != 1 || aws.ToString(rev.ServiceRevisions[0].TaskDefinition) != goodTD {
		t.Errorf("DescribeServiceRevisions %s: %+v, want task definition %s", revARN(rollbackDep), rev.ServiceRevisions, goodTD)
	}

	// What the samples saw of the failed deployment's status: forwards
	// only, IN_PROGRESS → ROLLBACK_IN_PROGRESS → ROLLBACK_SUCCESSFUL.
	order := []types.ServiceDeploymentStatus{types.ServiceDeploymentStatusInProgress,
		types.ServiceDeploymentStatusRollbackInProgress, types.ServiceDeploymentStatusRollbackSuccessful}
	last := -1
	var seen []string
	for _, s := range samples {
		st, ok := s.sdStatus[sdARN(badDep)]
		if !ok {
			continue
		}
		i := slices.Index(order, st)
		if i < 0 || i < last {
			t.Errorf("at %.2fs ListServiceDeployments said %s for %s, after %v", s.at.Seconds(), st, badDep, seen)
			continue
		}
		if i > last {
			seen = append(seen, fmt.Sprintf("%s@%.2fs", st, s.at.Seconds()))
		}
		last = i
	}
	t.Logf("service deployment %s: %s", badDep, strings.Join(seen, " → "))
}

// unmountUnder detaches every mount below dir (deepest first).
func unmountUnder(t *testing.T, dir string) {
	raw, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Log(err)
		return
	}
	var targets []string
	for line := range strings.Lines(string(raw)) {
		f := strings.Fields(line)
		if len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			targets = append(targets, f[1])
		}
	}
	slices.Sort(targets)
	slices.Reverse(targets)
	for _, m := range targets {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
			t.Logf("unmount %s: %v", m, err)
		}
	}
}
