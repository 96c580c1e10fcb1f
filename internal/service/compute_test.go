package service

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/scheduler"
)

const (
	oldID = "ecs-svc/1000000000000000001"
	newID = "ecs-svc/2000000000000000002"
	rbID  = "ecs-svc/3000000000000000003"
)

var now = t0.Add(time.Hour)

func replica(desired, minPct, maxPct int, deps ...ecs.Deployment) ecs.Service {
	return ecs.Service{Name: "web", Cluster: "default", Status: ecs.ServiceActive, SchedulingStrategy: ecs.SchedulingReplica,
		DesiredCount: desired, Deployments: deps,
		DeploymentConfiguration: ecs.DeploymentConfiguration{MinimumHealthyPercent: minPct, MaximumPercent: maxPct}}
}

func deployment(id string, status ecs.DeploymentStatus, td string, state ecs.RolloutState, created time.Time) ecs.Deployment {
	return ecs.Deployment{ID: id, Status: status, TaskDefinition: td, RolloutState: state, CreatedAt: created, UpdatedAt: created}
}

// primaryNew is an IN_PROGRESS PRIMARY deployment over oldActive, the
// COMPLETED one before it.
var (
	oldActive  = deployment(oldID, ecs.DeploymentActive, "web:1", ecs.RolloutCompleted, t0)
	primaryNew = deployment(newID, ecs.DeploymentPrimary, "web:2", ecs.RolloutInProgress, t0.Add(time.Minute))
	primaryOld = deployment(oldID, ecs.DeploymentPrimary, "web:1", ecs.RolloutCompleted, t0)
)

func running(id, dep, inst string) ecs.Task {
	return ecs.Task{ID: id, Cluster: "default", ServiceName: "web", StartedBy: dep, ContainerInstanceID: inst,
		LastStatus: ecs.TaskRunning, DesiredStatus: ecs.TaskRunning, CreatedAt: t0, StartedAt: t0}
}

func pending(id, dep, inst string) ecs.Task {
	t := running(id, dep, inst)
	t.LastStatus, t.StartedAt = ecs.TaskPending, time.Time{}
	return t
}

func failed(id, dep string, code string, at time.Time) ecs.Task {
	t := running(id, dep, "ci-1")
	t.LastStatus, t.DesiredStatus, t.StopCode, t.StoppedAt = ecs.TaskStopped, ecs.TaskStopped, code, at
	if code == ecs.StopCodeTaskFailedToStart {
		t.StartedAt = time.Time{}
	}
	return t
}

func instances(ids ...string) []ecs.ContainerInstance {
	var out []ecs.ContainerInstance
	for _, id := range ids {
		out = append(out, ecs.ContainerInstance{ID: id, Cluster: "default", Status: ecs.InstanceActive,
			AgentConnected: true, AgentSeenAt: now, RegisteredAt: t0})
	}
	return out
}

func run(svc ecs.Service, tasks []ecs.Task, insts []ecs.ContainerInstance) Result {
	return Compute(Input{Service: svc, Tasks: taskPtrs(tasks), Instances: insts, Now: now, LostAfter: 5 * time.Minute, NewDeploymentID: rbID})
}

func stopIDs(r Result) []string {
	var ids []string
	for _, s := range r.Stop {
		ids = append(ids, s.TaskID)
	}
	slices.Sort(ids)
	return ids
}

func started(r Result) int {
	n := 0
	for _, l := range r.Start {
		n += l.Count
	}
	return n
}

func findDep(t *testing.T, r Result, id string) ecs.Deployment {
	t.Helper()
	for _, d := range r.Deployments {
		if d.ID == id {
			return d
		}
	}
	t.Fatalf("deployment %s missing from %+v", id, r.Deployments)
	return ecs.Deployment{}
}

func wantEvents(t *testing.T, r Result, want ...string) {
	t.Helper()
	if !slices.Equal(r.Events, want) {
		t.Fatalf("events\n got %q\nwant %q", r.Events, want)
	}
}

func TestComputeReplicaRollingUpdate(t *testing.T) {
	cis := instances("ci-1", "ci-2", "ci-3")
	oldTasks := func(n int) []ecs.Task {
		var ts []ecs.Task
		for i := range n {
			ts = append(ts, running("old"+string(rune('a'+i)), oldID, cis[i%3].ID))
		}
		return ts
	}
	tests := []struct {
		name        string
		svc         ecs.Service
		tasks       []ecs.Task
		wantStarted int
		wantStops   []string
	}{
		{"new service starts its desired count", replica(3, 100, 200, primaryNew), nil, 3, nil},
		{"max 200%: all new tasks first, nothing stopped (min 100%)", replica(4, 100, 200, primaryNew, oldActive), oldTasks(4), 4, nil},
		{"min 50% of 4 = 2: two old tasks stop at once", replica(4, 50, 100, primaryNew, oldActive), oldTasks(4), 0, []string{"olda", "oldb"}},
		{"min 50% of 3 rounds up to 2: one old task stops", replica(3, 50, 100, primaryNew, oldActive), oldTasks(3), 0, []string{"olda"}},
		{"max 150% of 3 rounds down to 4: one start", replica(3, 100, 150, primaryNew, oldActive), oldTasks(3), 1, nil},
		{"max 125% of 3 rounds down to 3 and min 75% up to 3: nothing moves", replica(3, 75, 125, primaryNew, oldActive), oldTasks(3), 0, nil},
		{"old tasks stop once new ones are healthy", replica(2, 100, 200, primaryNew, oldActive),
			append(oldTasks(2), running("n1", newID, "ci-1"), running("n2", newID, "ci-2")), 0, []string{"olda", "oldb"}},
		{"pending new tasks do not count towards the floor", replica(2, 100, 200, primaryNew, oldActive),
			append(oldTasks(2), running("n1", newID, "ci-1"), pending("n2", newID, "ci-2")), 0, []string{"olda"}},
		{"an old task still starting stops at once", replica(2, 100, 200, primaryNew, oldActive),
			[]ecs.Task{running("olda", oldID, "ci-1"), pending("oldb", oldID, "ci-2")}, 2, []string{"oldb"}},
		{"scale-in stops the pending task first", replica(1, 100, 200, primaryOld),
			[]ecs.Task{running("a", oldID, "ci-1"), running("b", oldID, "ci-2"), pending("c", oldID, "ci-3")}, 0, []string{"b", "c"}},
		{"a stopped task is replaced", replica(3, 100, 200, primaryOld),
			[]ecs.Task{running("a", oldID, "ci-1"), running("b", oldID, "ci-2"), failed("c", oldID, ecs.StopCodeEssentialContainerExited, now)}, 1, nil},
		{"tasks of other services are ignored", replica(1, 100, 200, primaryOld),
			[]ecs.Task{running("a", oldID, "ci-1"), func() ecs.Task { x := running("z", oldID, "ci-2"); x.ServiceName = "api"; return x }()}, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(tt.svc, tt.tasks, cis)
			if got := started(r); got != tt.wantStarted {
				t.Errorf("started %d, want %d (%+v)", got, tt.wantStarted, r.Start)
			}
			for _, l := range r.Start {
				if l.DeploymentID != tt.svc.Primary().ID || l.InstanceID != "" {
					t.Errorf("launch %+v, want the PRIMARY deployment and no instance", l)
				}
			}
			if got := stopIDs(r); !slices.Equal(got, tt.wantStops) {
				t.Errorf("stopped %v, want %v", got, tt.wantStops)
			}
			for _, s := range r.Stop {
				if s.StopCode != ecs.StopCodeServiceSchedulerInitiated || s.Reason != ecs.StoppedReasonScaling(tt.svc.Primary().ID) || s.Lost {
					t.Errorf("stop %+v", s)
				}
			}
		})
	}
}

func TestComputeCompletionAndSteadyState(t *testing.T) {
	cis := instances("ci-1", "ci-2")
	tasks := []ecs.Task{running("n1", newID, "ci-1"), running("n2", newID, "ci-2")}
	r := run(replica(2, 100, 200, primaryNew, oldActive), tasks, cis)
	if !r.Steady || len(r.Start)+len(r.Stop) != 0 {
		t.Fatalf("result %+v, want steady with nothing to do", r)
	}
	// In the order they happen: the steady state is the newest, so the
	// next pass does not post it again.
	wantEvents(t, r, "(service web) (deployment "+newID+") deployment completed.", "(service web) has reached a steady state.")
	if len(r.Deployments) != 1 || r.Deployments[0].RolloutState != ecs.RolloutCompleted ||
		r.Deployments[0].RolloutStateReason != "ECS deployment "+newID+" completed." || !r.Deployments[0].UpdatedAt.Equal(now) {
		t.Fatalf("deployments %+v", r.Deployments)
	}
	if len(r.Retired) != 1 || r.Retired[0].ID != oldID || r.Retired[0].Status != ecs.DeploymentInactive {
		t.Fatalf("retired %+v", r.Retired)
	}
	if d := r.Deployments[0]; d.RunningCount != 2 || d.PendingCount != 0 || d.DesiredCount != 2 || r.RunningCount != 2 {
		t.Fatalf("counts %+v / %d", d, r.RunningCount)
	}

	// Steady again: the message is not repeated while it is the newest
	// event, and is again after six hours.
	svc := replica(2, 100, 200, r.Deployments...)
	svc.Events = []ecs.ServiceEvent{{ID: "2", CreatedAt: now.Add(-time.Hour), Message: "(service web) has reached a steady state."}}
	r2 := run(svc, tasks, cis)
	if !r2.Steady || len(r2.Events) != 0 || !r2.Deployments[0].UpdatedAt.Equal(r.Deployments[0].UpdatedAt) {
		t.Fatalf("second steady step: %+v", r2)
	}
	svc.Events[0].CreatedAt = now.Add(-7 * time.Hour)
	wantEvents(t, run(svc, tasks, cis), "(service web) has reached a steady state.")
}

func TestComputeEventsWording(t *testing.T) {
	cis := instances("ci-1", "ci-2")
	r := run(replica(1, 100, 200, primaryOld), []ecs.Task{running("a", oldID, "ci-1"), running("b", oldID, "ci-2"), pending("c", oldID, "ci-1")}, cis)
	// Scale-in drops the PENDING task and, of the RUNNING ones, the one on
	// the instance with the most tasks of the service (ci-1).
	wantEvents(t, r, "(service web) has stopped 1 running tasks: (task a).", "(service web) stopped 1 pending tasks.")

	r = run(replica(3, 100, 100, primaryNew, oldActive), []ecs.Task{running("a", oldID, "ci-1"), running("b", oldID, "ci-2"), running("c", oldID, "ci-2")}, cis)
	wantEvents(t, r, "(service web) was unable to stop or start tasks during a deployment because of the service deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again.")

	if got := StartedMessage("web", []string{"t1", "t2"}); got != "(service web) has started 2 tasks: (task t1) (task t2)." {
		t.Errorf("StartedMessage = %q", got)
	}
	place := []struct{ inst, reason, want string }{
		{"", "", "(service web) was unable to place a task because no container instance met all of its requirements. Reason: No Container Instances were found in your cluster. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."},
		{"ci-1", scheduler.ReasonCPU, "(service web) was unable to place a task because no container instance met all of its requirements. The closest matching (container-instance ci-1) has insufficient CPU units available. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."},
		{"ci-1", scheduler.ReasonMemory, "(service web) was unable to place a task because no container instance met all of its requirements. The closest matching (container-instance ci-1) has insufficient memory available. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."},
		{"ci-1", scheduler.ReasonPorts, "(service web) was unable to place a task because no container instance met all of its requirements. The closest matching (container-instance ci-1) is already using a port required by your task. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."},
		{"ci-1", scheduler.ReasonMemberOf, "(service web) was unable to place a task because no container instance met all of its requirements. The closest matching (container-instance ci-1) encountered error \"MemberOf placement constraint unsatisfied.\". For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."},
	}
	for _, p := range place {
		if got := UnableToPlaceMessage("web", p.inst, p.reason); got != p.want {
			t.Errorf("UnableToPlaceMessage(%q, %q)\n got %q\nwant %q", p.inst, p.reason, got, p.want)
		}
	}
}

func TestComputeHealth(t *testing.T) {
	cis := instances("ci-1", "ci-2")
	svc := replica(2, 100, 200, primaryOld)
	svc.HealthCheckGracePeriodSeconds = 60
	sick := func(startedAgo time.Duration) ecs.Task {
		x := running("sick", oldID, "ci-1")
		x.HealthStatus, x.StartedAt = ecs.HealthUnhealthy, now.Add(-startedAgo)
		return x
	}
	r := run(svc, []ecs.Task{sick(30 * time.Second), running("ok", oldID, "ci-2")}, cis)
	if len(r.Stop) != 0 || started(r) != 0 || r.Steady {
		t.Fatalf("within the grace period: %+v", r)
	}
	r = run(svc, []ecs.Task{sick(90 * time.Second), running("ok", oldID, "ci-2")}, cis)
	if len(r.Stop) != 1 || r.Stop[0].Reason != "Task failed container health checks" || started(r) != 1 {
		t.Fatalf("past the grace period: %+v", r)
	}
	wantEvents(t, r, "(service web) (task sick) failed container health checks.", "(service web) has stopped 1 running tasks: (task sick).")

	// With a container health check, RUNNING is not enough: only HEALTHY
	// tasks count towards the floor.
	hc := ecs.TaskDefinition{ContainerDefinitions: []ecs.ContainerDefinition{{Name: "app", HealthCheck: &ecs.HealthCheck{Command: []string{"CMD", "true"}}}}}
	withHC := func(x ecs.Task, health string) ecs.Task { x.Definition, x.HealthStatus = hc, health; return x }
	tasks := []ecs.Task{withHC(running("o1", oldID, "ci-1"), ecs.HealthHealthy), withHC(running("o2", oldID, "ci-2"), ecs.HealthHealthy),
		withHC(running("n1", newID, "ci-1"), ecs.HealthUnknown), withHC(running("n2", newID, "ci-2"), ecs.HealthUnknown)}
	if r := run(replica(2, 100, 200, primaryNew, oldActive), tasks, cis); len(r.Stop) != 0 {
		t.Fatalf("stopped %v while the new tasks' health is unknown", stopIDs(r))
	}
	tasks[2].HealthStatus, tasks[3].HealthStatus = ecs.HealthHealthy, ecs.HealthHealthy
	if r := run(replica(2, 100, 200, primaryNew, oldActive), tasks, cis); !slices.Equal(stopIDs(r), []string{"o1", "o2"}) {
		t.Fatalf("stopped %v once the new tasks are healthy", stopIDs(r))
	}

	// An old task RUNNING but awaiting its first health check result (a
	// replacement that just started) is no floor loss yet, but may be
	// about to count: it stops only while the floor holds without it.
	for _, tc := range []struct {
		name      string
		newHealth string
		want      []string
	}{
		{"new tasks unknown: the awaiting old task is kept", ecs.HealthUnknown, nil},
		{"new tasks healthy: all old tasks stop", ecs.HealthHealthy, []string{"o1", "o2", "o3"}},
	} {
		tasks := []ecs.Task{withHC(running("o1", oldID, "ci-1"), ecs.HealthHealthy), withHC(running("o2", oldID, "ci-2"), ecs.HealthHealthy),
			withHC(running("o3", oldID, "ci-1"), ecs.HealthUnknown)}
		for _, id := range []string{"n1", "n2", "n3"} {
			tasks = append(tasks, withHC(running(id, newID, "ci-2"), tc.newHealth))
		}
		if r := run(replica(3, 100, 200, primaryNew, oldActive), tasks, cis); !slices.Equal(stopIDs(r), tc.want) {
			t.Errorf("%s: stopped %v, want %v", tc.name, stopIDs(r), tc.want)
		}
	}
}

func TestComputeDrainingAndLostInstances(t *testing.T) {
	cis := instances("ci-1", "ci-2", "ci-3")
	cis[0].Status = ecs.InstanceDraining
	// Draining: the PENDING task stops at once; the RUNNING one waits for
	// its replacement (min 100%), which starts within max 200%.
	r := run(replica(3, 100, 200, primaryOld), []ecs.Task{running("a", oldID, "ci-1"), pending("b", oldID, "ci-1"), running("c", oldID, "ci-2")}, cis)
	if !slices.Equal(stopIDs(r), []string{"b"}) || started(r) != 2 {
		t.Fatalf("draining: stops %v, started %d", stopIDs(r), started(r))
	}
	r = run(replica(3, 100, 200, primaryOld), []ecs.Task{running("a", oldID, "ci-1"), running("c", oldID, "ci-2"),
		running("d", oldID, "ci-3"), running("e", oldID, "ci-3")}, cis)
	if !slices.Equal(stopIDs(r), []string{"a"}) || started(r) != 0 {
		t.Fatalf("draining once replaced: stops %v, started %d", stopIDs(r), started(r))
	}

	// Lost: an agent unheard from for longer than LostAfter.
	cis = instances("ci-1", "ci-2")
	cis[0].AgentConnected, cis[0].AgentSeenAt = false, now.Add(-2*time.Minute)
	tasks := []ecs.Task{running("a", oldID, "ci-1"), running("b", oldID, "ci-1")}
	if r := run(replica(2, 100, 200, primaryOld), tasks, cis); len(r.Stop) != 0 || !r.Steady {
		t.Fatalf("disconnected for 2 minutes: %+v", r)
	}
	cis[0].AgentSeenAt = now.Add(-10 * time.Minute)
	r = run(replica(2, 100, 200, primaryOld), tasks, cis)
	if !slices.Equal(stopIDs(r), []string{"a", "b"}) || started(r) != 2 {
		t.Fatalf("lost: stops %v, started %d", stopIDs(r), started(r))
	}
	for _, s := range r.Stop {
		if !s.Lost || s.Reason != "Container instance ci-1 was lost: its agent has not been heard from for more than 5m0s" {
			t.Errorf("lost stop %+v", s)
		}
	}
	wantEvents(t, r, "(service web) (container-instance ci-1) was lost: its agent has not been heard from for more than 5m0s. Replacing its 2 tasks: (task a) (task b).")

	// A connected agent is never lost, even with a LostAfter shorter than
	// its heartbeat period; once its channel is gone, it is.
	cis = instances("ci-1", "ci-2")
	cis[0].AgentConnected, cis[0].AgentSeenAt = true, now.Add(-60*time.Second)
	short := Input{Service: replica(2, 100, 200, primaryOld), Tasks: taskPtrs(tasks), Instances: cis, Now: now, LostAfter: 30 * time.Second, NewDeploymentID: rbID}
	if r := Compute(short); len(r.Stop) != 0 {
		t.Fatalf("connected agent heard 60s ago, LostAfter 30s: stops %v", stopIDs(r))
	}
	cis[0].AgentConnected = false
	if r := Compute(short); !slices.Equal(stopIDs(r), []string{"a", "b"}) {
		t.Fatalf("disconnected agent heard 60s ago, LostAfter 30s: stops %v", stopIDs(r))
	}

	// Deregistered (the instance is gone from the cluster).
	r = run(replica(1, 100, 200, primaryOld), []ecs.Task{running("a", oldID, "ci-9")}, cis)
	if len(r.Stop) != 1 || !r.Stop[0].Lost || r.Stop[0].Reason != "Container instance ci-9 was deregistered" || started(r) != 1 {
		t.Fatalf("deregistered: %+v", r)
	}
}

func TestComputeDeleteService(t *testing.T) {
	cis := instances("ci-1")
	svc := replica(2, 100, 200, primaryOld)
	svc.Status = ecs.ServiceDraining
	r := run(svc, []ecs.Task{running("a", oldID, "ci-1"), running("b", oldID, "ci-1")}, cis)
	if !slices.Equal(stopIDs(r), []string{"a", "b"}) || started(r) != 0 || r.Status != ecs.ServiceDraining {
		t.Fatalf("draining service: %+v", r)
	}
	r = run(svc, []ecs.Task{failed("a", oldID, ecs.StopCodeServiceSchedulerInitiated, now)}, cis)
	if r.Status != ecs.ServiceInactive || len(r.Stop) != 0 {
		t.Fatalf("drained service: %+v", r)
	}
	svc.Status = ecs.ServiceInactive
	if r := run(svc, []ecs.Task{running("a", oldID, "ci-1")}, cis); r.Status != ecs.ServiceInactive || len(r.Stop)+len(r.Start) != 0 {
		t.Fatalf("inactive service: %+v", r)
	}
}

func TestComputeRestartThrottle(t *testing.T) {
	cis := instances("ci-1")
	svc := replica(1, 100, 200, primaryNew, oldActive)
	fails := []ecs.Task{running("o", oldID, "ci-1"),
		failed("f1", newID, ecs.StopCodeTaskFailedToStart, now.Add(-40*time.Second)),
		failed("f2", newID, ecs.StopCodeTaskFailedToStart, now.Add(-20*time.Second)),
		failed("f3", newID, ecs.StopCodeTaskFailedToStart, now.Add(-5*time.Second))}
	r := run(svc, fails[:3], cis)
	if started(r) != 1 || r.Backoff != 0 {
		t.Fatalf("after 2 failures: %+v", r)
	}
	r = run(svc, fails, cis)
	if started(r) != 0 || r.Backoff != 10*time.Second {
		t.Fatalf("after 3 failures: started %d, backoff %v", started(r), r.Backoff)
	}
	wantEvents(t, r, "(service web) is unable to consistently start tasks successfully.")
	if d := findDep(t, r, newID); d.FailedTasks != 3 || d.Failures.Consecutive != 3 || !d.Failures.LastAt.Equal(now.Add(-5*time.Second)) {
		t.Fatalf("deployment after 3 failures: %+v", d)
	}
	// The next step sees the deployment as stored: nothing counted twice,
	// the event not repeated, and starts resume once the delay is over.
	svc2 := replica(1, 100, 200, r.Deployments...)
	svc2.Events = []ecs.ServiceEvent{{ID: "1", CreatedAt: now, Message: r.Events[0]}}
	r2 := run(svc2, fails, cis)
	if d := findDep(t, r2, newID); d.FailedTasks != 3 || len(r2.Events) != 0 || r2.Backoff != 10*time.Second {
		t.Fatalf("recount: %+v / events %q", d, r2.Events)
	}
	r3 := Compute(Input{Service: svc2, Tasks: taskPtrs(fails), Instances: cis, Now: now.Add(10 * time.Second)})
	if started(r3) != 1 || r3.Backoff != 0 {
		t.Fatalf("after the delay: %+v", r3)
	}
	// A task that reached RUNNING after the failures ends the throttle.
	ok := running("n", newID, "ci-1")
	ok.StartedAt = now
	r4 := run(svc2, append(fails, ok), cis)
	if d := findDep(t, r4, newID); d.Failures.Consecutive != 0 || r4.Backoff != 0 {
		t.Fatalf("after a success: %+v", d)
	}

	for _, c := range []struct {
		n    int
		want time.Duration
	}{{0, 0}, {2, 0}, {3, 15 * time.Second}, {4, 30 * time.Second}, {8, 480 * time.Second}, {9, 15 * time.Minute}, {1000, 15 * time.Minute}} {
		if got := ThrottleDelay(c.n); got != c.want {
			t.Errorf("ThrottleDelay(%d) = %v, want %v", c.n, got, c.want)
		}
	}
}

func TestComputeCircuitBreaker(t *testing.T) {
	cis := instances("ci-1", "ci-2")
	cb := func(rollback bool, reset *bool) ecs.Service {
		s := replica(2, 100, 200, primaryNew, oldActive)
		s.DeploymentConfiguration.DeploymentCircuitBreaker = &ecs.DeploymentCircuitBreaker{Enable: true, Rollback: rollback, ResetOnHealthyTask: reset}
		return s
	}
	old := []ecs.Task{running("o1", oldID, "ci-1"), running("o2", oldID, "ci-2")}
	fails := append(slices.Clone(old), failed("f1", newID, ecs.StopCodeTaskFailedToStart, now.Add(-3*time.Second)),
		failed("f2", newID, ecs.StopCodeEssentialContainerExited, now.Add(-2*time.Second)))
	// Two failures: below the threshold of 3.
	if r := run(cb(true, nil), fails, cis); findDep(t, r, newID).RolloutState != ecs.RolloutInProgress {
		t.Fatalf("tripped at 2 failures")
	}
	third := failed("f3", newID, ecs.StopCodeTaskFailedToStart, now.Add(-time.Second))
	withNet := cb(true, nil)
	withNet.Deployments = slices.Clone(withNet.Deployments)
	withNet.Deployments[1].LaunchType = "EC2"
	withNet.Deployments[1].NetworkConfiguration = &ecs.NetworkConfiguration{AwsvpcConfiguration: &ecs.AwsVpcConfiguration{Subnets: []string{"subnet-1"}}}
	r := run(withNet, append(slices.Clone(fails), third), cis)
	if len(r.Deployments) != 3 || r.Deployments[0].ID != rbID || r.Deployments[0].TaskDefinition != "web:1" ||
		r.Deployments[0].Status != ecs.DeploymentPrimary || r.Deployments[0].RolloutState != ecs.RolloutInProgress ||
		r.Deployments[0].RolloutStateReason != "ECS deployment "+rbID+" in progress." || r.Deployments[0].DesiredCount != 2 {
		t.Fatalf("rollback deployments %+v", r.Deployments)
	}
	if nc := r.Deployments[0].NetworkConfiguration; r.Deployments[0].LaunchType != "EC2" || nc == nil ||
		nc.AwsvpcConfiguration == withNet.Deployments[1].NetworkConfiguration.AwsvpcConfiguration || nc.AwsvpcConfiguration.Subnets[0] != "subnet-1" {
		t.Fatalf("rollback did not copy the launch settings: %+v", r.Deployments[0])
	}
	if d := findDep(t, r, newID); d.Status != ecs.DeploymentActive || d.RolloutState != ecs.RolloutFailed || d.FailedTasks != 3 {
		t.Fatalf("failed deployment %+v", d)
	}
	wantEvents(t, r, "(service web) (deployment "+newID+") deployment failed: tasks failed to start.", "(service web) rolling back to deployment "+oldID+".")
	if started(r) != 0 || len(r.Stop) != 0 {
		t.Fatalf("the rollback step launched or stopped: %+v", r)
	}

	// Without rollback the deployment stays PRIMARY and FAILED and launches
	// nothing; the old tasks keep running.
	r = run(cb(false, nil), append(slices.Clone(fails), third), cis)
	if p := r.Deployments[0]; p.ID != newID || p.RolloutState != ecs.RolloutFailed || len(r.Deployments) != 2 {
		t.Fatalf("no rollback: %+v", r.Deployments)
	}
	failedSvc := replica(2, 100, 200, r.Deployments...)
	if r := run(failedSvc, append(slices.Clone(fails), third), cis); started(r)+len(r.Stop) != 0 || r.Steady {
		t.Fatalf("FAILED deployment acted: %+v", r)
	}
	// ...but it scales in, and a service being deleted stops everything.
	failedSvc.DesiredCount = 1
	if r := run(failedSvc, append(slices.Clone(fails), third), cis); len(r.Stop) != 1 || started(r) != 0 {
		t.Fatalf("FAILED deployment, desired 2 → 1: %+v", r)
	}
	failedSvc.DesiredCount, failedSvc.Status = 2, ecs.ServiceDraining
	if r := run(failedSvc, append(slices.Clone(fails), third), cis); !slices.Equal(stopIDs(r), []string{"o1", "o2"}) {
		t.Fatalf("FAILED deployment, service deleted: %+v", r)
	}
	failedSvc.Status = ecs.ServiceActive
	// ...and PENDING tasks on a draining instance still stop.
	draining := instances("ci-1", "ci-2")
	draining[1].Status = ecs.InstanceDraining
	if r := run(failedSvc, append(slices.Clone(fails), pending("p", oldID, "ci-2")), draining); !slices.Equal(stopIDs(r), []string{"p"}) || started(r) != 0 {
		t.Fatalf("FAILED deployment, draining instance: %+v", r)
	}

	// No rollback to the same task definition (it would loop).
	same := cb(true, nil)
	same.Deployments[0].TaskDefinition = "web:1"
	if r := run(same, append(slices.Clone(fails), third), cis); len(r.Deployments) != 2 || r.Deployments[0].RolloutState != ecs.RolloutFailed {
		t.Fatalf("rolled back to the same task definition: %+v", r.Deployments)
	}

	// A healthy task started after the failures resets the count, unless
	// resetOnHealthyTask is false.
	healthy := running("n1", newID, "ci-1")
	healthy.StartedAt = now
	withHealthy := append(slices.Clone(fails), healthy)
	if d := findDep(t, run(cb(true, nil), withHealthy, cis), newID); d.Failures.CircuitBreaker != 0 || d.FailedTasks != 2 {
		t.Fatalf("reset on healthy: %+v", d)
	}
	no := false
	if d := findDep(t, run(cb(true, &no), withHealthy, cis), newID); d.Failures.CircuitBreaker != 2 {
		t.Fatalf("resetOnHealthyTask false: %+v", d)
	}

	// Tasks stopped by the scheduler or a user are not failures; tasks
	// stopped for failed health checks are.
	byUs := failed("s1", newID, ecs.StopCodeServiceSchedulerInitiated, now)
	byUs.StoppedReason = ecs.StoppedReasonScaling(newID)
	byUser := failed("s2", newID, ecs.StopCodeUserInitiated, now)
	sick := failed("s3", newID, ecs.StopCodeServiceSchedulerInitiated, now)
	sick.StoppedReason = ecs.StoppedReasonUnhealthy
	if d := findDep(t, run(cb(true, nil), append(slices.Clone(old), byUs, byUser, sick), cis), newID); d.FailedTasks != 1 {
		t.Fatalf("failures counted %d, want 1 (the health-check stop)", d.FailedTasks)
	}
}

func TestComputeDaemon(t *testing.T) {
	cis := instances("ci-1", "ci-2", "ci-3", "ci-4")
	cis[0].Attributes = []ecs.Attribute{{Name: "gpu", Value: "yes"}, {Name: "zone", Value: "a"}}
	cis[1].Attributes = []ecs.Attribute{{Name: "gpu", Value: "yes"}, {Name: "zone", Value: "b"}}
	cis[2].Attributes = []ecs.Attribute{{Name: "gpu", Value: "yes"}, {Name: "zone", Value: "a"}}
	cis[3].Attributes = []ecs.Attribute{{Name: "zone", Value: "a"}}
	cis[2].AgentConnected = false // eligible, but no start until its agent is back
	cfg, err := ecs.NewDeploymentConfiguration(ecs.SchedulingDaemon, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := ecs.Service{Name: "agent", Cluster: "default", Status: ecs.ServiceActive, SchedulingStrategy: ecs.SchedulingDaemon,
		DeploymentConfiguration: cfg, Deployments: []ecs.Deployment{primaryOld},
		PlacementConstraints: []ecs.PlacementConstraint{{Type: "memberOf", Expression: "attribute:zone == a"}}}
	def := &ecs.TaskDefinition{RequiresAttributes: []ecs.Attribute{{Name: "gpu"}}}
	task := func(id, inst string) ecs.Task { x := running(id, oldID, inst); x.ServiceName = "agent"; return x }
	// ci-2 no longer matches zone == a: its task goes; ci-1 gets one.
	r := Compute(Input{Service: svc, Tasks: taskPtrs([]ecs.Task{task("x", "ci-2")}), Instances: cis, Definition: def, Now: now})
	if len(r.Start) != 1 || r.Start[0] != (Launch{DeploymentID: oldID, Count: 1, InstanceID: "ci-1"}) {
		t.Fatalf("starts %+v", r.Start)
	}
	if !slices.Equal(stopIDs(r), []string{"x"}) || r.DesiredCount != 2 {
		t.Fatalf("stops %v, desired %d", stopIDs(r), r.DesiredCount)
	}
	// Two tasks on one instance: the extra one goes. ci-3 still waits for
	// its agent, so the service is not steady.
	r = Compute(Input{Service: svc, Tasks: taskPtrs([]ecs.Task{task("a", "ci-1"), task("b", "ci-1")}), Instances: cis, Definition: def, Now: now})
	if !slices.Equal(stopIDs(r), []string{"b"}) || len(r.Start) != 0 || r.Steady {
		t.Fatalf("duplicate: %+v", r)
	}
	cis[2].AgentConnected = true
	r = Compute(Input{Service: svc, Tasks: taskPtrs([]ecs.Task{task("a", "ci-1"), task("c", "ci-3")}), Instances: cis, Definition: def, Now: now})
	if !r.Steady || len(r.Start)+len(r.Stop) != 0 {
		t.Fatalf("one task per eligible instance is steady: %+v", r)
	}
	// A new revision with the DAEMON defaults (0% / 100%): the old tasks
	// stop first, the new ones start once they are gone.
	svc.Deployments = []ecs.Deployment{deployment(newID, ecs.DeploymentPrimary, "agent:2", ecs.RolloutInProgress, now), oldActive}
	r = Compute(Input{Service: svc, Tasks: taskPtrs([]ecs.Task{task("a", "ci-1"), task("c", "ci-3")}), Instances: cis, Definition: def, Now: now})
	if !slices.Equal(stopIDs(r), []string{"a", "c"}) || len(r.Start) != 0 {
		t.Fatalf("daemon rollout: %+v", r)
	}
}

func TestComputeKeepsInputAndCountsPerDeployment(t *testing.T) {
	cis := instances("ci-1", "ci-2")
	svc := replica(2, 100, 200, primaryNew, oldActive)
	svc.Deployments[0].Failures.Counted = []string{"gone"}
	tasks := []ecs.Task{running("o1", oldID, "ci-1"), running("o2", oldID, "ci-2"), pending("n1", newID, "ci-1"), running("n2", newID, "ci-2")}
	r := run(svc, tasks, cis)
	if svc.Deployments[0].Failures.Counted[0] != "gone" {
		t.Fatal("Compute changed its input's deployments")
	}
	p, o := findDep(t, r, newID), findDep(t, r, oldID)
	if len(p.Failures.Counted) != 0 {
		t.Errorf("counted IDs of deleted tasks kept: %v", p.Failures.Counted)
	}
	// n2 is healthy, so one old task may stop (floor 2: n2 + the other).
	if p.RunningCount != 1 || p.PendingCount != 1 || p.DesiredCount != 2 || o.RunningCount != 1 || o.DesiredCount != 1 {
		t.Errorf("counts: new %d/%d/%d old %d/%d", p.RunningCount, p.PendingCount, p.DesiredCount, o.RunningCount, o.DesiredCount)
	}
	if r.RunningCount != 2 || r.PendingCount != 1 || !strings.Contains(strings.Join(r.Events, "\n"), "has stopped 1 running tasks: (task o1).") {
		t.Errorf("service counts %d/%d, events %q", r.RunningCount, r.PendingCount, r.Events)
	}
}

// taskPtrs points at each of tasks (Input.Tasks).
func taskPtrs(tasks []ecs.Task) []*ecs.Task {
	out := make([]*ecs.Task, len(tasks))
	for i := range tasks {
		out[i] = &tasks[i]
	}
	return out
}
