package api

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/berth/berth/internal/api/wire"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/scheduler"
)

// taskLaunch is a validated RunTask or StartTask request: what every task
// it starts shares.
type taskLaunch struct {
	cluster    string
	def        ecs.TaskDefinition // as the tasks run it: overrides applied
	overrides  ecs.TaskOverride   // as given
	launchType string
	startedBy  string
	group      string
	tags       []ecs.Tag
	enableExec bool
	awsvpc     bool
	// ports are the host ports each task needs, in container order;
	// HostPort 0 marks a dynamic one, which placement chooses.
	ports []ecs.PortAssignment
	// req is the placement request of one task (Count, constraints and
	// strategies are the caller's).
	req scheduler.Request
}

// launchInput is what RunTask and StartTask requests share.
type launchInput struct {
	cluster, taskDefinition       string
	overrides                     *wire.TaskOverride
	startedBy, group, referenceID string
	tags                          []wire.Tag
	propagateTags                 wire.PropagateTags
	enableManagedTags, enableExec *bool
	network                       *wire.NetworkConfiguration
	volumeConfigurations          []wire.TaskVolumeConfiguration
	// launchType is EC2 or EXTERNAL; launchTypeGiven is false when the
	// request left it to the cluster's default.
	launchType      string
	launchTypeGiven bool
}

func (h *Handler) runTask(ctx context.Context, in *wire.RunTaskRequest) (*wire.RunTaskResponse, error) {
	count := 1
	if in.Count != nil {
		count = int(*in.Count)
		if count < 1 || count > ecs.MaxRunTaskCount {
			return nil, ecs.Errorf(ecs.ErrInvalidParameter, "count must be between 1 and %d (got %d).", ecs.MaxRunTaskCount, count)
		}
	}
	launchType, err := launchSettings(len(in.CapacityProviderStrategy), in.LaunchType, in.PlatformVersion, "tasks")
	if err != nil {
		return nil, err
	}
	if err := ecs.ValidateClientToken(in.ClientToken); err != nil {
		return nil, err
	}
	if len(in.PlacementConstraints) > ecs.MaxRunTaskConstraints {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "placementConstraints can have at most %d items (got %d).", ecs.MaxRunTaskConstraints, len(in.PlacementConstraints))
	}
	if len(in.PlacementStrategy) > ecs.MaxRunTaskStrategies {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "placementStrategy can have at most %d items (got %d).", ecs.MaxRunTaskStrategies, len(in.PlacementStrategy))
	}
	var constraints []scheduler.Constraint
	for _, c := range in.PlacementConstraints {
		constraints = append(constraints, scheduler.Constraint{Type: string(c.Type), Expression: c.Expression})
	}
	var strategies []scheduler.Strategy
	for _, s := range in.PlacementStrategy {
		strategies = append(strategies, scheduler.Strategy{Type: string(s.Type), Field: s.Field})
	}
	if err := scheduler.ValidatePlacement(constraints, strategies); err != nil {
		return nil, err
	}
	l, err := h.prepareLaunch(ctx, launchInput{
		cluster: in.Cluster, taskDefinition: in.TaskDefinition, overrides: in.Overrides,
		startedBy: in.StartedBy, group: in.Group, referenceID: in.ReferenceId,
		tags: in.Tags, propagateTags: in.PropagateTags,
		enableManagedTags: in.EnableECSManagedTags, enableExec: in.EnableExecuteCommand,
		network: in.NetworkConfiguration, volumeConfigurations: in.VolumeConfigurations,
		launchType: launchType, launchTypeGiven: in.LaunchType != "",
	})
	if err != nil {
		return nil, err
	}
	// The definition's memberOf constraints join the request's.
	for _, c := range l.def.PlacementConstraints {
		constraints = append(constraints, scheduler.Constraint{Type: c.Type, Expression: c.Expression})
	}
	if err := scheduler.ValidatePlacement(constraints, strategies); err != nil {
		return nil, err
	}
	l.req.Count, l.req.Constraints, l.req.Strategies = count, constraints, strategies
	tasks, failures, err := h.runTasks(ctx, l, in)
	if err != nil {
		return nil, err
	}
	out := &wire.RunTaskResponse{Tasks: make([]wire.Task, 0, len(tasks)), Failures: nonNil(failures)}
	for i := range tasks {
		out.Tasks = append(out.Tasks, h.taskToWire(&tasks[i], true))
	}
	return out, nil
}

// runTaskLaunchType resolves RunTask's launchType. Berth runs tasks on
// the container instances of a cluster only: EC2 (the default) or
// EXTERNAL.
func runTaskLaunchType(lt wire.LaunchType) (string, error) {
	switch lt {
	case "", wire.LaunchTypeEc2:
		return string(wire.LaunchTypeEc2), nil
	case wire.LaunchTypeExternal:
		return string(lt), nil
	case wire.LaunchTypeFargate, wire.LaunchTypeManagedInstances:
		return "", ecs.Errorf(ecs.ErrInvalidParameter, "launchType %s is not supported by this cluster yet: Berth runs tasks on the cluster's container instances. Use launchType EC2 or EXTERNAL.", lt)
	}
	return "", ecs.Errorf(ecs.ErrInvalidParameter, "launchType %q is not valid. Valid values: EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES.", lt)
}

// launchSettings checks the capacity a RunTask or CreateService asks for
// (what names the callers in messages) and returns the launch type.
func launchSettings(capacityProviders int, lt wire.LaunchType, platformVersion, what string) (string, error) {
	if capacityProviders > 0 {
		return "", ecs.Errorf(ecs.ErrInvalidParameter, "capacityProviderStrategy is not supported by this cluster yet: Berth has no capacity provider that runs tasks. Give launchType EC2 or EXTERNAL instead.")
	}
	launchType, err := runTaskLaunchType(lt)
	if err != nil {
		return "", err
	}
	if platformVersion != "" {
		return "", ecs.Errorf(ecs.ErrInvalidParameter, "platformVersion is only supported for %s using the FARGATE launch type.", what)
	}
	return launchType, nil
}

func (h *Handler) startTask(ctx context.Context, in *wire.StartTaskRequest) (*wire.StartTaskResponse, error) {
	if len(in.ContainerInstances) == 0 {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "containerInstances is required: name from 1 to %d container instances.", ecs.MaxStartTaskInstances)
	}
	if len(in.ContainerInstances) > ecs.MaxStartTaskInstances {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "containerInstances can have at most %d items (got %d).", ecs.MaxStartTaskInstances, len(in.ContainerInstances))
	}
	l, err := h.prepareLaunch(ctx, launchInput{
		cluster: in.Cluster, taskDefinition: in.TaskDefinition, overrides: in.Overrides,
		startedBy: in.StartedBy, group: in.Group, referenceID: in.ReferenceId,
		tags: in.Tags, propagateTags: in.PropagateTags,
		enableManagedTags: in.EnableECSManagedTags, enableExec: in.EnableExecuteCommand,
		network: in.NetworkConfiguration, volumeConfigurations: in.VolumeConfigurations,
		launchType: string(wire.LaunchTypeEc2), launchTypeGiven: true,
	})
	if err != nil {
		return nil, err
	}
	l.req.Count = 1
	tasks, failures, err := h.startTasks(ctx, l, in.ContainerInstances)
	if err != nil {
		return nil, err
	}
	out := &wire.StartTaskResponse{Tasks: make([]wire.Task, 0, len(tasks)), Failures: nonNil(failures)}
	for i := range tasks {
		out.Tasks = append(out.Tasks, h.taskToWire(&tasks[i], true))
	}
	return out, nil
}

// prepareLaunch validates what RunTask and StartTask share, resolves the
// cluster and the task definition, and applies the overrides.
func (h *Handler) prepareLaunch(ctx context.Context, in launchInput) (*taskLaunch, error) {
	if err := ecs.ValidateStartedBy(in.startedBy); err != nil {
		return nil, err
	}
	if err := ecs.ValidateTaskGroup(in.group); err != nil {
		return nil, err
	}
	if err := ecs.ValidateReferenceID(in.referenceID); err != nil {
		return nil, err
	}
	userTags := tagsFromWire(in.tags)
	if err := ecs.ValidateTags(userTags); err != nil {
		return nil, err
	}
	switch in.propagateTags {
	case "", wire.PropagateTagsNone, wire.PropagateTagsTaskDefinition:
	case wire.PropagateTagsService:
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "propagateTags SERVICE is only valid for tasks a service starts; use TASK_DEFINITION or NONE.")
	default:
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "propagateTags %q is not valid. Valid values: TASK_DEFINITION, SERVICE, NONE.", in.propagateTags)
	}
	if len(in.volumeConfigurations) > 0 {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "volumeConfigurations is not supported by Berth: it has no Amazon EBS volumes to attach.")
	}
	if in.overrides != nil {
		if b, err := json.Marshal(in.overrides); err == nil && len(b) > ecs.MaxTaskOverridesLength {
			return nil, ecs.Errorf(ecs.ErrInvalidParameter, "overrides is %d characters of JSON; at most %d are allowed.", len(b), ecs.MaxTaskOverridesLength)
		}
	}
	overrides, err := taskOverrideFromWire(in.overrides)
	if err != nil {
		return nil, err
	}
	c, _, err := h.activeCluster(ctx, in.cluster)
	if err != nil {
		return nil, err
	}
	if !in.launchTypeGiven && len(c.DefaultCapacityProviderStrategy) > 0 {
		var names []string
		for _, s := range c.DefaultCapacityProviderStrategy {
			names = append(names, s.CapacityProvider)
		}
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "Cluster %s has a default capacity provider strategy (%s), which this cluster cannot run tasks with yet. Give launchType EC2 or EXTERNAL.", c.Name, strings.Join(names, ", "))
	}
	e, err := h.findTaskDefinition(ctx, in.taskDefinition)
	if err != nil {
		return nil, err
	}
	def := e.td // shared with the cache: ApplyTaskOverride copies what it changes
	if def.Status != ecs.TaskDefinitionActive {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "TaskDefinition is inactive")
	}
	if len(def.Compatibilities) > 0 && !def.CompatibleWith(ecs.Compatibility(in.launchType)) {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "Task definition does not support launch_type %s.", in.launchType)
	}
	awsvpc, err := checkTaskNetwork(&def, in.network)
	if err != nil {
		return nil, err
	}
	def, err = ecs.ApplyTaskOverride(def, overrides)
	if err != nil {
		return nil, err
	}
	if err := ecs.CheckRunnable(&def); err != nil {
		return nil, err
	}
	l := &taskLaunch{
		cluster:    c.Name,
		def:        def,
		overrides:  overrides,
		launchType: in.launchType,
		startedBy:  in.startedBy,
		group:      in.group,
		enableExec: derefBool(in.enableExec),
		awsvpc:     awsvpc,
		ports:      ecs.TaskPortNeeds(&def),
	}
	if l.group == "" {
		l.group = ecs.DefaultTaskGroup(def.Family)
	}
	if in.propagateTags == wire.PropagateTagsTaskDefinition {
		if l.tags, err = ecs.MergeTags(slices.Clone(def.Tags), userTags); err != nil {
			return nil, err
		}
	} else {
		l.tags = userTags
	}
	if derefBool(in.enableManagedTags) {
		l.tags = append(l.tags, ecs.Tag{Key: ecs.ManagedTagClusterName, Value: c.Name})
	}
	l.req = placementRequest(&def, l.ports, l.group)
	return l, nil
}

// checkTaskNetwork checks a request's networkConfiguration against the
// definition's network mode, as ECS does: awsvpc tasks need one (Berth
// records nothing of the subnets and security groups it names: the
// address comes from the instance's awsvpc subnet), other modes must not
// have one. It reports whether the task is an awsvpc task.
func checkTaskNetwork(def *ecs.TaskDefinition, nc *wire.NetworkConfiguration) (bool, error) {
	var vpc *wire.AwsVpcConfiguration
	if nc != nil {
		vpc = nc.AwsvpcConfiguration
	}
	if def.EffectiveNetworkMode() != ecs.NetworkModeAwsvpc {
		if vpc != nil {
			return false, ecs.Errorf(ecs.ErrInvalidParameter, "Network Configuration is not valid for the given networkMode of this task definition.")
		}
		return false, nil
	}
	if vpc == nil {
		return false, ecs.Errorf(ecs.ErrInvalidParameter, "Network Configuration must be provided when networkMode 'awsvpc' is specified.")
	}
	switch {
	case len(vpc.Subnets) == 0:
		return false, ecs.Errorf(ecs.ErrInvalidParameter, "subnets can not be empty.")
	case len(vpc.Subnets) > ecs.MaxAwsvpcSubnets:
		return false, ecs.Errorf(ecs.ErrInvalidParameter, "networkConfiguration.awsvpcConfiguration.subnets can have at most %d items.", ecs.MaxAwsvpcSubnets)
	case len(vpc.SecurityGroups) > ecs.MaxAwsvpcSecurityGroups:
		return false, ecs.Errorf(ecs.ErrInvalidParameter, "networkConfiguration.awsvpcConfiguration.securityGroups can have at most %d items.", ecs.MaxAwsvpcSecurityGroups)
	}
	switch vpc.AssignPublicIp {
	case "", wire.AssignPublicIpDisabled:
	case wire.AssignPublicIpEnabled:
		return false, ecs.Errorf(ecs.ErrInvalidParameter, "Assign public IP is not supported for this launch type.")
	default:
		return false, ecs.Errorf(ecs.ErrInvalidParameter, "networkConfiguration.awsvpcConfiguration.assignPublicIp %q is not valid. Valid values: ENABLED, DISABLED.", vpc.AssignPublicIp)
	}
	for i, s := range vpc.Subnets {
		if s == "" {
			return false, ecs.Errorf(ecs.ErrInvalidParameter, "networkConfiguration.awsvpcConfiguration.subnets[%d] is empty.", i)
		}
	}
	return true, nil
}

// taskRequestHash identifies a RunTask request apart from its clientToken, so
// that a token reused with other parameters is told apart.
func taskRequestHash(in *wire.RunTaskRequest) (string, error) {
	cp := *in
	cp.ClientToken = ""
	b, err := json.Marshal(&cp)
	if err != nil {
		return "", fmt.Errorf("hash RunTask request: %w", err)
	}
	return taskHashHex(b), nil
}

// placementRequest is what a task of def needs from an instance: its
// reservation, its host ports (static, and one dynamic per port 0) and its
// required attributes ("name" or "name=value").
func placementRequest(def *ecs.TaskDefinition, ports []ecs.PortAssignment, group string) scheduler.Request {
	cpu, mem := def.Reservation()
	req := scheduler.Request{CPU: cpu, Memory: mem, Group: group}
	for _, p := range ports {
		if p.HostPort != 0 {
			req.StaticPorts = append(req.StaticPorts, scheduler.Port{Number: p.HostPort, Protocol: p.Protocol})
		} else {
			req.DynamicPorts = append(req.DynamicPorts, p.Protocol)
		}
	}
	for _, a := range def.RequiresAttributes {
		if a.Value != "" {
			req.RequiredAttributes = append(req.RequiredAttributes, a.Name+"="+a.Value)
		} else {
			req.RequiredAttributes = append(req.RequiredAttributes, a.Name)
		}
	}
	return req
}
