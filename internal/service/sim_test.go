package service

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/berth/berth/internal/ecs"
)

// world is a fake cluster the tests run Compute against: each step applies
// a Result (starts become PENDING tasks, stops mark tasks desired STOPPED)
// and then advances time, when stopping tasks become STOPPED and PENDING
// ones RUNNING, or STOPPED with TaskFailedToStart for bad task definitions
// and at random with failRate.
type world struct {
	t         *testing.T
	rng       *rand.Rand
	now       time.Time
	svc       ecs.Service
	tasks     []ecs.Task
	instances []ecs.ContainerInstance
	def       *ecs.TaskDefinition // passed as Input.Definition
	lostAfter time.Duration

	failRate  float64         // chance a PENDING task fails to start
	crashRate float64         // chance a RUNNING task's essential container exits
	bad       map[string]bool // task definitions whose tasks never start
	healthAll string          // health status new RUNNING tasks report ("" = none)

	nextTask, nextDep, nextEvent int
	unplaced                     int // launches the fake placement could not place
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newWorld(t *testing.T, seed uint64, strategy ecs.SchedulingStrategy, desired int) *world {
	t.Helper()
	cfg, err := ecs.NewDeploymentConfiguration(strategy, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), now: t0, bad: map[string]bool{}, lostAfter: 5 * time.Minute}
	w.svc = ecs.Service{Name: "web", Cluster: "default", Status: ecs.ServiceActive, SchedulingStrategy: strategy,
		DesiredCount: desired, DeploymentConfiguration: cfg, CreatedAt: t0}
	return w
}

func (w *world) addInstance(attrs ...ecs.Attribute) *ecs.ContainerInstance {
	id := fmt.Sprintf("ci-%03d", len(w.instances))
	w.instances = append(w.instances, ecs.ContainerInstance{ID: id, Cluster: "default", Status: ecs.InstanceActive,
		Attributes: attrs, RegisteredAt: w.now, AgentConnected: true, AgentSeenAt: w.now})
	return &w.instances[len(w.instances)-1]
}

func (w *world) instance(id string) *ecs.ContainerInstance {
	for i := range w.instances {
		if w.instances[i].ID == id {
			return &w.instances[i]
		}
	}
	return nil
}

func (w *world) newDeploymentID() string {
	w.nextDep++
	return ecs.FormatDeploymentID(uint64(w.nextDep) * 1000003)
}

// deploy makes a new PRIMARY deployment of taskDef, as UpdateService does;
// the old PRIMARY becomes ACTIVE.
func (w *world) deploy(taskDef string) string {
	for i := range w.svc.Deployments {
		if w.svc.Deployments[i].Status == ecs.DeploymentPrimary {
			w.svc.Deployments[i].Status = ecs.DeploymentActive
		}
	}
	id := w.newDeploymentID()
	d := ecs.Deployment{ID: id, Status: ecs.DeploymentPrimary, TaskDefinition: taskDef, DesiredCount: w.svc.DesiredCount,
		CreatedAt: w.now, UpdatedAt: w.now, RolloutState: ecs.RolloutInProgress, RolloutStateReason: ecs.RolloutReasonInProgress(id)}
	w.svc.Deployments = append([]ecs.Deployment{d}, w.svc.Deployments...)
	w.svc.TaskDefinition = taskDef
	w.now = w.now.Add(time.Second)
	return id
}

// settle runs the service to a steady state on its current deployment.
func (w *world) settle() {
	w.t.Helper()
	for range 200 {
		if res := w.step(); res.Steady {
			return
		}
	}
	w.t.Fatalf("service did not settle:\n%s", w.dump())
}

func (w *world) input() Input {
	return Input{Service: w.svc, Tasks: taskPtrs(w.tasks), Instances: w.instances, Definition: w.def, Now: w.now,
		LostAfter: w.lostAfter, NewDeploymentID: w.newDeploymentID()}
}

// step runs Compute, applies its result and advances time.
func (w *world) step() Result {
	res := Compute(w.input())
	w.apply(res)
	w.advance(res)
	return res
}

func (w *world) apply(res Result) {
	w.t.Helper()
	w.svc.Deployments = res.Deployments
	if len(res.Deployments) > 0 {
		w.svc.TaskDefinition = res.Deployments[0].TaskDefinition
	}
	w.svc.Status = res.Status
	w.svc.DesiredCount = res.DesiredCount
	var evs []ecs.ServiceEvent
	for _, m := range res.Events {
		w.nextEvent++
		evs = append(evs, ecs.ServiceEvent{ID: fmt.Sprint(w.nextEvent), CreatedAt: w.now, Message: m})
	}
	w.svc.Events = ecs.AddServiceEvents(w.svc.Events, evs...)
	for _, s := range res.Stop {
		i := slices.IndexFunc(w.tasks, func(t ecs.Task) bool { return t.ID == s.TaskID })
		if i < 0 {
			w.t.Fatalf("Stop of unknown task %s", s.TaskID)
		}
		t := &w.tasks[i]
		if t.Stopped() {
			w.t.Fatalf("Stop of task %s, already STOPPED", s.TaskID)
		}
		t.DesiredStatus, t.StopCode, t.StoppedReason = ecs.TaskStopped, s.StopCode, s.Reason
		if s.Lost {
			t.LastStatus, t.StoppedAt = ecs.TaskStopped, w.now
		}
	}
	for _, l := range res.Start {
		dep := slices.IndexFunc(w.svc.Deployments, func(d ecs.Deployment) bool { return d.ID == l.DeploymentID })
		if dep < 0 || w.svc.Deployments[dep].Status != ecs.DeploymentPrimary {
			w.t.Fatalf("Start for %s, which is not the PRIMARY deployment", l.DeploymentID)
		}
		td := w.svc.Deployments[dep].TaskDefinition
		for range l.Count {
			inst := l.InstanceID
			if inst == "" {
				inst = w.place()
			} else if ci := w.instance(inst); ci == nil || ci.Status != ecs.InstanceActive || !ci.AgentConnected {
				w.t.Fatalf("DAEMON start on %s, which cannot take tasks", inst)
			}
			if inst == "" {
				w.unplaced++
				continue
			}
			w.nextTask++
			w.tasks = append(w.tasks, ecs.Task{ID: fmt.Sprintf("t%05d", w.nextTask), Cluster: "default",
				ContainerInstanceID: inst, Definition: ecs.TaskDefinition{ARN: td, Family: "web"},
				LastStatus: ecs.TaskPending, DesiredStatus: ecs.TaskRunning, StartedBy: l.DeploymentID,
				ServiceName: w.svc.Name, Group: w.svc.Group(), CreatedAt: w.now})
		}
	}
}

// place picks the ACTIVE, connected instance with the fewest live tasks of
// the service (lowest ID on ties); "" when there is none.
func (w *world) place() string {
	best, bestN := "", 0
	for i := range w.instances {
		ci := &w.instances[i]
		if ci.Status != ecs.InstanceActive || !ci.AgentConnected {
			continue
		}
		n := 0
		for j := range w.tasks {
			if w.tasks[j].ContainerInstanceID == ci.ID && w.tasks[j].Active() {
				n++
			}
		}
		if best == "" || n < bestN {
			best, bestN = ci.ID, n
		}
	}
	return best
}

// advance moves time on (by the back-off when Compute asked to wait and
// did nothing else) and lets agents report.
func (w *world) advance(res Result) {
	dt := 10 * time.Second
	if res.Backoff > 0 && len(res.Start) == 0 && len(res.Stop) == 0 {
		dt = res.Backoff
	}
	w.now = w.now.Add(dt)
	for i := range w.tasks {
		t := &w.tasks[i]
		ci := w.instance(t.ContainerInstanceID)
		if t.Stopped() || ci == nil || !ci.AgentConnected {
			continue // no agent reports for it
		}
		switch {
		case t.DesiredStatus == ecs.TaskStopped:
			t.LastStatus, t.StoppedAt = ecs.TaskStopped, w.now
		case t.LastStatus == ecs.TaskPending:
			if w.bad[t.Definition.ARN] || w.rng.Float64() < w.failRate {
				t.LastStatus, t.DesiredStatus, t.StoppedAt = ecs.TaskStopped, ecs.TaskStopped, w.now
				t.StopCode, t.StoppedReason = ecs.StopCodeTaskFailedToStart, ecs.StoppedReasonFailedToStart
				continue
			}
			t.LastStatus, t.StartedAt, t.HealthStatus = ecs.TaskRunning, w.now, w.healthAll
		case t.LastStatus == ecs.TaskRunning && w.crashRate > 0 && w.rng.Float64() < w.crashRate:
			t.LastStatus, t.DesiredStatus, t.StoppedAt = ecs.TaskStopped, ecs.TaskStopped, w.now
			t.StopCode, t.StoppedReason = ecs.StopCodeEssentialContainerExited, ecs.StoppedReasonEssentialExited
		}
	}
	for i := range w.instances {
		if w.instances[i].AgentConnected {
			w.instances[i].AgentSeenAt = w.now
		}
	}
}

// lost mirrors the controller's rule: an instance is lost when missing,
// deregistered or unheard from for more than lostAfter.
func (w *world) lost(id string) bool {
	ci := w.instance(id)
	return ci == nil || ci.Status == ecs.InstanceInactive || ci.Status == ecs.InstanceDeregistering ||
		(w.lostAfter > 0 && w.now.Sub(ci.AgentSeenAt) > w.lostAfter)
}

// measure counts healthy tasks (RUNNING, desired RUNNING, not lost) and
// live ones (not STOPPED, not lost), optionally only on some instances.
func (w *world) measure(on func(string) bool) (healthy, live int) {
	for i := range w.tasks {
		t := &w.tasks[i]
		if t.Stopped() || w.lost(t.ContainerInstanceID) || (on != nil && !on(t.ContainerInstanceID)) {
			continue
		}
		live++
		if t.LastStatus == ecs.TaskRunning && t.DesiredStatus == ecs.TaskRunning && t.HealthStatus != ecs.HealthUnhealthy {
			healthy++
		}
	}
	return healthy, live
}

func (w *world) primary() *ecs.Deployment { return w.svc.Primary() }

// liveOf returns the live tasks of deployment id.
func (w *world) liveOf(id string) []*ecs.Task {
	var out []*ecs.Task
	for i := range w.tasks {
		if t := &w.tasks[i]; t.StartedBy == id && !t.Stopped() {
			out = append(out, t)
		}
	}
	return out
}

func (w *world) dump() string {
	s := fmt.Sprintf("now=%s status=%s desired=%d\n", w.now.Sub(t0), w.svc.Status, w.svc.DesiredCount)
	for _, d := range w.svc.Deployments {
		s += fmt.Sprintf("  deployment %s %s %s %s run=%d pend=%d desired=%d failed=%d %+v\n", d.ID, d.Status, d.TaskDefinition,
			d.RolloutState, d.RunningCount, d.PendingCount, d.DesiredCount, d.FailedTasks, d.Failures)
	}
	for _, ci := range w.instances {
		s += fmt.Sprintf("  instance %s %s connected=%v seen=%s attrs=%v\n", ci.ID, ci.Status, ci.AgentConnected, ci.AgentSeenAt.Sub(t0), ci.Attributes)
	}
	for _, t := range w.tasks {
		if !t.Stopped() {
			s += fmt.Sprintf("  task %s %s on %s last=%s desired=%s health=%q\n", t.ID, t.StartedBy, t.ContainerInstanceID, t.LastStatus, t.DesiredStatus, t.HealthStatus)
		}
	}
	for i := len(w.svc.Events) - 1; i >= 0 && i >= len(w.svc.Events)-15; i-- {
		s += "  event " + w.svc.Events[i].Message + "\n"
	}
	return s
}
