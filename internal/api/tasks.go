package api

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/berth/berth/internal/api/wire"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/ecs/arn"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

// Tasks: DescribeTasks, ListTasks and StopTask here; RunTask and StartTask
// in tasks_run.go, their placement and commit in tasks_place.go; the
// retention sweeper in tasks_sweep.go.

// taskRefID resolves a task reference of a request about cluster: a task
// id, or a task ARN of this region and account naming cluster (long
// format) or no cluster (legacy format). ok is false for anything else,
// which names no task of cluster.
func (h *Handler) taskRefID(cluster, ref string) (string, bool) {
	if ref == "" {
		return "", false
	}
	if !arn.IsARN(ref) {
		return ref, !strings.ContainsAny(ref, "/: ")
	}
	return h.namer.ResourceID(arn.TypeTask, cluster, ref)
}

// errTaskNotFound is ECS's answer for a task StopTask cannot find.
func errTaskNotFound() error {
	return ecs.Errorf(ecs.ErrInvalidParameter, "The referenced task was not found")
}

func (h *Handler) describeTasks(ctx context.Context, in *wire.DescribeTasksRequest) (*wire.DescribeTasksResponse, error) {
	if len(in.Tasks) == 0 {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "Tasks cannot be empty.")
	}
	if len(in.Tasks) > ecs.MaxDescribeTasks {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "tasks can have at most %d items.", ecs.MaxDescribeTasks)
	}
	for _, f := range in.Include {
		if f != wire.TaskFieldTags {
			return nil, ecs.Errorf(ecs.ErrInvalidParameter, "include value %q is not valid. Valid values: TAGS.", f)
		}
	}
	withTags := slices.Contains(in.Include, wire.TaskFieldTags)
	c, _, err := h.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	out := &wire.DescribeTasksResponse{Tasks: []wire.Task{}, Failures: []wire.Failure{}}
	seen := map[string]bool{}
	for _, ref := range in.Tasks {
		id, ok := h.taskRefID(c.Name, ref)
		if !ok {
			out.Failures = append(out.Failures, taskFailure(ref, ecs.FailureMissing))
			continue
		}
		if seen[id] {
			continue // named twice (id and ARN): described once
		}
		seen[id] = true
		t, _, err := state.Get[ecs.Task](ctx, h.store, state.TaskKey(c.Name, id))
		if errors.Is(err, store.ErrNotFound) {
			missing := ref
			if !arn.IsARN(ref) {
				missing = h.namer.Task(c.Name, id)
			}
			out.Failures = append(out.Failures, taskFailure(missing, ecs.FailureMissing))
			continue
		}
		if err != nil {
			return nil, err
		}
		out.Tasks = append(out.Tasks, h.taskToWire(&t, withTags))
	}
	return out, nil
}

// listTasksFilter is a validated ListTasks request.
type listTasksFilter struct {
	instanceID, family, startedBy, serviceName, launchType string
	desired                                                ecs.TaskStatus
	none                                                   bool // desiredStatus PENDING: ECS never sets it
}

func (f *listTasksFilter) match(t *ecs.Task) bool {
	switch {
	case f.none, t.DesiredStatus != f.desired:
		return false
	case f.instanceID != "" && t.ContainerInstanceID != f.instanceID,
		f.family != "" && t.Definition.Family != f.family,
		f.startedBy != "" && t.StartedBy != f.startedBy,
		f.serviceName != "" && t.ServiceName != f.serviceName,
		f.launchType != "" && t.LaunchType != f.launchType:
		return false
	}
	return true
}

// listTasks answers ListTasks. Every filter given applies (ECS documents
// startedBy as exclusive of the others; combining them here narrows the
// list rather than failing).
func (h *Handler) listTasks(ctx context.Context, in *wire.ListTasksRequest) (*wire.ListTasksResponse, error) {
	f := listTasksFilter{family: in.Family, startedBy: in.StartedBy, serviceName: in.ServiceName, desired: ecs.TaskRunning}
	switch in.DesiredStatus {
	case "", wire.DesiredStatusRunning:
	case wire.DesiredStatusStopped:
		f.desired = ecs.TaskStopped
	case wire.DesiredStatusPending:
		f.none = true
	default:
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "desiredStatus %q is not valid. Valid values: RUNNING, PENDING, STOPPED.", in.DesiredStatus)
	}
	switch in.LaunchType {
	case "", wire.LaunchTypeEc2, wire.LaunchTypeFargate, wire.LaunchTypeExternal, wire.LaunchTypeManagedInstances:
		f.launchType = string(in.LaunchType)
	default:
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "launchType %q is not valid. Valid values: EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES.", in.LaunchType)
	}
	c, _, err := h.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	if in.ContainerInstance != "" {
		id, ok := h.ciRefID(c.Name, in.ContainerInstance)
		if !ok {
			return nil, ecs.Errorf(ecs.ErrInvalidParameter, "containerInstance %q is not a valid container instance id or ARN of cluster %s.", in.ContainerInstance, c.Name)
		}
		f.instanceID = id
	}
	prefix := state.TasksPrefix(c.Name)
	p, err := parsePage(prefix, in.NextToken, in.MaxResults, defaultMaxResults)
	if err != nil {
		return nil, err
	}
	if f.none {
		return &wire.ListTasksResponse{TaskArns: []string{}}, nil
	}
	// Batches of 100 at least: most tasks of a cluster fail the filters.
	arns, next, err := listPage(ctx, h.store, prefix, p, 100, f.match, func(t *ecs.Task) string { return t.ARN })
	if err != nil {
		return nil, err
	}
	return &wire.ListTasksResponse{TaskArns: arns, NextToken: next}, nil
}

func (h *Handler) stopTask(ctx context.Context, in *wire.StopTaskRequest) (*wire.StopTaskResponse, error) {
	if in.Task == "" {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "task is required.")
	}
	if err := ecs.ValidateStopReason(in.Reason); err != nil {
		return nil, err
	}
	c, _, err := h.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	name := c.Name
	id, ok := h.taskRefID(name, in.Task)
	if !ok {
		return nil, errTaskNotFound()
	}
	reason := in.Reason
	if reason == "" {
		reason = ecs.DefaultStopReason
	}
	t, err := state.Update(ctx, h.store, state.TaskKey(name, id), func(t *ecs.Task, exists bool) ([]store.Op, error) {
		// The cluster is checked in the same transaction: DeleteCluster
		// must not pass a task that is being changed.
		_, crev, err := h.activeCluster(ctx, name)
		if err != nil {
			return nil, err
		}
		if !exists {
			return nil, errTaskNotFound()
		}
		if !stopTaskRecord(t, reason, taskStamp(h.now())) {
			return nil, errUnchanged
		}
		return []store.Op{store.Check(state.ClusterKey(name), crev)}, nil
	})
	if errors.Is(err, errUnchanged) {
		t, _, err = state.Get[ecs.Task](ctx, h.store, state.TaskKey(name, id))
	}
	if err != nil {
		return nil, err
	}
	w := h.taskToWire(&t, true)
	return &wire.StopTaskResponse{Task: &w}, nil
}

// stopTaskRecord applies a user's stop to t and reports whether it
// changed anything: a task already asked to stop, or stopped, stays as it
// is. The agent then stops the containers and reports STOPPED; a task
// whose agent never comes back stays STOPPING-bound until it does, as in
// ECS.
func stopTaskRecord(t *ecs.Task, reason string, now time.Time) bool {
	if t.DesiredStatus == ecs.TaskStopped || t.Stopped() {
		return false
	}
	t.DesiredStatus = ecs.TaskStopped
	t.StoppingAt = now
	if t.StopCode == "" {
		t.StopCode = ecs.StopCodeUserInitiated
	}
	if t.StoppedReason == "" {
		t.StoppedReason = reason
	}
	t.Seq++
	t.Version++
	return true
}
