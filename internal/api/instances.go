package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/berth/berth/internal/api/wire"
	"github.com/berth/berth/internal/clusterview"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/ecs/arn"
	"github.com/berth/berth/internal/scheduler"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

// Container instances are the machines that run tasks. An agent registers
// its machine (RegisterContainerInstance) with a credential that then owns
// the instance: only that credential may re-register it, ask for its
// channel (DiscoverPollEndpoint) and report its tasks (statechange.go).
// Operators describe, list, drain and deregister instances. Every write
// checks the cluster record's revision, so that DeleteCluster cannot race
// a registration.

const (
	// ciAgentStaleAfter is how long after its last heartbeat an agent still
	// counts as connected: three of ACS's default 30 s heartbeats.
	ciAgentStaleAfter = ecs.AgentStaleAfter
	// ciMaxDescribe and ciMaxUpdateState are ECS's list limits.
	ciMaxDescribe    = 100
	ciMaxUpdateState = 10
)

// requestOrigin is the scheme and host a request was sent to, for answers
// that point the caller back at this server (DiscoverPollEndpoint).
type requestOrigin struct{ scheme, host string }

type requestOriginKey struct{}

// withRequestOrigin records r's scheme and host in ctx.
func withRequestOrigin(ctx context.Context, r *http.Request) context.Context {
	o := requestOrigin{scheme: "http", host: r.Host}
	if r.TLS != nil {
		o.scheme = "https"
	}
	if o.host == "" {
		o.host = "localhost"
	}
	return context.WithValue(ctx, requestOriginKey{}, o)
}

func requestOriginFrom(ctx context.Context) requestOrigin {
	if o, ok := ctx.Value(requestOriginKey{}).(requestOrigin); ok {
		return o
	}
	return requestOrigin{scheme: "http", host: "localhost"}
}

// ciRefID resolves a container instance reference (an id, or an ARN in the
// long or short format) in cluster. ok is false when ref cannot name an
// instance of this cluster.
func (h *Handler) ciRefID(cluster, ref string) (id string, ok bool) {
	return h.namer.ContainerInstanceID(cluster, ref)
}

// ciNotFound is ECS's error for an instance reference that names nothing.
func ciNotFound(ref string) error {
	return ecs.Errorf(ecs.ErrClient, "Referenced container instance %s not found.", ref)
}

// ciCheckOwner refuses anyone but the credential that registered inst.
func ciCheckOwner(ctx context.Context, inst *ecs.ContainerInstance) error {
	p, _ := PrincipalFrom(ctx)
	if inst.Owner != p.Name {
		return ecs.Errorf(ecs.ErrAccessDenied, "Credential %q may not act for container instance %s: only the credential that registered it may.", p.Name, inst.ARN)
	}
	return nil
}

// ciGet reads the instance ref names in cluster; a missing one is
// ClientException.
func (h *Handler) ciGet(ctx context.Context, cluster, ref string) (ecs.ContainerInstance, int64, error) {
	id, ok := h.ciRefID(cluster, ref)
	if !ok {
		return ecs.ContainerInstance{}, 0, ciNotFound(ref)
	}
	inst, rev, err := state.Get[ecs.ContainerInstance](ctx, h.store, state.InstanceKey(cluster, id))
	if errors.Is(err, store.ErrNotFound) {
		return inst, 0, ciNotFound(ref)
	}
	return inst, rev, err
}

// ciActiveTasks returns the active tasks on the cluster's instances ids
// (nil: every instance) — what their load and task counts derive from —
// trimmed as the cluster view keeps them, as of the store's current
// revision or later (a RunTask just answered shows).
func (h *Handler) ciActiveTasks(ctx context.Context, cluster string, ids []string) ([]*ecs.Task, error) {
	_, rev, err := h.store.List(ctx, state.ClusterKey(cluster), store.ListOptions{Limit: 1})
	if err != nil {
		return nil, err
	}
	var tasks []*ecs.Task
	err = h.readCluster(ctx, cluster, rev, func(c *clusterview.Cluster) {
		if ids == nil {
			ids = c.InstanceIDs()
		}
		for _, id := range ids {
			if in := c.Instance(id); in != nil {
				tasks = in.ActiveTasks(tasks)
			}
		}
	})
	return tasks, err
}

// ciClusterTasks reads every task of a cluster (with revisions); tasks
// points at recs' values.
func (h *Handler) ciClusterTasks(ctx context.Context, cluster string) ([]state.Record[ecs.Task], []*ecs.Task, error) {
	recs, err := state.List[ecs.Task](ctx, h.store, state.TasksPrefix(cluster), store.ListOptions{})
	if err != nil {
		return nil, nil, err
	}
	tasks := make([]*ecs.Task, len(recs))
	for i := range recs {
		tasks[i] = &recs[i].Value
	}
	return recs, tasks, nil
}

func newContainerInstanceID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (h *Handler) registerContainerInstance(ctx context.Context, in *wire.RegisterContainerInstanceRequest) (*wire.RegisterContainerInstanceResponse, error) {
	resources, err := ciResourcesFromWire(in.TotalResources)
	if err != nil {
		return nil, err
	}
	if resources, err = ecs.NormalizeResources(resources); err != nil {
		return nil, err
	}
	attrs := make([]ecs.Attribute, len(in.Attributes))
	for i, a := range in.Attributes {
		attrs[i] = ecs.Attribute{Name: a.Name, Value: a.Value, TargetType: string(a.TargetType)}
	}
	if attrs, err = ecs.RegistrationAttributes(attrs); err != nil {
		return nil, err
	}
	tags := tagsFromWire(in.Tags)
	if err := ecs.ValidateTags(tags); err != nil {
		return nil, err
	}
	ec2ID, err := ecs.ParseInstanceIdentityDocument(in.InstanceIdentityDocument)
	if err != nil {
		return nil, err
	}
	name, err := h.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	reID := ""
	if in.ContainerInstanceArn != "" {
		id, ok := h.ciRefID(name, in.ContainerInstanceArn)
		if !ok {
			return nil, ecs.Errorf(ecs.ErrClient, "Referenced container instance %s not registered.", in.ContainerInstanceArn)
		}
		reID = id
	}
	p, _ := PrincipalFrom(ctx)
	now := h.now()
	var out ecs.ContainerInstance
	err = state.Retry(ctx, func() error {
		_, crev, err := h.activeCluster(ctx, name)
		if err != nil {
			return err
		}
		var inst ecs.ContainerInstance
		rev := store.ExpectAbsent
		if reID == "" {
			id := newContainerInstanceID()
			inst = ecs.ContainerInstance{ID: id, ARN: h.namer.ContainerInstance(name, id), Cluster: name,
				Status: ecs.InstanceActive, RegisteredAt: now, Owner: p.Name, Version: 1, Tags: tags}
			if inst.Attributes, err = ecs.PutAttributes(nil, attrs); err != nil {
				return err
			}
		} else {
			inst, rev, err = state.Get[ecs.ContainerInstance](ctx, h.store, state.InstanceKey(name, reID))
			if errors.Is(err, store.ErrNotFound) || (err == nil && inst.Status == ecs.InstanceInactive) {
				return ecs.Errorf(ecs.ErrClient, "Referenced container instance %s not registered.", in.ContainerInstanceArn)
			}
			if err != nil {
				return err
			}
			if err := ciCheckOwner(ctx, &inst); err != nil {
				return err
			}
			if inst.Attributes, err = ecs.MergeRegistrationAttributes(inst.Attributes, attrs); err != nil {
				return err
			}
			if inst.Tags, err = ecs.MergeTags(inst.Tags, tags); err != nil {
				return err
			}
			inst.Version++
		}
		inst.RegisteredResources = resources
		if in.VersionInfo != nil {
			inst.VersionInfo = ecs.VersionInfo{AgentVersion: in.VersionInfo.AgentVersion, AgentHash: in.VersionInfo.AgentHash,
				DockerVersion: in.VersionInfo.DockerVersion}
		}
		if ec2ID != "" {
			inst.EC2InstanceID = ec2ID
		}
		op, err := state.PutOp(state.InstanceKey(name, inst.ID), inst, rev)
		if err != nil {
			return err
		}
		if _, err := h.store.Txn(ctx, op, store.Check(state.ClusterKey(name), crev), state.AddMembersOp(name)); err != nil {
			return err
		}
		out = inst
		return nil
	})
	if err != nil {
		return nil, err
	}
	tasks, err := h.ciActiveTasks(ctx, name, []string{out.ID})
	if err != nil {
		return nil, err
	}
	w := h.ciToWire(&out, tasks, true)
	return &wire.RegisterContainerInstanceResponse{ContainerInstance: &w}, nil
}

func (h *Handler) deregisterContainerInstance(ctx context.Context, in *wire.DeregisterContainerInstanceRequest) (*wire.DeregisterContainerInstanceResponse, error) {
	if in.ContainerInstance == "" {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "containerInstance is required.")
	}
	name, err := h.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	force := derefBool(in.Force)
	now := h.now()
	var out ecs.ContainerInstance
	var tasks []*ecs.Task
	err = state.Retry(ctx, func() error {
		_, crev, err := h.activeCluster(ctx, name)
		if err != nil {
			return err
		}
		inst, rev, err := h.ciGet(ctx, name, in.ContainerInstance)
		if err != nil {
			return err
		}
		recs, all, err := h.ciClusterTasks(ctx, name)
		if err != nil {
			return err
		}
		if inst.Status == ecs.InstanceInactive {
			out, tasks = inst, all // already deregistered
			return nil
		}
		var ops []store.Op
		for i := range recs {
			r := &recs[i]
			if r.Value.ContainerInstanceID != inst.ID || !r.Value.Active() {
				continue
			}
			if !force {
				return ecs.Errorf(ecs.ErrInvalidParameter, "Found running tasks on the instance.")
			}
			ecs.OrphanTask(&r.Value, now) // all[i] points at it
			op, err := state.PutOp(r.Key, r.Value, r.ModRevision)
			if err != nil {
				return err
			}
			ops = append(ops, op)
		}
		inst.Status = ecs.InstanceInactive
		inst.Version++
		op, err := state.PutOp(state.InstanceKey(name, inst.ID), inst, rev)
		if err != nil {
			return err
		}
		ops = append(ops, op, store.Check(state.ClusterKey(name), crev))
		if _, err := h.store.Txn(ctx, ops...); err != nil {
			return err
		}
		out, tasks = inst, all
		return nil
	})
	if err != nil {
		return nil, err
	}
	w := h.ciToWire(&out, tasks, false)
	return &wire.DeregisterContainerInstanceResponse{ContainerInstance: &w}, nil
}

func (h *Handler) describeContainerInstances(ctx context.Context, in *wire.DescribeContainerInstancesRequest) (*wire.DescribeContainerInstancesResponse, error) {
	if len(in.ContainerInstances) == 0 {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "containerInstances is required: name at least one container instance.")
	}
	if len(in.ContainerInstances) > ciMaxDescribe {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "containerInstances can have at most %d items.", ciMaxDescribe)
	}
	withTags := false
	for _, f := range in.Include {
		switch f {
		case wire.ContainerInstanceFieldTags:
			withTags = true
		case wire.ContainerInstanceFieldContainerInstanceHealth:
			// Berth does not monitor instance health; nothing to add.
		default:
			return nil, ecs.Errorf(ecs.ErrInvalidParameter, "include value %q is not valid. Valid values: TAGS, CONTAINER_INSTANCE_HEALTH.", f)
		}
	}
	cl, _, err := h.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	out := &wire.DescribeContainerInstancesResponse{ContainerInstances: []wire.ContainerInstance{}, Failures: []wire.Failure{}}
	var insts []ecs.ContainerInstance
	for _, ref := range in.ContainerInstances {
		inst, _, err := h.ciGet(ctx, cl.Name, ref)
		if errors.Is(err, ecs.ErrClient) {
			failed := ref
			if !arn.IsARN(ref) {
				failed = h.namer.ContainerInstance(cl.Name, ref)
			}
			out.Failures = append(out.Failures, wire.Failure{Arn: failed, Reason: ecs.FailureMissing})
			continue
		}
		if err != nil {
			return nil, err
		}
		insts = append(insts, inst)
	}
	tasks, err := h.ciActiveTasks(ctx, cl.Name, ciIDs(insts))
	if err != nil {
		return nil, err
	}
	for i := range insts {
		out.ContainerInstances = append(out.ContainerInstances, h.ciToWire(&insts[i], tasks, withTags))
	}
	return out, nil
}

func ciIDs(insts []ecs.ContainerInstance) []string {
	ids := make([]string, len(insts))
	for i := range insts {
		ids[i] = insts[i].ID
	}
	return ids
}

// ciListableStatuses are the statuses ListContainerInstances filters on.
var ciListableStatuses = []ecs.ContainerInstanceStatus{ecs.InstanceActive, ecs.InstanceDraining, ecs.InstanceRegistering,
	ecs.InstanceDeregistering, ecs.InstanceRegistrationFailed, ecs.InstanceInactive}

func (h *Handler) listContainerInstances(ctx context.Context, in *wire.ListContainerInstancesRequest) (*wire.ListContainerInstancesResponse, error) {
	status := ecs.ContainerInstanceStatus(in.Status)
	if status != "" && !slices.Contains(ciListableStatuses, status) {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "status %q is not valid. Valid values: ACTIVE, DRAINING, REGISTERING, DEREGISTERING, REGISTRATION_FAILED, INACTIVE.", in.Status)
	}
	var filter *scheduler.Expression
	if in.Filter != "" {
		if len(in.Filter) > scheduler.MaxExpressionLength {
			return nil, ecs.Errorf(ecs.ErrInvalidParameter, "filter is %d characters long; it can be at most %d.", len(in.Filter), scheduler.MaxExpressionLength)
		}
		var err error
		if filter, err = scheduler.ParseExpression(in.Filter); err != nil {
			return nil, ecs.Errorf(ecs.ErrInvalidParameter, "filter is not a valid cluster query: %s.", err.Error())
		}
	}
	cl, _, err := h.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	prefix := state.InstancesPrefix(cl.Name)
	p, err := parsePage(prefix, in.NextToken, in.MaxResults, defaultMaxResults)
	if err != nil {
		return nil, err
	}
	var tasks []*ecs.Task
	if filter != nil {
		if tasks, err = h.ciActiveTasks(ctx, cl.Name, nil); err != nil {
			return nil, err
		}
	}
	now := h.now()
	match := func(inst *ecs.ContainerInstance) bool {
		if status == "" && inst.Status == ecs.InstanceInactive || status != "" && inst.Status != status {
			return false
		}
		if filter == nil {
			return true
		}
		si := ciSchedulerInstance(inst, tasks, now)
		return filter.Match(&si)
	}
	arns, next, err := listPage(ctx, h.store, prefix, p, 0, match, func(ci *ecs.ContainerInstance) string { return ci.ARN })
	if err != nil {
		return nil, err
	}
	return &wire.ListContainerInstancesResponse{ContainerInstanceArns: arns, NextToken: next}, nil
}

func (h *Handler) updateContainerInstancesState(ctx context.Context, in *wire.UpdateContainerInstancesStateRequest) (*wire.UpdateContainerInstancesStateResponse, error) {
	status := ecs.ContainerInstanceStatus(in.Status)
	if status != ecs.InstanceActive && status != ecs.InstanceDraining {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "status %q is not valid: a container instance can only be set to ACTIVE or DRAINING.", in.Status)
	}
	if len(in.ContainerInstances) == 0 {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "containerInstances is required: name at least one container instance.")
	}
	if len(in.ContainerInstances) > ciMaxUpdateState {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "containerInstances can have at most %d items.", ciMaxUpdateState)
	}
	name, err := h.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	var insts []ecs.ContainerInstance
	var failures []wire.Failure
	var tasks []*ecs.Task
	err = state.Retry(ctx, func() error {
		insts, failures = nil, nil
		_, crev, err := h.activeCluster(ctx, name)
		if err != nil {
			return err
		}
		var ops []store.Op
		seen := map[string]bool{}
		for _, ref := range in.ContainerInstances {
			inst, rev, err := h.ciGet(ctx, name, ref)
			if errors.Is(err, ecs.ErrClient) || (err == nil && inst.Status == ecs.InstanceInactive) {
				failed := ref
				if !arn.IsARN(ref) {
					failed = h.namer.ContainerInstance(name, ref)
				}
				failures = append(failures, wire.Failure{Arn: failed, Reason: ecs.FailureMissing})
				continue
			}
			if err != nil {
				return err
			}
			if seen[inst.ID] {
				continue
			}
			seen[inst.ID] = true
			if inst.Status != status {
				inst.Status = status
				inst.Version++
				op, err := state.PutOp(state.InstanceKey(name, inst.ID), inst, rev)
				if err != nil {
					return err
				}
				ops = append(ops, op)
			}
			insts = append(insts, inst)
		}
		if len(ops) > 0 {
			if _, err := h.store.Txn(ctx, append(ops, store.Check(state.ClusterKey(name), crev))...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	tasks, err = h.ciActiveTasks(ctx, name, ciIDs(insts))
	if err != nil {
		return nil, err
	}
	out := &wire.UpdateContainerInstancesStateResponse{ContainerInstances: []wire.ContainerInstance{}, Failures: nonNil(failures)}
	for i := range insts {
		out.ContainerInstances = append(out.ContainerInstances, h.ciToWire(&insts[i], tasks, false))
	}
	return out, nil
}

func (h *Handler) discoverPollEndpoint(ctx context.Context, in *wire.DiscoverPollEndpointRequest) (*wire.DiscoverPollEndpointResponse, error) {
	if in.ContainerInstance == "" {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "containerInstance is required.")
	}
	cl, _, err := h.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	inst, _, err := h.ciGet(ctx, cl.Name, in.ContainerInstance)
	if err != nil {
		return nil, err
	}
	if err := ciCheckOwner(ctx, &inst); err != nil {
		return nil, err
	}
	o := requestOriginFrom(ctx)
	base := o.scheme + "://" + o.host
	return &wire.DiscoverPollEndpointResponse{Endpoint: base + "/", TelemetryEndpoint: base + "/tcs/"}, nil
}

// ciSchedulerInstance is the scheduler's view of inst, given the tasks of
// its cluster (only those on inst that are not STOPPED count): remaining
// cpu and memory, ports in use, attributes, agent state at now.
func ciSchedulerInstance(inst *ecs.ContainerInstance, tasks []*ecs.Task, now time.Time) scheduler.Instance {
	load := ecs.ComputeInstanceLoad(inst, tasks)
	si := scheduler.Instance{ID: inst.ID, ARN: inst.ARN, EC2InstanceID: inst.EC2InstanceID, Status: string(inst.Status),
		AgentConnected: inst.AgentConnectedAt(now, ciAgentStaleAfter), AgentVersion: inst.VersionInfo.AgentVersion,
		RegisteredAt: inst.RegisteredAt, Attributes: make(map[string]string, len(inst.Attributes)),
		CPU: load.RemainingCPU, Memory: load.RemainingMemory, UsedPorts: map[scheduler.Port]bool{}}
	for _, a := range inst.Attributes {
		si.Attributes[a.Name] = a.Value
	}
	for _, p := range load.BusyTCP {
		si.UsedPorts[scheduler.Port{Number: p, Protocol: "tcp"}] = true
	}
	for _, p := range load.BusyUDP {
		si.UsedPorts[scheduler.Port{Number: p, Protocol: "udp"}] = true
	}
	for _, t := range tasks {
		if t.ContainerInstanceID == inst.ID && t.Cluster == inst.Cluster && t.Active() {
			si.Tasks = append(si.Tasks, scheduler.TaskInfo{Group: t.Group, Family: t.Definition.Family,
				ServiceName: t.ServiceName, Status: t.LastStatus.String()})
		}
	}
	return si
}

// ciToWire renders an instance with its load from tasks (the tasks of its
// cluster); tags only when asked for.
func (h *Handler) ciToWire(inst *ecs.ContainerInstance, tasks []*ecs.Task, withTags bool) wire.ContainerInstance {
	load := ecs.ComputeInstanceLoad(inst, tasks)
	version := inst.Version
	connected := inst.AgentConnectedAt(h.now(), ciAgentStaleAfter)
	w := wire.ContainerInstance{
		ContainerInstanceArn: inst.ARN,
		Ec2InstanceId:        inst.EC2InstanceID,
		Version:              &version,
		VersionInfo: &wire.VersionInfo{AgentVersion: inst.VersionInfo.AgentVersion, AgentHash: inst.VersionInfo.AgentHash,
			DockerVersion: inst.VersionInfo.DockerVersion},
		RegisteredResources: ciResourcesToWire(inst.RegisteredResources),
		RemainingResources:  ciResourcesToWire(load.RemainingResources(inst)),
		Status:              string(inst.Status),
		StatusReason:        inst.StatusReason,
		AgentConnected:      &connected,
		RunningTasksCount:   i32(load.RunningTasks),
		PendingTasksCount:   i32(load.PendingTasks),
		Attributes:          make([]wire.Attribute, len(inst.Attributes)),
		Attachments:         []wire.Attachment{},
		Tags:                []wire.Tag{},
	}
	if !inst.RegisteredAt.IsZero() {
		w.RegisteredAt = wire.NewTime(inst.RegisteredAt)
	}
	for i, a := range inst.Attributes {
		w.Attributes[i] = wire.Attribute{Name: a.Name, Value: a.Value}
	}
	if withTags {
		w.Tags = tagsToWire(inst.Tags)
	}
	return w
}

// ciResourcesFromWire converts a registration's totalResources; a value
// missing for the resource's type is InvalidParameterException.
func ciResourcesFromWire(in []wire.Resource) ([]ecs.Resource, error) {
	out := make([]ecs.Resource, len(in))
	for i, r := range in {
		res := ecs.Resource{Name: r.Name, Type: r.Type, StringSetValue: r.StringSetValue}
		missing := false
		switch r.Type {
		case ecs.ResourceTypeInteger:
			missing = r.IntegerValue == nil
			if !missing {
				res.IntegerValue = int64(*r.IntegerValue)
			}
		case ecs.ResourceTypeLong:
			missing = r.LongValue == nil
			if !missing {
				res.LongValue = *r.LongValue
			}
		case ecs.ResourceTypeDouble:
			missing = r.DoubleValue == nil || math.IsNaN(*r.DoubleValue) || math.IsInf(*r.DoubleValue, 0)
			if !missing {
				res.DoubleValue = *r.DoubleValue
			}
		case ecs.ResourceTypeStringSet:
			if res.StringSetValue == nil {
				res.StringSetValue = []string{}
			}
		}
		if missing {
			return nil, ecs.Errorf(ecs.ErrInvalidParameter, "totalResources[%d] (%s) has type %s but no %sValue.", i, r.Name, r.Type, strings.ToLower(r.Type))
		}
		out[i] = res
	}
	return out, nil
}

// ciResourcesToWire renders resources as ECS does: every numeric value
// present (0 where the type does not use it), string sets for STRINGSET.
func ciResourcesToWire(in []ecs.Resource) []wire.Resource {
	out := make([]wire.Resource, len(in))
	for i, r := range in {
		iv := int32(max(math.MinInt32, min(math.MaxInt32, r.IntegerValue)))
		lv, dv := r.LongValue, r.DoubleValue
		out[i] = wire.Resource{Name: r.Name, Type: r.Type, IntegerValue: &iv, LongValue: &lv, DoubleValue: &dv}
		if r.Type == ecs.ResourceTypeStringSet {
			out[i].StringSetValue = nonNil(slices.Clone(r.StringSetValue))
		}
	}
	return out
}
