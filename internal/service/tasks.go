package service

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/scheduler"
)

// computation holds one run of Compute: the input, the service's tasks as
// the controller sees them, and the decisions taken so far.
type computation struct {
	in  Input
	svc *ecs.Service
	now time.Time

	deps    []ecs.Deployment // copies of the service's deployments, plus any created
	orig    map[string]ecs.Deployment
	primary int // index into deps, -1 when there is none
	depByID map[string]int

	instances map[string]*ecs.ContainerInstance
	lostWhy   map[string]string // instance ID → why it is lost ("" = not lost)
	tasks     []*view           // the service's tasks, ordered by ID
	eligible  map[string]bool   // DAEMON: eligible instance IDs, once computed
	onInst    map[string][]scheduler.TaskInfo

	starts     []Launch
	stops      []Stop
	stopped    map[string]bool // task IDs in stops
	events     []string
	retired    []ecs.Deployment
	backoff    time.Duration
	rolledBack bool // the circuit breaker rolled back in this step
	desired    int  // desired task count this step (DAEMON: eligible instances)
	settled    bool // the plan found nothing to do and everything in place
}

// view is one task of the service with what the controller derived of it.
type view struct {
	t    *ecs.Task
	dep  int // index into deps, -1 when its deployment is unknown
	inst *ecs.ContainerInstance

	live      bool // not yet STOPPED
	stopping  bool // desired STOPPED already
	lost      bool // on a lost instance
	draining  bool // on a DRAINING instance
	healthy   bool
	unhealthy bool // UNHEALTHY past the grace period
}

// active reports whether the task is live and still meant to run: not
// being stopped (before or in this step) and not lost.
func (c *computation) active(v *view) bool {
	return v.live && !v.stopping && !v.lost && !c.stopped[v.t.ID]
}

func newComputation(in Input) *computation {
	c := &computation{
		in: in, svc: &in.Service, now: in.Now,
		orig: map[string]ecs.Deployment{}, depByID: map[string]int{}, primary: -1,
		instances: map[string]*ecs.ContainerInstance{}, lostWhy: map[string]string{},
		stopped: map[string]bool{},
	}
	for _, d := range in.Service.Deployments {
		d.Failures.Counted = slices.Clone(d.Failures.Counted)
		if _, dup := c.depByID[d.ID]; dup {
			continue
		}
		c.orig[d.ID] = d
		c.depByID[d.ID] = len(c.deps)
		if d.Status == ecs.DeploymentPrimary && c.primary < 0 {
			c.primary = len(c.deps)
		}
		c.deps = append(c.deps, d)
	}
	for i := range in.Instances {
		ci := &in.Instances[i]
		c.instances[ci.ID] = ci
	}
	grace := in.Service.HealthCheckGracePeriod()
	for _, t := range in.Tasks {
		if t.ServiceName != in.Service.Name || (t.Cluster != "" && in.Service.Cluster != "" && t.Cluster != in.Service.Cluster) {
			continue
		}
		v := &view{t: t, dep: -1, live: !t.Stopped(), stopping: t.DesiredStatus == ecs.TaskStopped}
		if d, ok := c.depByID[t.StartedBy]; ok {
			v.dep = d
		}
		if t.ContainerInstanceID != "" {
			v.inst = c.instances[t.ContainerInstanceID]
			v.lost = c.lostReason(t.ContainerInstanceID) != ""
			v.draining = v.inst != nil && v.inst.Status == ecs.InstanceDraining
		}
		if v.live && !v.stopping && !v.lost && t.LastStatus == ecs.TaskRunning {
			if t.Definition.HasHealthCheck() {
				v.healthy = t.HealthStatus == ecs.HealthHealthy
			} else {
				v.healthy = t.HealthStatus != ecs.HealthUnhealthy
			}
			if t.HealthStatus == ecs.HealthUnhealthy {
				start := t.StartedAt
				if start.IsZero() {
					start = t.CreatedAt
				}
				v.unhealthy = !in.Now.Before(start.Add(grace))
			}
		}
		c.tasks = append(c.tasks, v)
	}
	slices.SortFunc(c.tasks, func(a, b *view) int { return strings.Compare(a.t.ID, b.t.ID) })
	return c
}

// lostReason says why instance id is lost, or "" when it is not.
func (c *computation) lostReason(id string) string {
	if why, ok := c.lostWhy[id]; ok {
		return why
	}
	why := ""
	ci := c.instances[id]
	switch {
	case ci == nil || ci.Status == ecs.InstanceInactive || ci.Status == ecs.InstanceDeregistering:
		why = "was deregistered"
	case c.in.LostAfter > 0 && !ci.AgentConnectedAt(c.now, ecs.AgentStaleAfter):
		// A connected agent is never lost; the time counts from when it
		// was last heard (or its channel closed).
		seen := ci.AgentSeenAt
		if seen.IsZero() || seen.Before(ci.RegisteredAt) {
			seen = ci.RegisteredAt
		}
		if c.now.Sub(seen) > c.in.LostAfter {
			why = fmt.Sprintf("was lost: its agent has not been heard from for more than %s", c.in.LostAfter)
		}
	}
	c.lostWhy[id] = why
	return why
}

// failureKind says whether and how a stopped task failed.
type failureKind int

const (
	noFailure    failureKind = iota
	startFailure             // stopped without reaching RUNNING
	runFailure               // an essential container exited, or health checks failed
)

// classifyFailure tells a failed task from one stopped on purpose: stops by
// the scheduler (other than for health), by a user, by the infrastructure
// and by deregistration are not failures of the deployment.
func classifyFailure(t *ecs.Task) failureKind {
	if !t.Stopped() {
		return noFailure
	}
	switch t.StopCode {
	case ecs.StopCodeTaskFailedToStart:
		return startFailure
	case ecs.StopCodeEssentialContainerExited:
		if t.StartedAt.IsZero() {
			return startFailure
		}
		return runFailure
	case ecs.StopCodeServiceSchedulerInitiated:
		if t.StoppedReason == ecs.StoppedReasonUnhealthy {
			return runFailure
		}
	}
	return noFailure
}

// stop records that task v is to be stopped.
func (c *computation) stop(v *view, reason string, lost bool) {
	if c.stopped[v.t.ID] {
		return
	}
	c.stopped[v.t.ID] = true
	c.stops = append(c.stops, Stop{TaskID: v.t.ID, Reason: reason, StopCode: ecs.StopCodeServiceSchedulerInitiated, Lost: lost})
}

// stopLost stops every live task on a lost instance (even one already
// being stopped: only the caller can record it STOPPED now), with one event
// per instance.
func (c *computation) stopLost() {
	byInst := map[string][]string{}
	var order []string
	for _, v := range c.tasks {
		if !v.live || !v.lost {
			continue
		}
		id := v.t.ContainerInstanceID
		why := c.lostReason(id)
		c.stop(v, "Container instance "+id+" "+why, true)
		if byInst[id] == nil {
			order = append(order, id)
		}
		byInst[id] = append(byInst[id], v.t.ID)
	}
	slices.Sort(order)
	for _, id := range order {
		c.emit(lostMessage(c.svc.Name, id, c.lostReason(id), byInst[id], c.svc.SchedulingStrategy != ecs.SchedulingDaemon), false)
	}
}

// stopUnhealthy stops tasks whose health checks failed past the grace
// period.
func (c *computation) stopUnhealthy() {
	for _, v := range c.tasks {
		if v.unhealthy && c.active(v) {
			c.emit(unhealthyMessage(c.svc.Name, v.t.ID), false)
			c.stop(v, ecs.StoppedReasonUnhealthy, false)
		}
	}
}

// primaryDep returns the PRIMARY deployment, or nil.
func (c *computation) primaryDep() *ecs.Deployment {
	if c.primary < 0 {
		return nil
	}
	return &c.deps[c.primary]
}

// isPrimary reports whether v belongs to the PRIMARY deployment.
func (c *computation) isPrimary(v *view) bool { return c.primary >= 0 && v.dep == c.primary }

// depCreated is when v's deployment was created (zero when unknown, so
// that tasks of forgotten deployments count as the oldest).
func (c *computation) depCreated(v *view) time.Time {
	if v.dep < 0 {
		return time.Time{}
	}
	return c.deps[v.dep].CreatedAt
}
