package service

import (
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/berth/berth/internal/ecs"
)

// countFailures counts, once each, the failed tasks of every deployment
// (failedTasks, the circuit breaker's count, the restart throttle's run of
// start failures), forgets counted tasks that no longer exist, and applies
// the resets: a task that reached RUNNING after the last failure ends the
// run of start failures, and one that is healthy resets the breaker's
// count when resetOnHealthyTask holds.
func (c *computation) countFailures() {
	present := make(map[string]bool, len(c.in.Tasks))
	for _, t := range c.in.Tasks {
		present[t.ID] = true
	}
	resetOnHealthy := true
	if cb := c.svc.DeploymentConfiguration.DeploymentCircuitBreaker; cb != nil {
		resetOnHealthy = cb.ResetsOnHealthyTask()
	}
	for i := range c.deps {
		d := &c.deps[i]
		f := &d.Failures
		f.Counted = slices.DeleteFunc(f.Counted, func(id string) bool { return !present[id] })
		counted := make(map[string]bool, len(f.Counted))
		for _, id := range f.Counted {
			counted[id] = true
		}
		var fresh []*view
		for _, v := range c.tasks {
			if v.dep == i && !counted[v.t.ID] && classifyFailure(v.t) != noFailure {
				fresh = append(fresh, v)
			}
		}
		slices.SortFunc(fresh, func(a, b *view) int {
			if r := a.t.StoppedAt.Compare(b.t.StoppedAt); r != 0 {
				return r
			}
			return strings.Compare(a.t.ID, b.t.ID)
		})
		for _, v := range fresh {
			d.FailedTasks++
			f.CircuitBreaker++
			if classifyFailure(v.t) == startFailure {
				f.Consecutive++
			}
			if v.t.StoppedAt.After(f.LastAt) {
				f.LastAt = v.t.StoppedAt
			}
			f.Counted = append(f.Counted, v.t.ID)
		}
		if f.LastAt.IsZero() {
			continue
		}
		for _, v := range c.tasks {
			if v.dep != i || !v.t.StartedAt.After(f.LastAt) {
				continue
			}
			f.Consecutive = 0
			if v.healthy && resetOnHealthy {
				f.CircuitBreaker = 0
			}
		}
	}
}

// throttled reports whether the restart throttle holds back the PRIMARY
// deployment's starts now; if so it sets the back-off and posts ECS's
// event.
func (c *computation) throttled() bool {
	f := &c.deps[c.primary].Failures
	delay := ThrottleDelay(f.Consecutive)
	if delay == 0 {
		return false
	}
	next := f.LastAt.Add(delay)
	if !c.now.Before(next) {
		return false
	}
	c.backoff = next.Sub(c.now)
	c.emit(throttleMessage(c.svc.Name), true)
	return true
}

// ThrottleDelay is how long after the last failure starts wait when
// consecutive tasks in a row failed to start: nothing below
// RestartThrottleAfter, then RestartThrottleBase doubling per further
// failure, at most RestartThrottleMax.
func ThrottleDelay(consecutive int) time.Duration {
	if consecutive < RestartThrottleAfter {
		return 0
	}
	shift := min(consecutive-RestartThrottleAfter, 30)
	delay := RestartThrottleBase << shift
	if delay > RestartThrottleMax || delay <= 0 {
		delay = RestartThrottleMax
	}
	return delay
}

// breakerDesired is the desired count the circuit breaker's threshold is
// taken from: the service's, or for DAEMON the eligible instances.
func (c *computation) breakerDesired() int {
	if c.svc.SchedulingStrategy == ecs.SchedulingDaemon {
		return len(c.eligibleInstances())
	}
	return c.svc.DesiredCount
}

// circuitBreaker fails the PRIMARY deployment once its failures reach the
// threshold and, with rollback, makes a new PRIMARY deployment of the last
// completed one's configuration.
func (c *computation) circuitBreaker() {
	p := c.primaryDep()
	cfg := &c.svc.DeploymentConfiguration
	if p == nil || p.RolloutState != ecs.RolloutInProgress || !cfg.CircuitBreakerEnabled() || c.svc.Status != ecs.ServiceActive {
		return
	}
	cb := cfg.DeploymentCircuitBreaker
	desired := c.breakerDesired()
	if p.Failures.CircuitBreaker < cb.Threshold(desired) {
		return
	}
	p.RolloutState, p.RolloutStateReason = ecs.RolloutFailed, ecs.RolloutReasonCircuitBreaker
	c.emit(deploymentFailedMessage(c.svc.Name, p.ID), false)
	if !cb.Rollback {
		return
	}
	target := -1
	for i := range c.deps {
		d := &c.deps[i]
		if i == c.primary || d.RolloutState != ecs.RolloutCompleted {
			continue
		}
		if target < 0 || d.CreatedAt.After(c.deps[target].CreatedAt) {
			target = i
		}
	}
	id := c.in.NewDeploymentID
	if _, taken := c.depByID[id]; target < 0 || taken || !ecs.ValidDeploymentID(id) || c.deps[target].TaskDefinition == p.TaskDefinition {
		return
	}
	t := &c.deps[target]
	nd := ecs.Deployment{
		ID: id, Status: ecs.DeploymentPrimary, TaskDefinition: t.TaskDefinition, DesiredCount: desired,
		CreatedAt: c.now, UpdatedAt: c.now, LaunchType: t.LaunchType,
		CapacityProviderStrategy: slices.Clone(t.CapacityProviderStrategy), PlatformVersion: t.PlatformVersion,
		NetworkConfiguration: cloneNetwork(t.NetworkConfiguration),
		RolloutState:         ecs.RolloutInProgress, RolloutStateReason: ecs.RolloutReasonInProgress(id),
	}
	targetID := t.ID
	p.Status = ecs.DeploymentActive
	c.depByID[id] = len(c.deps)
	c.primary = len(c.deps)
	c.deps = append(c.deps, nd)
	c.rolledBack = true
	c.emit(rollingBackMessage(c.svc.Name, targetID), false)
}

func cloneNetwork(n *ecs.NetworkConfiguration) *ecs.NetworkConfiguration {
	if n == nil {
		return nil
	}
	out := &ecs.NetworkConfiguration{}
	if a := n.AwsvpcConfiguration; a != nil {
		out.AwsvpcConfiguration = &ecs.AwsVpcConfiguration{Subnets: slices.Clone(a.Subnets),
			SecurityGroups: slices.Clone(a.SecurityGroups), AssignPublicIP: a.AssignPublicIP}
	}
	return out
}

// finish completes the PRIMARY deployment when the plan settled, retires
// the others, updates the counts and assembles the Result.
func (c *computation) finish() Result {
	c.stopEvents()
	p := c.primaryDep()
	steady := false
	if c.settled && p != nil && c.svc.Status == ecs.ServiceActive {
		completedNow := p.RolloutState == ecs.RolloutInProgress
		if completedNow {
			p.RolloutState, p.RolloutStateReason = ecs.RolloutCompleted, ecs.RolloutReasonCompleted(p.ID)
		}
		// "deployment completed" first, so that the steady-state event
		// is the newest and the next pass does not post it again.
		if completedNow {
			c.emit(deploymentCompletedMessage(c.svc.Name, p.ID), false)
		}
		if p.RolloutState == ecs.RolloutCompleted {
			steady = true
			c.emitSteady()
		}
	}

	running := make([]int, len(c.deps))
	pending := make([]int, len(c.deps))
	liveBy := make([]int, len(c.deps))
	anyLive := false
	var res Result
	for _, v := range c.tasks {
		if v.live && !v.lost {
			anyLive = true
			if v.dep >= 0 {
				liveBy[v.dep]++
			}
		}
		if !c.active(v) {
			continue
		}
		switch {
		case v.t.LastStatus == ecs.TaskRunning:
			res.RunningCount++
			if v.dep >= 0 {
				running[v.dep]++
			}
		case v.t.LastStatus < ecs.TaskRunning:
			res.PendingCount++
			if v.dep >= 0 {
				pending[v.dep]++
			}
		}
	}
	primaryDone := p != nil && p.RolloutState == ecs.RolloutCompleted
	for i := range c.deps {
		d := &c.deps[i]
		d.RunningCount, d.PendingCount = running[i], pending[i]
		if i == c.primary {
			d.DesiredCount = c.desired
		} else {
			d.DesiredCount = running[i] + pending[i]
		}
		if o, ok := c.orig[d.ID]; !ok || !sameDeployment(o, *d) {
			d.UpdatedAt = c.now
		}
		if i != c.primary && primaryDone && liveBy[i] == 0 {
			d.Status = ecs.DeploymentInactive
			c.retired = append(c.retired, *d)
		}
	}
	for i := range c.deps {
		if c.deps[i].Status != ecs.DeploymentInactive {
			res.Deployments = append(res.Deployments, c.deps[i])
		}
	}
	slices.SortStableFunc(res.Deployments, func(a, b ecs.Deployment) int {
		if (a.Status == ecs.DeploymentPrimary) != (b.Status == ecs.DeploymentPrimary) {
			if a.Status == ecs.DeploymentPrimary {
				return -1
			}
			return 1
		}
		if r := b.CreatedAt.Compare(a.CreatedAt); r != 0 {
			return r
		}
		return strings.Compare(b.ID, a.ID)
	})

	res.Start, res.Stop, res.Events, res.Retired = c.starts, c.stops, c.events, c.retired
	res.Backoff = c.backoff
	res.Steady = steady && len(res.Deployments) == 1
	res.Status = c.svc.Status
	if c.svc.Status == ecs.ServiceDraining && !anyLive {
		res.Status = ecs.ServiceInactive
	}
	res.DesiredCount = c.svc.DesiredCount
	if c.svc.SchedulingStrategy == ecs.SchedulingDaemon {
		res.DesiredCount = c.desired
	}
	return res
}

// sameDeployment compares two deployments but for UpdatedAt.
func sameDeployment(a, b ecs.Deployment) bool {
	a.UpdatedAt = b.UpdatedAt
	if len(a.Failures.Counted) == 0 && len(b.Failures.Counted) == 0 {
		a.Failures.Counted, b.Failures.Counted = nil, nil
	}
	return reflect.DeepEqual(a, b)
}
