package service

import (
	"cmp"
	"slices"
	"strings"

	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/scheduler"
)

// leaver is a task that should go: of an older deployment, on a draining
// or (DAEMON) ineligible instance, or beyond the desired count.
type leaver struct {
	v *view
	// class orders healthy leavers: lower goes first.
	class int
	// counted says the task counts towards the floor (its loss matters).
	counted bool
}

const (
	classInstance = iota // its instance is draining or no longer eligible
	classOld             // an older deployment's
	classSurplus         // the PRIMARY deployment's, beyond the desired count
)

// census counts the service's tasks for the floor and the ceiling.
type census struct {
	live    int // not STOPPED and not lost: the ceiling's measure
	healthy int // healthy tasks that count towards the floor
	load    map[string]int
}

func (c *computation) count(counts func(v *view) bool) census {
	n := census{load: map[string]int{}}
	for _, v := range c.tasks {
		if v.live && !v.lost {
			n.live++
		}
		if v.healthy && !c.stopped[v.t.ID] && counts(v) {
			n.healthy++
		}
		if c.active(v) {
			n.load[v.t.ContainerInstanceID]++
		}
	}
	return n
}

// primaryFailed reports that the PRIMARY deployment failed and was not
// rolled back: nothing is launched or replaced for it.
func (c *computation) primaryFailed() bool {
	p := c.primaryDep()
	return p != nil && p.RolloutState == ecs.RolloutFailed
}

// canLaunch reports whether this step may start tasks at all.
func (c *computation) canLaunch() bool {
	return c.primary >= 0 && !c.primaryFailed() && !c.rolledBack && c.svc.Status == ecs.ServiceActive
}

// planReplica keeps DesiredCount tasks of the PRIMARY deployment.
func (c *computation) planReplica() {
	d := c.svc.DesiredCount
	if c.svc.Status != ecs.ServiceActive {
		d = 0
	}
	c.desired = d
	cfg := &c.svc.DeploymentConfiguration
	floor, ceiling := cfg.Floor(d), cfg.Ceiling(d)
	n := c.count(func(*view) bool { return true })

	var keep []*view
	var leaving []leaver
	for _, v := range c.tasks {
		switch {
		case !c.active(v):
		case c.isPrimary(v) && !v.draining:
			keep = append(keep, v)
		case v.draining:
			leaving = append(leaving, leaver{v: v, class: classInstance, counted: true})
		default:
			leaving = append(leaving, leaver{v: v, class: classOld, counted: true})
		}
	}
	if c.primaryFailed() {
		c.stopDrainingPending(leaving)
		c.scaleInFailed(d, floor, n)
		return
	}
	if len(keep) > d {
		c.sortSurplus(keep, n.load)
		for _, v := range keep[:len(keep)-d] {
			leaving = append(leaving, leaver{v: v, class: classSurplus, counted: true})
		}
		keep = keep[len(keep)-d:]
	}
	need := d - len(keep)
	if need > 0 && c.canLaunch() {
		if k := min(need, ceiling-n.live); k > 0 && !c.throttled() {
			c.starts = append(c.starts, Launch{DeploymentID: c.primaryDep().ID, Count: k})
		}
	}
	c.stopLeaving(leaving, n.healthy, floor)
	c.checkBlocked(leaving, need > 0)

	allHealthy := !slices.ContainsFunc(keep, func(v *view) bool { return !v.healthy })
	c.settled = len(c.starts) == 0 && len(c.stops) == 0 && len(leaving) == 0 && need == 0 && allHealthy && n.live == len(keep)
}

// awaitingHealth reports a RUNNING task whose health checks have not
// reported yet (health status UNKNOWN).
func awaitingHealth(v *view) bool {
	return v.live && !v.stopping && !v.lost && !v.healthy && v.t.LastStatus == ecs.TaskRunning &&
		(v.t.HealthStatus == ecs.HealthUnknown || v.t.HealthStatus == "")
}

// sortSurplus orders tasks so that the first ones are the best to drop:
// not healthy before healthy, earlier statuses first, then those on the
// instances with the most tasks of the service, then the newest.
func (c *computation) sortSurplus(vs []*view, load map[string]int) {
	slices.SortFunc(vs, func(a, b *view) int {
		if a.healthy != b.healthy {
			if a.healthy {
				return 1
			}
			return -1
		}
		return cmp.Or(
			cmp.Compare(a.t.LastStatus, b.t.LastStatus),
			cmp.Compare(load[b.t.ContainerInstanceID], load[a.t.ContainerInstanceID]),
			b.t.CreatedAt.Compare(a.t.CreatedAt),
			strings.Compare(b.t.ID, a.t.ID),
		)
	})
}

// stopLeaving stops the leaving tasks that may go now: all that do not
// count towards the floor or are not healthy, those RUNNING and awaiting
// their first health check result while the floor holds without them
// (they may be about to count), and healthy ones while healthy-1 stays at
// or above floor.
func (c *computation) stopLeaving(leaving []leaver, healthy, floor int) {
	free := func(l leaver) bool { return !l.counted || (!l.v.healthy && !awaitingHealth(l.v)) }
	rank := func(l leaver) int {
		switch {
		case free(l):
			return 0
		case !l.v.healthy:
			return 1
		}
		return 2
	}
	slices.SortFunc(leaving, func(a, b leaver) int {
		return cmp.Or(
			cmp.Compare(rank(a), rank(b)),
			cmp.Compare(a.class, b.class),
			c.depCreated(a.v).Compare(c.depCreated(b.v)),
			strings.Compare(a.v.t.ID, b.v.t.ID),
		)
	})
	for _, l := range leaving {
		switch rank(l) {
		case 1:
			if healthy < floor {
				continue
			}
		case 2:
			if healthy-1 < floor {
				return
			}
			healthy--
		}
		c.stop(l.v, c.scalingReason(l.v), false)
	}
}

// scalingReason is ECS's stoppedReason for a task the scheduler stops,
// naming the deployment that initiated it (the PRIMARY one).
func (c *computation) scalingReason(v *view) string {
	switch {
	case c.primary >= 0:
		return ecs.StoppedReasonScaling(c.deps[c.primary].ID)
	case v.dep >= 0:
		return ecs.StoppedReasonScaling(c.deps[v.dep].ID)
	}
	return ecs.StoppedReasonScaling(v.t.StartedBy)
}

// stopDrainingPending stops leaving tasks that are PENDING on a draining
// instance (ECS stops those at once, whatever else happens).
func (c *computation) stopDrainingPending(leaving []leaver) {
	for _, l := range leaving {
		if l.v.draining && l.v.t.LastStatus < ecs.TaskRunning {
			c.stop(l.v, c.scalingReason(l.v), false)
		}
	}
}

// scaleInFailed brings the tasks of a service whose PRIMARY deployment
// failed down to desired (a lower desired count, or 0 for a service being
// deleted), within the floor; whichever deployment they belong to, nothing
// is replaced.
func (c *computation) scaleInFailed(desired, floor int, n census) {
	var pool []*view
	for _, v := range c.tasks {
		if c.active(v) {
			pool = append(pool, v)
		}
	}
	if len(pool) <= desired {
		return
	}
	c.sortSurplus(pool, n.load)
	surplus := make([]leaver, 0, len(pool)-desired)
	for _, v := range pool[:len(pool)-desired] {
		surplus = append(surplus, leaver{v: v, class: classSurplus, counted: true})
	}
	c.stopLeaving(surplus, n.healthy, floor)
}

// checkBlocked posts ECS's event about the deployment configuration when
// tasks should be replaced but neither a start nor a stop is allowed and
// nothing is in flight that could change that.
func (c *computation) checkBlocked(leaving []leaver, needStarts bool) {
	if len(leaving) == 0 || len(c.starts) > 0 || len(c.stops) > 0 || c.backoff > 0 || !needStarts || !c.canLaunch() {
		return
	}
	for _, v := range c.tasks {
		if v.live && !v.lost && (v.stopping || !v.healthy) {
			return // a task is starting, stopping or not yet healthy
		}
	}
	c.emit(blockedMessage(c.svc.Name), true)
}

// planDaemon keeps one task of the PRIMARY deployment on every eligible
// instance.
func (c *computation) planDaemon() {
	eligible := c.eligibleInstances()
	if c.svc.Status != ecs.ServiceActive {
		eligible = map[string]bool{}
	}
	c.desired = len(eligible)
	cfg := &c.svc.DeploymentConfiguration
	floor, ceiling := cfg.Floor(c.desired), cfg.Ceiling(c.desired)
	n := c.count(func(v *view) bool { return eligible[v.t.ContainerInstanceID] })

	keepOn := map[string][]*view{}
	var leaving []leaver
	for _, v := range c.tasks {
		id := v.t.ContainerInstanceID
		switch {
		case !c.active(v):
		case !eligible[id]:
			leaving = append(leaving, leaver{v: v, class: classInstance})
		case c.isPrimary(v):
			keepOn[id] = append(keepOn[id], v)
		default:
			leaving = append(leaving, leaver{v: v, class: classOld, counted: true})
		}
	}
	if c.primaryFailed() {
		c.stopDrainingPending(leaving)
		var gone []leaver
		for _, l := range leaving {
			if l.class == classInstance {
				gone = append(gone, l)
			}
		}
		c.stopLeaving(gone, n.healthy, floor)
		return
	}
	ids := make([]string, 0, len(eligible))
	for id := range eligible {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var want []string
	for _, id := range ids {
		vs := keepOn[id]
		if len(vs) > 1 {
			c.sortSurplus(vs, n.load)
			for _, v := range vs[:len(vs)-1] {
				leaving = append(leaving, leaver{v: v, class: classSurplus, counted: true})
			}
			keepOn[id] = vs[len(vs)-1:]
		}
		if len(keepOn[id]) == 0 && c.instances[id].AgentConnected {
			want = append(want, id)
		}
	}
	// Instances with no task of the service at all come first.
	slices.SortStableFunc(want, func(a, b string) int { return cmp.Compare(n.load[a], n.load[b]) })
	missing := 0
	for _, id := range ids {
		if len(keepOn[id]) == 0 {
			missing++
		}
	}
	if len(want) > 0 && c.canLaunch() {
		if k := min(len(want), ceiling-n.live); k > 0 && !c.throttled() {
			for _, id := range want[:k] {
				c.starts = append(c.starts, Launch{DeploymentID: c.primaryDep().ID, Count: 1, InstanceID: id})
			}
		}
	}
	c.stopLeaving(leaving, n.healthy, floor)
	c.checkBlocked(leaving, len(want) > 0)

	allHealthy := true
	for _, id := range ids {
		if vs := keepOn[id]; len(vs) == 1 && !vs[0].healthy {
			allHealthy = false
		}
	}
	c.settled = len(c.starts) == 0 && len(c.stops) == 0 && len(leaving) == 0 && missing == 0 && allHealthy && n.live == len(ids)
}

// eligibleInstances returns the IDs of the instances a DAEMON task
// belongs on: ACTIVE, not lost, with the task definition's required
// attributes, matching every memberOf constraint of the service and of
// the task definition.
func (c *computation) eligibleInstances() map[string]bool {
	if c.eligible == nil {
		c.eligible = c.findEligible()
	}
	return c.eligible
}

func (c *computation) findEligible() map[string]bool {
	var exprs []*scheduler.Expression
	bad := false
	add := func(typ, expr string) {
		if typ != scheduler.ConstraintMemberOf {
			return
		}
		e, err := scheduler.ParseExpression(expr)
		if err != nil {
			bad = true // validated on create; an unparsable one matches nothing
			return
		}
		exprs = append(exprs, e)
	}
	for _, pc := range c.svc.PlacementConstraints {
		add(pc.Type, pc.Expression)
	}
	var required []ecs.Attribute
	if def := c.in.Definition; def != nil {
		for _, pc := range def.PlacementConstraints {
			add(pc.Type, pc.Expression)
		}
		required = def.RequiresAttributes
	}
	out := map[string]bool{}
	if bad {
		return out
	}
	for i := range c.in.Instances {
		ci := &c.in.Instances[i]
		if ci.Status != ecs.InstanceActive || c.lostReason(ci.ID) != "" {
			continue
		}
		si := c.schedulerInstance(ci)
		ok := true
		for _, a := range required {
			v, has := si.Attributes[a.Name]
			if !has || (a.Value != "" && v != a.Value) {
				ok = false
			}
		}
		for _, e := range exprs {
			if ok && !e.Match(&si) {
				ok = false
			}
		}
		if ok {
			out[ci.ID] = true
		}
	}
	return out
}

// schedulerInstance is what the cluster query language sees of ci.
func (c *computation) schedulerInstance(ci *ecs.ContainerInstance) scheduler.Instance {
	si := scheduler.Instance{ID: ci.ID, ARN: ci.ARN, EC2InstanceID: ci.EC2InstanceID, Status: string(ci.Status),
		AgentConnected: ci.AgentConnected, AgentVersion: ci.VersionInfo.AgentVersion, RegisteredAt: ci.RegisteredAt,
		Attributes: make(map[string]string, len(ci.Attributes))}
	for _, a := range ci.Attributes {
		si.Attributes[a.Name] = a.Value
	}
	if c.onInst == nil {
		c.onInst = map[string][]scheduler.TaskInfo{}
		for _, t := range c.in.Tasks {
			if t.Active() {
				c.onInst[t.ContainerInstanceID] = append(c.onInst[t.ContainerInstanceID], scheduler.TaskInfo{Group: t.Group,
					Family: t.Definition.Family, ServiceName: t.ServiceName, Status: t.LastStatus.String()})
			}
		}
	}
	si.Tasks = c.onInst[ci.ID]
	return si
}
