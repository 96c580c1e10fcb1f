package api

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/berth/berth/internal/api/wire"
	"github.com/berth/berth/internal/clusterview"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/scheduler"
	"github.com/berth/berth/internal/service"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

// The service controller: the loop around service.Compute. Each pass
// reads every cluster's ACTIVE and DRAINING services, their tasks and the
// cluster's instances, lets Compute decide, and commits its decisions for
// one service in one transaction: the stops, the new tasks (placed over a
// placement snapshot and guarded by commitNewTasks, so that no instance
// is overbooked), the service record (compare-and-swap on the revision it
// was read at, with the cluster checked) and the retired deployments. A
// conflict leaves the service for the next pass, which decides again over
// fresh records; Compute on an unchanged snapshot decides the same, so
// nothing is lost.

// Controller parameters.
const (
	// DefaultInstanceLostAfter is how long an instance's agent may go
	// unheard before its service tasks are replaced elsewhere.
	DefaultInstanceLostAfter = 5 * time.Minute
	// serviceMaxChangesPerPass bounds the tasks one pass starts, and those
	// it stops, for one service (and so the size of its transaction; a
	// store with a smaller transaction limit lowers it: serviceBatch). A
	// pass that left work undone is followed by the next one at once.
	serviceMaxChangesPerPass = 500
	// DefaultServiceControllerInterval is how often the loop runs.
	DefaultServiceControllerInterval = time.Second
)

// serviceDeploymentsPrefix holds the deployments that left their service
// (the deployment history), per cluster and service.
const serviceDeploymentsPrefix = "/service-deployments/"

func serviceDeploymentKey(cluster, svc, id string) string {
	return serviceDeploymentsPrefix + cluster + "/" + svc + "/" + strings.TrimPrefix(id, ecs.DeploymentIDPrefix)
}

// serviceController is the loop's memory between passes.
type serviceController struct {
	h         *Handler
	rng       *rand.Rand
	lostAfter time.Duration
	// next holds, per service key, when the restart throttle lets the
	// service run again.
	next map[string]time.Time
	// more is set by a pass that left starts or stops for the next one.
	more bool
}

// serviceBatch is how many tasks one pass may start, and stop, for one
// service: serviceMaxChangesPerPass, or what fits the store's limit of ops
// per transaction (a new task takes up to three: its record, its
// instance's check and placement record; a few more go to the service and
// the cluster).
func (h *Handler) serviceBatch() int {
	if h.maxTxnOps <= 0 {
		return serviceMaxChangesPerPass
	}
	return max(1, min(serviceMaxChangesPerPass, (h.maxTxnOps-16)/3))
}

func (h *Handler) newServiceController(lostAfter time.Duration) *serviceController {
	if lostAfter <= 0 {
		lostAfter = DefaultInstanceLostAfter
	}
	return &serviceController{h: h, rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), next: map[string]time.Time{}, lostAfter: lostAfter}
}

// RunServiceController runs a controller pass at once and then every
// interval until ctx is done, logging failures; it is what the server
// runs in the background. interval 0 means
// DefaultServiceControllerInterval; a negative one turns the controller
// off (tests that drive passes themselves). lostAfter is how long an
// instance's agent may go unheard before its service tasks are replaced
// elsewhere (0: DefaultInstanceLostAfter).
func (h *Handler) RunServiceController(ctx context.Context, interval, lostAfter time.Duration) {
	if interval < 0 {
		return
	}
	if interval == 0 {
		interval = DefaultServiceControllerInterval
	}
	c := h.newServiceController(lostAfter)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		c.more = false
		if err := c.pass(ctx); err != nil && ctx.Err() == nil {
			h.log.Warn("service controller pass failed", "err", err)
		}
		if c.more && ctx.Err() == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// pass reconciles every ACTIVE and DRAINING service once. A failure of
// one service is logged and does not stop the others; the error returned
// is the first failure to read a cluster's records.
func (c *serviceController) pass(ctx context.Context) error {
	clusters, err := state.List[ecs.Cluster](ctx, c.h.store, state.ClustersPrefix(), store.ListOptions{})
	if err != nil {
		return fmt.Errorf("service controller: list clusters: %w", err)
	}
	var first error
	seen := map[string]bool{}
	for _, cr := range clusters {
		if cr.Value.Name == "" {
			continue
		}
		if err := c.passCluster(ctx, cr.Value.Name, seen); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			c.h.log.Warn("service controller: cluster pass failed", "cluster", cr.Value.Name, "err", err)
			if first == nil {
				first = err
			}
		}
	}
	for key := range c.next {
		if !seen[key] {
			delete(c.next, key) // the service is gone or INACTIVE
		}
	}
	return first
}

// passCluster reconciles the services of one cluster.
func (c *serviceController) passCluster(ctx context.Context, cluster string, seen map[string]bool) error {
	svcs, err := state.List[ecs.Service](ctx, c.h.store, state.ServicesPrefix(cluster), store.ListOptions{})
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	svcs = slices.DeleteFunc(svcs, func(r state.Record[ecs.Service]) bool {
		return r.Value.Status != ecs.ServiceActive && r.Value.Status != ecs.ServiceDraining
	})
	if len(svcs) == 0 {
		return nil
	}
	// The cluster's instances and the services' tasks, as of now or later.
	_, rev, err := c.h.store.List(ctx, state.ClusterKey(cluster), store.ListOptions{Limit: 1})
	if err != nil {
		return fmt.Errorf("read the store revision: %w", err)
	}
	// Under the view's lock only pointers are taken: the view never
	// changes a task it handed out, so reconcile and Compute read them
	// after the lock is released, without copies.
	var instances []ecs.ContainerInstance
	viewTasks := map[string][]*clusterview.Task{}
	err = c.h.readCluster(ctx, cluster, rev, func(cv *clusterview.Cluster) {
		for _, id := range cv.InstanceIDs() {
			instances = append(instances, cv.Instance(id).Record)
		}
		for _, sr := range svcs {
			viewTasks[sr.Value.Name] = cv.ServiceTasks(sr.Value.Name)
		}
	})
	if err != nil {
		return fmt.Errorf("read instances and tasks: %w", err)
	}
	for _, sr := range svcs {
		seen[sr.Key] = true
		if next, ok := c.next[sr.Key]; ok && c.h.now().Before(next) {
			continue
		}
		delete(c.next, sr.Key)
		if err := c.reconcile(ctx, cluster, sr, viewTasks[sr.Value.Name], instances); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, store.ErrConflict) {
				c.h.log.Debug("service controller: records changed, next pass decides again", "service", sr.Value.ARN)
				continue
			}
			c.h.log.Warn("service controller: service pass failed", "service", sr.Value.ARN, "err", err)
		}
	}
	return nil
}

// reconcile runs Compute for one service and commits what it decided.
func (c *serviceController) reconcile(ctx context.Context, cluster string, sr state.Record[ecs.Service], vtasks []*clusterview.Task, instances []ecs.ContainerInstance) error {
	s := sr.Value
	now := taskStamp(c.h.now())
	var def *ecs.TaskDefinition
	if p := s.Primary(); p != nil {
		e, err := c.h.findTaskDefinition(ctx, p.TaskDefinition)
		if err != nil {
			return fmt.Errorf("task definition %s: %w", p.TaskDefinition, err)
		}
		d := e.td
		def = &d
	}
	// Compute only reads the tasks: it gets the view's own (never changed).
	tasks := make([]*ecs.Task, len(vtasks))
	taskRev := make(map[string]int64, len(vtasks))
	for i, t := range vtasks {
		tasks[i] = &t.Record
		taskRev[t.Record.ID] = t.Rev
	}
	res := service.Compute(service.Input{Service: s, Tasks: tasks, Instances: instances, Definition: def, Now: now,
		LostAfter: c.lostAfter, NewDeploymentID: ecs.FormatDeploymentID(c.rng.Uint64())})

	var ops []store.Op
	// Stops. truncated: this pass leaves starts or stops for the next
	// one, which then follows at once if this one got somewhere.
	truncated := false
	stops := res.Stop
	if batch := c.h.serviceBatch(); len(stops) > batch {
		stops, truncated = stops[:batch], true
	}
	for _, st := range stops {
		if _, known := taskRev[st.TaskID]; !known {
			continue
		}
		// The tasks Compute saw are trimmed: stop the whole record, as
		// long as it is still the one Compute decided over.
		key := state.TaskKey(cluster, st.TaskID)
		t, rev, err := state.Get[ecs.Task](ctx, c.h.store, key)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if rev != taskRev[st.TaskID] {
			return fmt.Errorf("task %s changed: %w", st.TaskID, store.ErrConflict)
		}
		if !serviceStopTask(&t, st, now) {
			continue
		}
		put, err := state.PutOp(key, &t, rev)
		if err != nil {
			return err
		}
		ops = append(ops, put)
	}

	// The service record after this step.
	ns := s
	ns.Deployments = res.Deployments
	if len(res.Deployments) > 0 {
		ns.TaskDefinition = res.Deployments[0].TaskDefinition
	}
	ns.Status = res.Status
	if s.SchedulingStrategy == ecs.SchedulingDaemon {
		ns.DesiredCount = res.DesiredCount
	}
	events := slices.Clone(res.Events)
	for _, d := range res.Retired {
		put, err := state.PutOp(serviceDeploymentKey(cluster, s.Name, d.ID), d, store.ExpectAny)
		if err != nil {
			return err
		}
		ops = append(ops, put)
	}

	// Starts, placed over a snapshot and committed with the rest.
	var launches []service.Launch
	budget := c.h.serviceBatch()
	for _, l := range res.Start {
		if budget <= 0 {
			truncated = true
			break
		}
		if l.Count > budget {
			l.Count, truncated = budget, true
		}
		budget -= l.Count
		launches = append(launches, l)
	}
	if len(launches) > 0 && def == nil {
		return fmt.Errorf("service has tasks to start but no PRIMARY deployment")
	}
	// One attempt: on a conflict the next pass decides again over fresh
	// records (the stops above were decided over this read).
	return func() error {
		var newTasks []ecs.Task
		var snap *taskSnapshot
		evs := slices.Clone(events)
		if len(launches) > 0 {
			var err error
			if snap, err = c.h.placementSnapshot(ctx, cluster, false); err != nil {
				return err
			}
			var placeEvents []string
			newTasks, placeEvents, err = c.place(&s, def, launches, snap, now)
			if err != nil {
				return err
			}
			evs = append(evs, placeEvents...)
		}
		final := ns
		evs = slices.DeleteFunc(evs, func(m string) bool { return serviceEventRecent(&s, m, now) && !slices.Contains(res.Events, m) })
		if len(evs) > 0 {
			add := make([]ecs.ServiceEvent, 0, len(evs))
			for _, m := range evs {
				add = append(add, ecs.ServiceEvent{ID: taskUUID(), CreatedAt: now, Message: m})
			}
			final.Events = ecs.AddServiceEvents(s.Events, add...)
		}
		changed := len(ops) > 0 || len(newTasks) > 0 || !sameJSON(&final, &s)
		if res.Backoff > 0 {
			c.next[sr.Key] = c.h.now().Add(res.Backoff)
		}
		if !changed {
			return nil
		}
		final.Version = s.Version + 1
		put, err := state.PutOp(sr.Key, &final, sr.ModRevision)
		if err != nil {
			return err
		}
		all := append(slices.Clone(ops), put)
		if len(newTasks) > 0 {
			err = c.h.commitNewTasks(ctx, cluster, snap, newTasks, all...)
		} else {
			var crev int64
			if _, crev, err = c.h.activeCluster(ctx, cluster); err != nil {
				return err
			}
			_, err = c.h.store.Txn(ctx, append(all, store.Check(state.ClusterKey(cluster), crev))...)
		}
		if err == nil && truncated && (len(newTasks) > 0 || len(ops) > 0) {
			c.more = true
		}
		return err
	}()
}

// serviceStopTask applies one of Compute's stops to t and reports whether
// it changed anything. A task on a lost instance is recorded STOPPED at
// once: no agent will report it.
func serviceStopTask(t *ecs.Task, st service.Stop, now time.Time) bool {
	if t.Stopped() {
		return false
	}
	if t.DesiredStatus != ecs.TaskStopped {
		if t.StopCode == "" {
			t.StopCode = st.StopCode
		}
		stopTaskRecord(t, st.Reason, now)
		if !st.Lost {
			return true
		}
	} else if !st.Lost {
		return false
	}
	t.LastStatus = ecs.TaskStopped
	t.StoppedAt, t.ExecutionStoppedAt = now, now
	if t.StoppingAt.IsZero() {
		t.StoppingAt = now
	}
	for i := range t.Containers {
		t.Containers[i].LastStatus = ecs.ContainerStopped
	}
	t.Version++
	return true
}

// place builds the tasks of launches over snap: REPLICA launches go
// through the scheduler with the service's constraints and strategies,
// DAEMON ones to their instance. It returns the tasks and the events
// (tasks started, tasks that found no place).
func (c *serviceController) place(s *ecs.Service, def *ecs.TaskDefinition, launches []service.Launch, snap *taskSnapshot, now time.Time) ([]ecs.Task, []string, error) {
	var tasks []ecs.Task
	var events []string
	unplaced := ""
	for _, ln := range launches {
		l := c.serviceLaunch(s, def, ln.DeploymentID)
		if ln.InstanceID == "" {
			l.req.Count = ln.Count
			placed, fails, err := c.h.placeRunTasks(l, snap, c.rng, now)
			if errors.Is(err, scheduler.ErrNoContainerInstances) {
				unplaced = service.UnableToPlaceMessage(s.Name, "", "")
				continue
			}
			if err != nil {
				return nil, nil, err
			}
			if len(placed) < ln.Count && unplaced == "" {
				unplaced = unableToPlace(s.Name, fails)
			}
			tasks = append(tasks, placed...)
			continue
		}
		i, ok := snap.candidate(ln.InstanceID)
		if !ok || (l.awsvpc && !snap.instance(ln.InstanceID).freeAddress()) {
			continue // gone meanwhile, or no address: the next pass decides again
		}
		l.req.Count = 1
		r, err := scheduler.PlaceOn(snap.candidates()[i:i+1], l.req, c.rng)
		if err != nil {
			return nil, nil, err
		}
		if len(r.Placements) == 0 {
			if unplaced == "" {
				var fails []wire.Failure
				for _, f := range r.Failures {
					fails = append(fails, wire.Failure{Arn: f.InstanceARN, Reason: f.Reason})
				}
				unplaced = unableToPlace(s.Name, fails)
			}
			continue
		}
		t, ok := c.h.newTaskRecord(l, snap, ln.InstanceID, r.Placements[0].HostPorts, now)
		if !ok {
			continue
		}
		snap.take(i, l, &t)
		tasks = append(tasks, t)
	}
	ids := make([]string, 0, len(tasks))
	for i := range tasks {
		tasks[i].ServiceName = s.Name
		ids = append(ids, tasks[i].ID)
	}
	if len(ids) > 0 {
		events = append(events, service.StartedMessage(s.Name, ids))
	}
	if unplaced != "" {
		events = append(events, unplaced)
	}
	return tasks, events, nil
}

// unableToPlace is the event for tasks that found no instance, naming the
// first instance the scheduler turned down and why.
func unableToPlace(svc string, fails []wire.Failure) string {
	for _, f := range fails {
		id := f.Arn[strings.LastIndex(f.Arn, "/")+1:]
		return service.UnableToPlaceMessage(svc, id, f.Reason)
	}
	return service.UnableToPlaceMessage(svc, "", "")
}

// serviceLaunch is what the tasks of deployment depID of s share: the
// deployment's task definition (the PRIMARY one's, def), the service's
// group, placement, tags and settings.
func (c *serviceController) serviceLaunch(s *ecs.Service, def *ecs.TaskDefinition, depID string) *taskLaunch {
	launchType := s.LaunchType
	for _, d := range s.Deployments {
		if d.ID == depID && d.LaunchType != "" {
			launchType = d.LaunchType
		}
	}
	if launchType == "" {
		launchType = string(wire.LaunchTypeEc2)
	}
	l := &taskLaunch{
		cluster: s.Cluster, def: *def, launchType: launchType, startedBy: depID, group: s.Group(),
		enableExec: s.EnableExecuteCommand, awsvpc: def.EffectiveNetworkMode() == ecs.NetworkModeAwsvpc,
		ports: ecs.TaskPortNeeds(def),
	}
	switch s.PropagateTags {
	case ecs.PropagateTagsService:
		l.tags = slices.Clone(s.Tags)
	case ecs.PropagateTagsTaskDefinition:
		l.tags = slices.Clone(def.Tags)
	}
	if s.EnableECSManagedTags {
		l.tags = append(l.tags, ecs.Tag{Key: ecs.ManagedTagClusterName, Value: s.Cluster},
			ecs.Tag{Key: managedTagServiceName, Value: s.Name})
	}
	l.req = placementRequest(def, l.ports, l.group)
	for _, pc := range s.PlacementConstraints {
		l.req.Constraints = append(l.req.Constraints, scheduler.Constraint{Type: pc.Type, Expression: pc.Expression})
	}
	for _, pc := range def.PlacementConstraints {
		l.req.Constraints = append(l.req.Constraints, scheduler.Constraint{Type: pc.Type, Expression: pc.Expression})
	}
	for _, st := range s.PlacementStrategy {
		l.req.Strategies = append(l.req.Strategies, scheduler.Strategy{Type: st.Type, Field: st.Field})
	}
	if len(l.req.Strategies) == 0 {
		l.req.Strategies = scheduler.DefaultServiceStrategies()
	}
	return l
}

// managedTagServiceName is ECS's managed tag naming a task's service.
const managedTagServiceName = "aws:ecs:serviceName"

// serviceEventRecent reports whether msg was posted within
// service.EventDedupWindow and the service has not reached a steady state
// since: the controller's own events (tasks that found no place) are not
// repeated every pass, as Compute's are not.
func serviceEventRecent(s *ecs.Service, msg string, now time.Time) bool {
	steady := service.SteadyStateMessage(s.Name)
	for _, e := range s.Events {
		if now.Sub(e.CreatedAt) >= service.EventDedupWindow || e.Message == steady {
			return false
		}
		if e.Message == msg {
			return true
		}
	}
	return false
}
