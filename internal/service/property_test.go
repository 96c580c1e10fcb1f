package service

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/berth/berth/internal/ecs"
)

// TestRollingUpdateStaysWithinBounds deploys a new revision over a steady
// service with random sizes, percentages and start failures, and checks
// after every step (once the result is applied, before agents report)
// that healthy RUNNING tasks never drop below the floor and live tasks
// never exceed the ceiling, and that the rollout converges to a steady
// state on the new deployment, or reports the configuration as blocking.
func TestRollingUpdateStaysWithinBounds(t *testing.T) {
	mins := []int{0, 25, 50, 75, 100}
	maxs := []int{100, 125, 150, 200}
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 1))
		d := 1 + r.IntN(12)
		w := newWorld(t, seed, ecs.SchedulingReplica, d)
		cfg := &w.svc.DeploymentConfiguration
		cfg.MinimumHealthyPercent, cfg.MaximumPercent = mins[r.IntN(len(mins))], maxs[r.IntN(len(maxs))]
		for range 2 + r.IntN(5) {
			w.addInstance()
		}
		w.deploy("web:1")
		w.settle()
		if r.IntN(2) == 0 {
			w.failRate = 0.2
		}
		newID := w.deploy("web:2")
		floor, ceiling := cfg.Floor(d), cfg.Ceiling(d)
		blocked := ceiling <= d && floor >= d
		name := fmt.Sprintf("seed %d: desired %d min %d%% max %d%% (floor %d, ceiling %d) failRate %.1f", seed, d,
			cfg.MinimumHealthyPercent, cfg.MaximumPercent, floor, ceiling, w.failRate)
		steady := false
		for range 3000 {
			res := Compute(w.input())
			w.apply(res)
			healthy, live := w.measure(nil)
			if healthy < floor {
				t.Fatalf("%s: %d healthy tasks, below the floor %d\n%s", name, healthy, floor, w.dump())
			}
			if live > ceiling {
				t.Fatalf("%s: %d live tasks, above the ceiling %d\n%s", name, live, ceiling, w.dump())
			}
			if res.Steady {
				steady = true
				break
			}
			w.advance(res)
		}
		if blocked {
			if steady || !hasEvent(w, blockedMessage("web")) {
				t.Fatalf("%s: blocked configuration: steady=%v, want the deployment-configuration event\n%s", name, steady, w.dump())
			}
			continue
		}
		if !steady {
			t.Fatalf("%s: never reached a steady state\n%s", name, w.dump())
		}
		checkSteadyOn(t, name, w, newID, d)
	}
}

// checkSteadyOn checks that the service runs exactly desired healthy tasks
// of deployment id, its only (PRIMARY, COMPLETED) deployment.
func checkSteadyOn(t *testing.T, name string, w *world, id string, desired int) {
	t.Helper()
	if len(w.svc.Deployments) != 1 || w.svc.Deployments[0].ID != id || w.svc.Deployments[0].RolloutState != ecs.RolloutCompleted {
		t.Fatalf("%s: deployments at steady state, want only %s COMPLETED\n%s", name, id, w.dump())
	}
	n := 0
	for i := range w.tasks {
		tk := &w.tasks[i]
		if tk.Stopped() {
			continue
		}
		if tk.StartedBy != id || tk.LastStatus != ecs.TaskRunning || tk.DesiredStatus != ecs.TaskRunning {
			t.Fatalf("%s: task %s (%s, %s) live at steady state\n%s", name, tk.ID, tk.StartedBy, tk.LastStatus, w.dump())
		}
		n++
	}
	if n != desired {
		t.Fatalf("%s: %d tasks at steady state, want %d\n%s", name, n, desired, w.dump())
	}
	if d := w.svc.Deployments[0]; d.RunningCount != desired || d.PendingCount != 0 || d.DesiredCount != desired {
		t.Fatalf("%s: deployment counts running %d pending %d desired %d, want %d/0/%d", name, d.RunningCount, d.PendingCount, d.DesiredCount, desired, desired)
	}
}

func hasEvent(w *world, msg string) bool {
	return slices.ContainsFunc(w.svc.Events, func(e ecs.ServiceEvent) bool { return e.Message == msg })
}

// TestReplicaChaos runs a service through random crashes, start failures,
// disconnected and deregistered instances, draining, new deployments and
// desired-count changes. At every step the scheduler itself never stops a
// healthy task that would take the service below its floor, and never
// starts tasks beyond its ceiling; once the chaos ends the service
// converges to a steady state on its latest deployment.
func TestReplicaChaos(t *testing.T) {
	configs := [][2]int{{100, 200}, {50, 200}, {0, 100}, {0, 150}, {25, 200}}
	for seed := range uint64(120) {
		r := rand.New(rand.NewPCG(seed, 2))
		c := configs[r.IntN(len(configs))]
		w := newWorld(t, seed, ecs.SchedulingReplica, 1+r.IntN(8))
		cfg := &w.svc.DeploymentConfiguration
		cfg.MinimumHealthyPercent, cfg.MaximumPercent = c[0], c[1]
		for range 2 + r.IntN(4) {
			w.addInstance()
		}
		w.deploy("web:1")
		revision := 1
		name := fmt.Sprintf("seed %d: min %d%% max %d%%", seed, c[0], c[1])
		for step := range 400 {
			w.failRate, w.crashRate = 0.1, 0.02
			chaos(r, w, &revision)
			checkStep(t, fmt.Sprintf("%s step %d", name, step), w)
		}
		calm(w)
		steady := false
		for step := range 3000 {
			if checkStep(t, fmt.Sprintf("%s calm step %d", name, step), w).Steady {
				steady = true
				break
			}
		}
		if !steady {
			t.Fatalf("%s: no steady state after the chaos\n%s", name, w.dump())
		}
		checkSteadyOn(t, name, w, w.primary().ID, w.svc.DesiredCount)
	}
}

// chaos applies random events to w.
func chaos(r *rand.Rand, w *world, revision *int) {
	pick := func() *ecs.ContainerInstance { return &w.instances[r.IntN(len(w.instances))] }
	switch x := r.Float64(); {
	case x < 0.03:
		pick().AgentConnected = false // lost after lostAfter unless it comes back
	case x < 0.08:
		if ci := pick(); !ci.AgentConnected && ci.Status != ecs.InstanceInactive {
			ci.AgentConnected, ci.AgentSeenAt = true, w.now
		}
	case x < 0.10:
		if ci := pick(); ci.Status == ecs.InstanceActive {
			ci.Status = ecs.InstanceDraining
		}
	case x < 0.12:
		if ci := pick(); ci.Status == ecs.InstanceDraining {
			ci.Status = ecs.InstanceActive
		}
	case x < 0.14:
		w.addInstance()
	case x < 0.15:
		pick().Status = ecs.InstanceInactive // deregistered under its tasks
	case x < 0.17:
		*revision++
		w.deploy(fmt.Sprintf("web:%d", *revision))
	case x < 0.19:
		w.svc.DesiredCount = r.IntN(10)
	}
}

// calm ends the chaos: no more failures, every instance back and ACTIVE.
func calm(w *world) {
	w.failRate, w.crashRate = 0, 0
	for i := range w.instances {
		ci := &w.instances[i]
		if ci.Status != ecs.InstanceInactive {
			ci.Status, ci.AgentConnected, ci.AgentSeenAt = ecs.InstanceActive, true, w.now
		}
	}
	w.addInstance()
}

// checkStep runs one step and checks the scheduler's own decisions against
// the floor and the ceiling of the state it saw.
func checkStep(t *testing.T, name string, w *world) Result {
	t.Helper()
	cfg := &w.svc.DeploymentConfiguration
	d := w.svc.DesiredCount
	floor, ceiling := cfg.Floor(d), cfg.Ceiling(d)
	healthyBefore, liveBefore := w.measure(nil)
	res := Compute(w.input())
	stoppedHealthy := 0
	for _, s := range res.Stop {
		i := slices.IndexFunc(w.tasks, func(tk ecs.Task) bool { return tk.ID == s.TaskID })
		tk := &w.tasks[i]
		if !s.Lost && tk.LastStatus == ecs.TaskRunning && tk.DesiredStatus == ecs.TaskRunning && !w.lost(tk.ContainerInstanceID) {
			stoppedHealthy++
		}
	}
	if stoppedHealthy > 0 && healthyBefore-stoppedHealthy < floor {
		t.Fatalf("%s: stopped %d healthy tasks of %d, below the floor %d\n%s", name, stoppedHealthy, healthyBefore, floor, w.dump())
	}
	started := 0
	for _, l := range res.Start {
		started += l.Count
	}
	if started > 0 && liveBefore+started > ceiling {
		t.Fatalf("%s: started %d tasks with %d live, above the ceiling %d\n%s", name, started, liveBefore, ceiling, w.dump())
	}
	w.apply(res)
	w.advance(res)
	return res
}

// TestCircuitBreakerThresholdExact deploys a revision whose tasks never
// start and checks that the deployment becomes FAILED exactly when its
// counted failures reach the threshold (never before), that every failed
// task is counted once, and that with rollback the service returns to the
// last completed task definition while without it the old tasks keep
// running and nothing new is launched.
func TestCircuitBreakerThresholdExact(t *testing.T) {
	ds := []int{1, 2, 5, 6, 7, 8, 25, 100, 399, 400, 401, 450}
	r := rand.New(rand.NewPCG(3, 3))
	for range 8 {
		ds = append(ds, 1+r.IntN(450))
	}
	for i, d := range ds {
		for _, rollback := range []bool{true, false} {
			w := newWorld(t, uint64(i), ecs.SchedulingReplica, d)
			cfg := &w.svc.DeploymentConfiguration
			// Small launch batches (max just over 100%) make failures arrive a
			// few at a time, so the trip point is tested finely.
			if i%2 == 1 {
				cfg.MaximumPercent = 100 + (100*(1+i%3)+d-1)/d
			}
			cfg.DeploymentCircuitBreaker = &ecs.DeploymentCircuitBreaker{Enable: true, Rollback: rollback}
			for range 4 {
				w.addInstance()
			}
			goodID := w.deploy("web:1")
			w.settle()
			w.bad["web:2"] = true
			badID := w.deploy("web:2")
			threshold := cfg.DeploymentCircuitBreaker.Threshold(d)
			name := fmt.Sprintf("desired %d max %d%% rollback %v (threshold %d)", d, cfg.MaximumPercent, rollback, threshold)
			prev, tripped := 0, false
			for range 5000 {
				in := w.input()
				res := Compute(in)
				j := slices.IndexFunc(res.Deployments, func(x ecs.Deployment) bool { return x.ID == badID })
				dep := res.Deployments[j]
				failedInWorld := 0
				for k := range w.tasks {
					if tk := &w.tasks[k]; tk.StartedBy == badID && tk.StopCode == ecs.StopCodeTaskFailedToStart {
						failedInWorld++
					}
				}
				if dep.FailedTasks != failedInWorld {
					t.Fatalf("%s: failedTasks %d, %d tasks failed", name, dep.FailedTasks, failedInWorld)
				}
				count := dep.Failures.CircuitBreaker
				if dep.RolloutState == ecs.RolloutFailed {
					if count < threshold || prev >= threshold {
						t.Fatalf("%s: FAILED at count %d (previous %d)", name, count, prev)
					}
					if dep.RolloutStateReason != ecs.RolloutReasonCircuitBreaker || !slices.Contains(res.Events, deploymentFailedMessage("web", badID)) {
						t.Fatalf("%s: FAILED with reason %q, events %q", name, dep.RolloutStateReason, res.Events)
					}
					tripped = true
					checkAfterTrip(t, name, w, res, goodID, badID, rollback, d, in.NewDeploymentID)
					break
				}
				if count >= threshold {
					t.Fatalf("%s: count %d reached the threshold without FAILED", name, count)
				}
				prev = count
				w.apply(res)
				w.advance(res)
			}
			if !tripped {
				t.Fatalf("%s: circuit breaker never tripped\n%s", name, w.dump())
			}
		}
	}
}

func checkAfterTrip(t *testing.T, name string, w *world, res Result, goodID, badID string, rollback bool, d int, newID string) {
	t.Helper()
	w.apply(res)
	w.advance(res)
	if !rollback {
		if p := w.primary(); p.ID != badID || p.RolloutState != ecs.RolloutFailed {
			t.Fatalf("%s: PRIMARY after trip without rollback: %+v", name, p)
		}
		for range 20 {
			r := w.step()
			if len(r.Start) > 0 || r.Steady {
				t.Fatalf("%s: a FAILED deployment launched %v (steady %v)", name, r.Start, r.Steady)
			}
		}
		if n := len(w.liveOf(goodID)); n != d {
			t.Fatalf("%s: %d old tasks live after the failure, want %d\n%s", name, n, d, w.dump())
		}
		return
	}
	if p := w.primary(); p.ID != newID || p.TaskDefinition != "web:1" || p.RolloutState != ecs.RolloutInProgress {
		t.Fatalf("%s: PRIMARY after rollback: %+v", name, p)
	}
	if !slices.Contains(res.Events, rollingBackMessage("web", goodID)) {
		t.Fatalf("%s: events %q lack the rollback", name, res.Events)
	}
	for range 500 {
		if w.step().Steady {
			checkSteadyOn(t, name, w, newID, d)
			return
		}
	}
	t.Fatalf("%s: rollback never settled\n%s", name, w.dump())
}

// TestDaemonFollowsChurn runs a DAEMON service (memberOf role != batch)
// while instances join, leave, disconnect, drain and change attributes and
// revisions are deployed. Every start goes to an eligible instance with a
// connected agent that has no task of the PRIMARY deployment; after the
// churn each eligible instance runs exactly one task and no other
// instance runs any.
func TestDaemonFollowsChurn(t *testing.T) {
	roles := []string{"web", "batch", "db"}
	for seed := range uint64(100) {
		r := rand.New(rand.NewPCG(seed, 4))
		w := newWorld(t, seed, ecs.SchedulingDaemon, 0)
		w.svc.PlacementConstraints = []ecs.PlacementConstraint{{Type: "memberOf", Expression: "attribute:role != batch"}}
		for range 2 + r.IntN(4) {
			w.addInstance(ecs.Attribute{Name: "role", Value: roles[r.IntN(3)]})
		}
		w.deploy("agent:1")
		revision := 1
		name := fmt.Sprintf("seed %d", seed)
		for step := range 150 {
			w.failRate = 0.1
			if r.Float64() < 0.05 {
				ci := &w.instances[r.IntN(len(w.instances))]
				ci.Attributes = []ecs.Attribute{{Name: "role", Value: roles[r.IntN(3)]}}
			} else {
				chaos(r, w, &revision)
			}
			res := Compute(w.input())
			seen := map[string]bool{}
			for _, l := range res.Start {
				if !daemonEligible(w, l.InstanceID) || seen[l.InstanceID] || l.Count != 1 {
					t.Fatalf("%s step %d: start %+v on an instance that should not get one\n%s", name, step, l, w.dump())
				}
				seen[l.InstanceID] = true
				for k := range w.tasks {
					tk := &w.tasks[k]
					if tk.ContainerInstanceID == l.InstanceID && tk.StartedBy == l.DeploymentID && !tk.Stopped() && tk.DesiredStatus == ecs.TaskRunning {
						t.Fatalf("%s step %d: second task of %s on %s", name, step, l.DeploymentID, l.InstanceID)
					}
				}
			}
			w.apply(res)
			w.advance(res)
		}
		calm(w)
		steady := false
		for range 500 {
			res := w.step()
			if res.Steady {
				steady = true
				break
			}
		}
		if !steady {
			t.Fatalf("%s: no steady state after the churn\n%s", name, w.dump())
		}
		eligible := 0
		for i := range w.instances {
			ci := &w.instances[i]
			var live []*ecs.Task
			for k := range w.tasks {
				if tk := &w.tasks[k]; tk.ContainerInstanceID == ci.ID && !tk.Stopped() {
					live = append(live, tk)
				}
			}
			want := 0
			if daemonEligible(w, ci.ID) {
				want = 1
				eligible++
			}
			if len(live) != want || (want == 1 && (live[0].StartedBy != w.primary().ID || live[0].LastStatus != ecs.TaskRunning)) {
				t.Fatalf("%s: instance %s runs %d tasks at steady state, want %d\n%s", name, ci.ID, len(live), want, w.dump())
			}
		}
		if w.svc.DesiredCount != eligible {
			t.Fatalf("%s: desired count %d, %d eligible instances", name, w.svc.DesiredCount, eligible)
		}
	}
}

func daemonEligible(w *world, id string) bool {
	ci := w.instance(id)
	if ci == nil || ci.Status != ecs.InstanceActive || !ci.AgentConnected || w.lost(id) {
		return false
	}
	// As in the cluster query language, an instance without the attribute
	// does not match attribute:role != batch.
	return slices.ContainsFunc(ci.Attributes, func(a ecs.Attribute) bool { return a.Name == "role" && a.Value != "batch" })
}

// TestComputeDeterministic checks that Compute gives the same answer for
// the same snapshot and leaves its input untouched.
func TestComputeDeterministic(t *testing.T) {
	w := newWorld(t, 9, ecs.SchedulingReplica, 5)
	for range 3 {
		w.addInstance()
	}
	w.deploy("web:1")
	w.failRate = 0.3
	for range 30 {
		in := w.input()
		before := mustJSON(t, in)
		a, b := Compute(in), Compute(in)
		if ja, jb := mustJSON(t, a), mustJSON(t, b); ja != jb {
			t.Fatalf("two runs differ:\n%s\n%s", ja, jb)
		}
		if after := mustJSON(t, in); after != before {
			t.Fatalf("Compute modified its input:\n%s\n%s", before, after)
		}
		w.apply(a)
		w.advance(a)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
