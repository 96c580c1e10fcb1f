package api

import (
	"github.com/berth/berth/internal/api/wire"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/scheduler"
)

// Conversions between the wire shapes of services and the domain model.

func svcConstraintsFromWire(in []wire.PlacementConstraint) []ecs.PlacementConstraint {
	if in == nil {
		return nil
	}
	out := make([]ecs.PlacementConstraint, 0, len(in))
	for _, c := range in {
		out = append(out, ecs.PlacementConstraint{Type: string(c.Type), Expression: c.Expression})
	}
	return out
}

func svcStrategiesFromWire(in []wire.PlacementStrategy) []ecs.PlacementStrategy {
	if in == nil {
		return nil
	}
	out := make([]ecs.PlacementStrategy, 0, len(in))
	for _, s := range in {
		out = append(out, ecs.PlacementStrategy{Type: string(s.Type), Field: s.Field})
	}
	return out
}

// svcValidatePlacement checks a service's placement (with its task
// definition's memberOf constraints) as RunTask does.
func svcValidatePlacement(cs []ecs.PlacementConstraint, ss []ecs.PlacementStrategy, def *ecs.TaskDefinition) error {
	var constraints []scheduler.Constraint
	for _, c := range cs {
		constraints = append(constraints, scheduler.Constraint{Type: c.Type, Expression: c.Expression})
	}
	for _, c := range def.PlacementConstraints {
		constraints = append(constraints, scheduler.Constraint{Type: c.Type, Expression: c.Expression})
	}
	var strategies []scheduler.Strategy
	for _, s := range ss {
		strategies = append(strategies, scheduler.Strategy{Type: s.Type, Field: s.Field})
	}
	return scheduler.ValidatePlacement(constraints, strategies)
}

func svcNetworkFromWire(in *wire.NetworkConfiguration) *ecs.NetworkConfiguration {
	if in == nil || in.AwsvpcConfiguration == nil {
		return nil
	}
	v := in.AwsvpcConfiguration
	return &ecs.NetworkConfiguration{AwsvpcConfiguration: &ecs.AwsVpcConfiguration{
		Subnets: v.Subnets, SecurityGroups: v.SecurityGroups, AssignPublicIP: string(v.AssignPublicIp)}}
}

func svcNetworkToWire(in *ecs.NetworkConfiguration) *wire.NetworkConfiguration {
	if in == nil || in.AwsvpcConfiguration == nil {
		return nil
	}
	v := in.AwsvpcConfiguration
	return &wire.NetworkConfiguration{AwsvpcConfiguration: &wire.AwsVpcConfiguration{
		Subnets: v.Subnets, SecurityGroups: v.SecurityGroups, AssignPublicIp: wire.AssignPublicIp(v.AssignPublicIP)}}
}

// svcDeploymentConfig builds a service's deployment configuration from
// the request's (nil: ECS's defaults), starting from base when an update
// leaves some fields unset.
func svcDeploymentConfig(strategy ecs.SchedulingStrategy, in *wire.DeploymentConfiguration, base *ecs.DeploymentConfiguration) (ecs.DeploymentConfiguration, error) {
	var minPct, maxPct *int
	var cb *ecs.DeploymentCircuitBreaker
	if base != nil {
		lo, hi := base.MinimumHealthyPercent, base.MaximumPercent
		minPct, maxPct, cb = &lo, &hi, base.DeploymentCircuitBreaker
	}
	if in != nil {
		if in.Alarms != nil && derefBool(in.Alarms.Enable) {
			return ecs.DeploymentConfiguration{}, ecs.Errorf(ecs.ErrInvalidParameter, "deploymentConfiguration.alarms is not supported by Berth: it has no CloudWatch alarms to watch.")
		}
		if in.Strategy != "" && in.Strategy != "ROLLING" {
			return ecs.DeploymentConfiguration{}, ecs.Errorf(ecs.ErrInvalidParameter, "deploymentConfiguration.strategy %s is not supported by Berth; only ROLLING deployments are.", in.Strategy)
		}
		if in.MinimumHealthyPercent != nil {
			minPct = taskIntPtr(in.MinimumHealthyPercent)
		}
		if in.MaximumPercent != nil {
			maxPct = taskIntPtr(in.MaximumPercent)
		}
		if w := in.DeploymentCircuitBreaker; w != nil {
			cb = &ecs.DeploymentCircuitBreaker{Enable: derefBool(w.Enable), Rollback: derefBool(w.Rollback), ResetOnHealthyTask: w.ResetOnHealthyTask}
			if tc := w.ThresholdConfiguration; tc != nil {
				cb.ThresholdConfiguration = &ecs.ThresholdConfiguration{Type: string(tc.Type), Value: derefI32(tc.Value)}
			}
		}
	}
	return ecs.NewDeploymentConfiguration(strategy, minPct, maxPct, cb)
}

func svcDeploymentConfigToWire(c *ecs.DeploymentConfiguration) *wire.DeploymentConfiguration {
	out := &wire.DeploymentConfiguration{MinimumHealthyPercent: i32(c.MinimumHealthyPercent), MaximumPercent: i32(c.MaximumPercent)}
	cb := c.DeploymentCircuitBreaker
	if cb == nil {
		cb = &ecs.DeploymentCircuitBreaker{}
	}
	enable, rollback := cb.Enable, cb.Rollback
	out.DeploymentCircuitBreaker = &wire.DeploymentCircuitBreaker{Enable: &enable, Rollback: &rollback, ResetOnHealthyTask: cb.ResetOnHealthyTask}
	if tc := cb.ThresholdConfiguration; tc != nil {
		out.DeploymentCircuitBreaker.ThresholdConfiguration = &wire.ThresholdConfiguration{Type: wire.ThresholdType(tc.Type), Value: i32(tc.Value)}
	}
	return out
}

// svcCounts are a service's task counts, overall and per deployment ID.
type svcCounts struct {
	running, pending int
	byDep            map[string][2]int // running, pending
}

func (c *svcCounts) add(t *ecs.Task) {
	if t.DesiredStatus == ecs.TaskStopped && t.LastStatus != ecs.TaskRunning {
		return
	}
	i := -1
	switch {
	case t.LastStatus == ecs.TaskRunning:
		c.running++
		i = 0
	case t.LastStatus >= ecs.TaskProvisioning && t.LastStatus < ecs.TaskRunning:
		c.pending++
		i = 1
	}
	if i >= 0 {
		v := c.byDep[t.StartedBy]
		v[i]++
		c.byDep[t.StartedBy] = v
	}
}

func (h *Handler) serviceToWire(s *ecs.Service, counts *svcCounts, withTags bool) wire.Service {
	enableManaged, enableExec := s.EnableECSManagedTags, s.EnableExecuteCommand
	out := wire.Service{
		ServiceArn:                    s.ARN,
		ServiceName:                   s.Name,
		ClusterArn:                    h.namer.Cluster(s.Cluster),
		Status:                        string(s.Status),
		DesiredCount:                  i32(s.DesiredCount),
		RunningCount:                  i32(counts.running),
		PendingCount:                  i32(counts.pending),
		LaunchType:                    wire.LaunchType(s.LaunchType),
		CapacityProviderStrategy:      strategyToWire(s.CapacityProviderStrategy),
		PlatformVersion:               s.PlatformVersion,
		TaskDefinition:                s.TaskDefinition,
		DeploymentConfiguration:       svcDeploymentConfigToWire(&s.DeploymentConfiguration),
		Deployments:                   []wire.Deployment{},
		Events:                        []wire.ServiceEvent{},
		CreatedAt:                     wire.NewTime(s.CreatedAt),
		PlacementConstraints:          []wire.PlacementConstraint{},
		PlacementStrategy:             []wire.PlacementStrategy{},
		NetworkConfiguration:          svcNetworkToWire(s.NetworkConfiguration),
		HealthCheckGracePeriodSeconds: i32(s.HealthCheckGracePeriodSeconds),
		SchedulingStrategy:            wire.SchedulingStrategy(s.SchedulingStrategy),
		DeploymentController:          &wire.DeploymentController{Type: wire.DeploymentControllerTypeEcs},
		CreatedBy:                     s.CreatedBy,
		EnableECSManagedTags:          &enableManaged,
		PropagateTags:                 wire.PropagateTags(s.PropagateTags),
		EnableExecuteCommand:          &enableExec,
	}
	if out.PropagateTags == "" {
		out.PropagateTags = wire.PropagateTagsNone
	}
	if p := s.Primary(); p != nil {
		out.CurrentServiceDeployment = p.ID
	}
	for _, c := range s.PlacementConstraints {
		out.PlacementConstraints = append(out.PlacementConstraints, wire.PlacementConstraint{Type: wire.PlacementConstraintType(c.Type), Expression: c.Expression})
	}
	for _, st := range s.PlacementStrategy {
		out.PlacementStrategy = append(out.PlacementStrategy, wire.PlacementStrategy{Type: wire.PlacementStrategyType(st.Type), Field: st.Field})
	}
	for i := range s.Deployments {
		d := &s.Deployments[i]
		if d.Status == ecs.DeploymentInactive {
			continue
		}
		n := counts.byDep[d.ID]
		out.Deployments = append(out.Deployments, wire.Deployment{
			Id: d.ID, Status: string(d.Status), TaskDefinition: d.TaskDefinition,
			DesiredCount: i32(d.DesiredCount), RunningCount: i32(n[0]), PendingCount: i32(n[1]), FailedTasks: i32(d.FailedTasks),
			CreatedAt: wire.NewTime(d.CreatedAt), UpdatedAt: wire.NewTime(d.UpdatedAt),
			LaunchType: wire.LaunchType(d.LaunchType), CapacityProviderStrategy: strategyToWire(d.CapacityProviderStrategy),
			PlatformVersion: d.PlatformVersion, NetworkConfiguration: svcNetworkToWire(d.NetworkConfiguration),
			RolloutState: wire.DeploymentRolloutState(d.RolloutState), RolloutStateReason: d.RolloutStateReason,
		})
	}
	for _, e := range s.Events {
		out.Events = append(out.Events, wire.ServiceEvent{Id: e.ID, CreatedAt: wire.NewTime(e.CreatedAt), Message: e.Message})
	}
	if withTags {
		out.Tags = tagsToWire(s.Tags)
	}
	return out
}
