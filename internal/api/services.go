package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/berth/berth/internal/api/wire"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/ecs/arn"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

// Services: CreateService, UpdateService, DeleteService,
// DescribeServices, ListServices and ListServicesByNamespace. These only
// record what the user asked for; the service controller
// (internal/service) starts and stops the tasks, moves deployments along
// and makes DRAINING services INACTIVE.

const (
	maxServiceNameLength = 255
	maxDescribeServices  = 10
	// serviceCreatePrefix holds, per service, the hash of the
	// CreateService request that made it, so that a repeated identical
	// request answers the existing service (ECS's idempotency).
	serviceCreatePrefix = "/service-create/"
)

func serviceCreateKey(cluster, name string) string {
	return serviceCreatePrefix + cluster + "/" + name
}

type serviceCreateRecord struct {
	Hash string `json:"hash"`
}

func errServiceNotFound() error { return ecs.Errorf(ecs.ErrServiceNotFound, "Service not found.") }
func errServiceNotActive() error {
	return ecs.Errorf(ecs.ErrServiceNotActive, "Service was not ACTIVE.")
}

// validServiceName applies ECS's rule: up to 255 letters, numbers,
// hyphens and underscores.
func validServiceName(name string) error {
	if name == "" {
		return ecs.Errorf(ecs.ErrInvalidParameter, "serviceName is required.")
	}
	if len(name) > maxServiceNameLength {
		return ecs.Errorf(ecs.ErrInvalidParameter, "serviceName can have at most %d characters (got %d).", maxServiceNameLength, len(name))
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return ecs.Errorf(ecs.ErrInvalidParameter, "serviceName %q is not valid: up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores are allowed.", name)
		}
	}
	return nil
}

// serviceRefName resolves a service reference of a request about
// cluster: a name, or a service ARN of this region and account naming
// cluster (long format) or no cluster (short format).
func (h *Handler) serviceRefName(cluster, ref string) (string, bool) {
	if !arn.IsARN(ref) {
		return ref, ref != "" && validServiceName(ref) == nil
	}
	return h.namer.ResourceID(arn.TypeService, cluster, ref)
}

// unsupportedServiceFeatures refuses what Berth has nothing to back with.
func unsupportedServiceFeatures(lbs int, registries int, sc *wire.ServiceConnectConfiguration, vols int, lattice int, gateways int) error {
	switch {
	case lbs > 0:
		return ecs.Errorf(ecs.ErrInvalidParameter, "loadBalancers is not supported by Berth: it has no load balancers to register tasks with.")
	case registries > 0:
		return ecs.Errorf(ecs.ErrInvalidParameter, "serviceRegistries is not supported by Berth: it has no Cloud Map namespaces.")
	case sc != nil && derefBool(sc.Enabled):
		return ecs.Errorf(ecs.ErrInvalidParameter, "serviceConnectConfiguration is not supported by Berth: it has no Service Connect namespaces.")
	case vols > 0:
		return ecs.Errorf(ecs.ErrInvalidParameter, "volumeConfigurations is not supported by Berth: it has no Amazon EBS volumes to attach.")
	case lattice > 0:
		return ecs.Errorf(ecs.ErrInvalidParameter, "vpcLatticeConfigurations is not supported by Berth.")
	case gateways > 0:
		return ecs.Errorf(ecs.ErrInvalidParameter, "gatewayConnectors is not supported by Berth.")
	}
	return nil
}

func validPropagateTags(p wire.PropagateTags) error {
	switch p {
	case "", wire.PropagateTagsNone, wire.PropagateTagsTaskDefinition, wire.PropagateTagsService:
		return nil
	}
	return ecs.Errorf(ecs.ErrInvalidParameter, "propagateTags %q is not valid. Valid values: TASK_DEFINITION, SERVICE, NONE.", p)
}

func validGracePeriod(p *int32) error {
	if p != nil && *p < 0 {
		return ecs.Errorf(ecs.ErrInvalidParameter, "healthCheckGracePeriodSeconds cannot be negative (got %d).", *p)
	}
	return nil
}

// serviceTaskDefinition resolves an ACTIVE task definition a service of
// launchType can run, and checks the network configuration against it.
func (h *Handler) serviceTaskDefinition(ctx context.Context, ref, launchType string, nc *wire.NetworkConfiguration) (ecs.TaskDefinition, error) {
	if ref == "" {
		return ecs.TaskDefinition{}, ecs.Errorf(ecs.ErrInvalidParameter, "taskDefinition is required.")
	}
	e, err := h.findTaskDefinition(ctx, ref)
	if err != nil {
		return ecs.TaskDefinition{}, err
	}
	def := e.td
	if def.Status != ecs.TaskDefinitionActive {
		return def, ecs.Errorf(ecs.ErrInvalidParameter, "TaskDefinition is inactive")
	}
	if len(def.Compatibilities) > 0 && !def.CompatibleWith(ecs.Compatibility(launchType)) {
		return def, ecs.Errorf(ecs.ErrInvalidParameter, "Task definition does not support launch_type %s.", launchType)
	}
	if _, err := checkTaskNetwork(&def, nc); err != nil {
		return def, err
	}
	return def, nil
}

func newDeployment(s *ecs.Service, def string, now time.Time) ecs.Deployment {
	id := ecs.FormatDeploymentID(rand.Uint64())
	return ecs.Deployment{
		ID: id, Status: ecs.DeploymentPrimary, TaskDefinition: def, DesiredCount: s.DesiredCount,
		CreatedAt: now, UpdatedAt: now, LaunchType: s.LaunchType, CapacityProviderStrategy: s.CapacityProviderStrategy,
		PlatformVersion: s.PlatformVersion, NetworkConfiguration: s.NetworkConfiguration,
		RolloutState: ecs.RolloutInProgress, RolloutStateReason: ecs.RolloutReasonInProgress(id),
	}
}

func (h *Handler) createService(ctx context.Context, in *wire.CreateServiceRequest) (*wire.CreateServiceResponse, error) {
	if err := validServiceName(in.ServiceName); err != nil {
		return nil, err
	}
	if err := unsupportedServiceFeatures(len(in.LoadBalancers), len(in.ServiceRegistries), in.ServiceConnectConfiguration,
		len(in.VolumeConfigurations), len(in.VpcLatticeConfigurations), len(in.GatewayConnectors)); err != nil {
		return nil, err
	}
	if err := ecs.ValidateClientToken(in.ClientToken); err != nil {
		return nil, err
	}
	if dc := in.DeploymentController; dc != nil && dc.Type != "" && dc.Type != wire.DeploymentControllerTypeEcs {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "deploymentController.type %s is not supported by Berth; only ECS is.", dc.Type)
	}
	strategy := ecs.SchedulingReplica
	switch in.SchedulingStrategy {
	case "", wire.SchedulingStrategyReplica:
	case wire.SchedulingStrategyDaemon:
		strategy = ecs.SchedulingDaemon
	default:
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "schedulingStrategy %q is not valid. Valid values: REPLICA, DAEMON.", in.SchedulingStrategy)
	}
	desired := derefI32(in.DesiredCount)
	switch {
	case desired < 0:
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "desiredCount cannot be negative (got %d).", desired)
	case strategy == ecs.SchedulingDaemon && in.DesiredCount != nil:
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "desiredCount is not valid for a service with the DAEMON scheduling strategy: it runs one task on each container instance.")
	case strategy == ecs.SchedulingDaemon && len(in.PlacementStrategy) > 0:
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "placementStrategy is not supported with the DAEMON scheduling strategy.")
	}
	launchType, err := launchSettings(len(in.CapacityProviderStrategy), in.LaunchType, in.PlatformVersion, "services")
	if err != nil {
		return nil, err
	}
	if err := validPropagateTags(in.PropagateTags); err != nil {
		return nil, err
	}
	if err := validGracePeriod(in.HealthCheckGracePeriodSeconds); err != nil {
		return nil, err
	}
	tags := tagsFromWire(in.Tags)
	if err := ecs.ValidateTags(tags); err != nil {
		return nil, err
	}
	cfg, err := svcDeploymentConfig(strategy, in.DeploymentConfiguration, nil)
	if err != nil {
		return nil, err
	}
	c, _, err := h.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	if in.LaunchType == "" && len(c.DefaultCapacityProviderStrategy) > 0 {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "Cluster %s has a default capacity provider strategy, which this cluster cannot run services with yet. Give launchType EC2 or EXTERNAL.", c.Name)
	}
	def, err := h.serviceTaskDefinition(ctx, in.TaskDefinition, launchType, in.NetworkConfiguration)
	if err != nil {
		return nil, err
	}
	constraints, strategies := svcConstraintsFromWire(in.PlacementConstraints), svcStrategiesFromWire(in.PlacementStrategy)
	if err := svcValidatePlacement(constraints, strategies, &def); err != nil {
		return nil, err
	}
	hash, err := serviceRequestHash(in)
	if err != nil {
		return nil, err
	}
	now := taskStamp(h.now())
	s := ecs.Service{
		Name: in.ServiceName, ARN: h.namer.Service(c.Name, in.ServiceName), Cluster: c.Name,
		Status: ecs.ServiceActive, SchedulingStrategy: strategy, DesiredCount: desired, TaskDefinition: def.ARN,
		LaunchType: launchType, DeploymentConfiguration: cfg,
		PlacementConstraints: constraints, PlacementStrategy: strategies,
		NetworkConfiguration:          svcNetworkFromWire(in.NetworkConfiguration),
		HealthCheckGracePeriodSeconds: derefI32(in.HealthCheckGracePeriodSeconds),
		Tags:                          tags, PropagateTags: string(in.PropagateTags),
		EnableECSManagedTags: derefBool(in.EnableECSManagedTags), EnableExecuteCommand: derefBool(in.EnableExecuteCommand),
		CreatedAt: now, CreatedBy: h.callerPrincipal(ctx), Version: 1,
	}
	if s.PropagateTags == "" {
		s.PropagateTags = ecs.PropagateTagsNone
	}
	s.Deployments = []ecs.Deployment{newDeployment(&s, def.ARN, now)}
	key := state.ServiceKey(c.Name, s.Name)
	var existing *ecs.Service
	err = state.Retry(ctx, func() error {
		existing = nil
		_, crev, err := h.activeCluster(ctx, c.Name)
		if err != nil {
			return err
		}
		old, rev, err := state.Get[ecs.Service](ctx, h.store, key)
		expect := store.ExpectAbsent
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		case old.Status == ecs.ServiceActive:
			rec, _, err := state.Get[serviceCreateRecord](ctx, h.store, serviceCreateKey(c.Name, s.Name))
			if err == nil && rec.Hash == hash {
				existing = &old
				return nil
			}
			return ecs.Errorf(ecs.ErrInvalidParameter, "Creation of service was not idempotent.")
		case old.Status == ecs.ServiceDraining:
			return ecs.Errorf(ecs.ErrInvalidParameter, "Unable to Start a service that is still Draining.")
		default: // INACTIVE: the name is free again
			expect = rev
		}
		put, err := state.PutOp(key, &s, expect)
		if err != nil {
			return err
		}
		rec, err := state.PutOp(serviceCreateKey(c.Name, s.Name), serviceCreateRecord{Hash: hash}, store.ExpectAny)
		if err != nil {
			return err
		}
		_, err = h.store.Txn(ctx, put, rec, store.Check(state.ClusterKey(c.Name), crev), state.AddMembersOp(c.Name))
		return err
	})
	if err != nil {
		return nil, err
	}
	if existing != nil {
		s = *existing
	}
	w, err := h.describeService(ctx, &s, false)
	if err != nil {
		return nil, err
	}
	return &wire.CreateServiceResponse{Service: &w}, nil
}

// serviceRequestHash identifies a CreateService request apart from its
// clientToken: the same request repeated answers the same service.
func serviceRequestHash(in *wire.CreateServiceRequest) (string, error) {
	cp := *in
	cp.ClientToken = ""
	b, err := json.Marshal(&cp)
	if err != nil {
		return "", fmt.Errorf("hash CreateService request: %w", err)
	}
	return taskHashHex(b), nil
}

// describeService converts s with its counts read from its tasks.
func (h *Handler) describeService(ctx context.Context, s *ecs.Service, withTags bool) (wire.Service, error) {
	tasks, err := state.List[ecs.Task](ctx, h.store, state.TasksPrefix(s.Cluster), store.ListOptions{})
	if err != nil {
		return wire.Service{}, err
	}
	counts := svcCounts{byDep: map[string][2]int{}}
	for i := range tasks {
		if tasks[i].Value.ServiceName == s.Name {
			counts.add(&tasks[i].Value)
		}
	}
	return h.serviceToWire(s, &counts, withTags), nil
}

// updateActiveService applies fn to an ACTIVE service of an ACTIVE
// cluster with compare-and-swap.
func (h *Handler) updateActiveService(ctx context.Context, clusterRef, ref string, fn func(s *ecs.Service) error) (ecs.Service, error) {
	if ref == "" {
		return ecs.Service{}, ecs.Errorf(ecs.ErrInvalidParameter, "service is required.")
	}
	name, err := h.clusterName(clusterRef)
	if err != nil {
		return ecs.Service{}, err
	}
	svc, ok := h.serviceRefName(name, ref)
	if !ok {
		return ecs.Service{}, errServiceNotFound()
	}
	return state.Update(ctx, h.store, state.ServiceKey(name, svc), func(s *ecs.Service, exists bool) ([]store.Op, error) {
		_, crev, err := h.activeCluster(ctx, name)
		if err != nil {
			return nil, err
		}
		if !exists {
			return nil, errServiceNotFound()
		}
		if s.Status != ecs.ServiceActive {
			return nil, errServiceNotActive()
		}
		if err := fn(s); err != nil {
			return nil, err
		}
		s.Version++
		return []store.Op{store.Check(state.ClusterKey(name), crev)}, nil
	})
}

func (h *Handler) updateService(ctx context.Context, in *wire.UpdateServiceRequest) (*wire.UpdateServiceResponse, error) {
	if err := unsupportedServiceFeatures(len(in.LoadBalancers), len(in.ServiceRegistries), in.ServiceConnectConfiguration,
		len(in.VolumeConfigurations), len(in.VpcLatticeConfigurations), len(in.GatewayConnectors)); err != nil {
		return nil, err
	}
	if len(in.CapacityProviderStrategy) > 0 {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "capacityProviderStrategy is not supported by this cluster yet: Berth has no capacity provider that runs tasks.")
	}
	if in.PlatformVersion != "" {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "platformVersion is only supported for services using the FARGATE launch type.")
	}
	if in.DesiredCount != nil && *in.DesiredCount < 0 {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "desiredCount cannot be negative (got %d).", *in.DesiredCount)
	}
	if err := validPropagateTags(in.PropagateTags); err != nil {
		return nil, err
	}
	if err := validGracePeriod(in.HealthCheckGracePeriodSeconds); err != nil {
		return nil, err
	}
	if dc := in.DeploymentController; dc != nil && dc.Type != "" && dc.Type != wire.DeploymentControllerTypeEcs {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "deploymentController.type %s is not supported by Berth; only ECS is.", dc.Type)
	}
	var newDef *ecs.TaskDefinition
	now := taskStamp(h.now())
	s, err := h.updateActiveService(ctx, in.Cluster, in.Service, func(s *ecs.Service) error {
		if in.DesiredCount != nil && s.SchedulingStrategy == ecs.SchedulingDaemon {
			return ecs.Errorf(ecs.ErrInvalidParameter, "desiredCount is not valid for a service with the DAEMON scheduling strategy.")
		}
		if in.PlacementStrategy != nil && len(in.PlacementStrategy) > 0 && s.SchedulingStrategy == ecs.SchedulingDaemon {
			return ecs.Errorf(ecs.ErrInvalidParameter, "placementStrategy is not supported with the DAEMON scheduling strategy.")
		}
		nc := in.NetworkConfiguration
		if nc == nil {
			nc = svcNetworkToWire(s.NetworkConfiguration)
		}
		def, err := h.updateServiceTaskDefinition(ctx, s, in.TaskDefinition, nc)
		if err != nil {
			return err
		}
		newDef = &def
		constraints, strategies := s.PlacementConstraints, s.PlacementStrategy
		if in.PlacementConstraints != nil {
			constraints = svcConstraintsFromWire(in.PlacementConstraints)
		}
		if in.PlacementStrategy != nil {
			strategies = svcStrategiesFromWire(in.PlacementStrategy)
		}
		if err := svcValidatePlacement(constraints, strategies, newDef); err != nil {
			return err
		}
		cfg, err := svcDeploymentConfig(s.SchedulingStrategy, in.DeploymentConfiguration, &s.DeploymentConfiguration)
		if err != nil {
			return err
		}
		redeploy := derefBool(in.ForceNewDeployment) || newDef.ARN != s.TaskDefinition ||
			in.NetworkConfiguration != nil && !sameJSON(svcNetworkFromWire(in.NetworkConfiguration), s.NetworkConfiguration) ||
			in.PlacementConstraints != nil && !sameJSON(constraints, s.PlacementConstraints) ||
			in.PlacementStrategy != nil && !sameJSON(strategies, s.PlacementStrategy)
		s.DeploymentConfiguration, s.PlacementConstraints, s.PlacementStrategy = cfg, constraints, strategies
		if in.NetworkConfiguration != nil {
			s.NetworkConfiguration = svcNetworkFromWire(in.NetworkConfiguration)
		}
		if in.DesiredCount != nil {
			s.DesiredCount = int(*in.DesiredCount)
			if p := s.Primary(); p != nil {
				p.DesiredCount, p.UpdatedAt = s.DesiredCount, now
			}
		}
		if in.HealthCheckGracePeriodSeconds != nil {
			s.HealthCheckGracePeriodSeconds = int(*in.HealthCheckGracePeriodSeconds)
		}
		if in.EnableExecuteCommand != nil {
			s.EnableExecuteCommand = *in.EnableExecuteCommand
		}
		if in.EnableECSManagedTags != nil {
			s.EnableECSManagedTags = *in.EnableECSManagedTags
		}
		if in.PropagateTags != "" {
			s.PropagateTags = string(in.PropagateTags)
		}
		if redeploy {
			for i := range s.Deployments {
				if s.Deployments[i].Status == ecs.DeploymentPrimary {
					s.Deployments[i].Status, s.Deployments[i].UpdatedAt = ecs.DeploymentActive, now
				}
			}
			s.TaskDefinition = newDef.ARN
			s.Deployments = append([]ecs.Deployment{newDeployment(s, newDef.ARN, now)}, s.Deployments...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	w, err := h.describeService(ctx, &s, false)
	if err != nil {
		return nil, err
	}
	return &wire.UpdateServiceResponse{Service: &w}, nil
}

// updateServiceTaskDefinition resolves the definition an update runs: the
// one named (which must be ACTIVE), or the service's own (which may have
// been deregistered since: ECS keeps running it).
func (h *Handler) updateServiceTaskDefinition(ctx context.Context, s *ecs.Service, ref string, nc *wire.NetworkConfiguration) (ecs.TaskDefinition, error) {
	if ref != "" {
		return h.serviceTaskDefinition(ctx, ref, s.LaunchType, nc)
	}
	e, err := h.findTaskDefinition(ctx, s.TaskDefinition)
	if err != nil {
		return ecs.TaskDefinition{}, err
	}
	def := e.td
	if _, err := checkTaskNetwork(&def, nc); err != nil {
		return def, err
	}
	return def, nil
}

func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

func (h *Handler) deleteService(ctx context.Context, in *wire.DeleteServiceRequest) (*wire.DeleteServiceResponse, error) {
	now := taskStamp(h.now())
	s, err := h.updateActiveService(ctx, in.Cluster, in.Service, func(s *ecs.Service) error {
		if s.SchedulingStrategy == ecs.SchedulingReplica && s.DesiredCount > 0 && !derefBool(in.Force) {
			return ecs.Errorf(ecs.ErrInvalidParameter, "The service cannot be stopped while it is scaled above 0.")
		}
		s.Status, s.DesiredCount = ecs.ServiceDraining, 0
		for i := range s.Deployments {
			s.Deployments[i].DesiredCount, s.Deployments[i].UpdatedAt = 0, now
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	w, err := h.describeService(ctx, &s, false)
	if err != nil {
		return nil, err
	}
	return &wire.DeleteServiceResponse{Service: &w}, nil
}

func (h *Handler) describeServices(ctx context.Context, in *wire.DescribeServicesRequest) (*wire.DescribeServicesResponse, error) {
	if len(in.Services) == 0 {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "services cannot be empty.")
	}
	if len(in.Services) > maxDescribeServices {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "services can have at most %d items (got %d).", maxDescribeServices, len(in.Services))
	}
	for _, f := range in.Include {
		if f != wire.ServiceFieldTags {
			return nil, ecs.Errorf(ecs.ErrInvalidParameter, "include value %q is not valid. Valid values: TAGS.", f)
		}
	}
	withTags := slices.Contains(in.Include, wire.ServiceFieldTags)
	c, _, err := h.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	tasks, err := state.List[ecs.Task](ctx, h.store, state.TasksPrefix(c.Name), store.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := &wire.DescribeServicesResponse{Services: []wire.Service{}, Failures: []wire.Failure{}}
	seen := map[string]bool{}
	for _, ref := range in.Services {
		name, ok := h.serviceRefName(c.Name, ref)
		if !ok {
			out.Failures = append(out.Failures, wire.Failure{Arn: ref, Reason: ecs.FailureMissing})
			continue
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		s, _, err := state.Get[ecs.Service](ctx, h.store, state.ServiceKey(c.Name, name))
		if errors.Is(err, store.ErrNotFound) {
			out.Failures = append(out.Failures, wire.Failure{Arn: h.namer.Service(c.Name, name), Reason: ecs.FailureMissing})
			continue
		}
		if err != nil {
			return nil, err
		}
		counts := svcCounts{byDep: map[string][2]int{}}
		for i := range tasks {
			if tasks[i].Value.ServiceName == s.Name {
				counts.add(&tasks[i].Value)
			}
		}
		out.Services = append(out.Services, h.serviceToWire(&s, &counts, withTags))
	}
	return out, nil
}

// listServices answers ListServices: the cluster's ACTIVE and DRAINING
// services (INACTIVE ones are describable, not listed, as in ECS).
func (h *Handler) listServices(ctx context.Context, in *wire.ListServicesRequest) (*wire.ListServicesResponse, error) {
	switch in.LaunchType {
	case "", wire.LaunchTypeEc2, wire.LaunchTypeFargate, wire.LaunchTypeExternal, wire.LaunchTypeManagedInstances:
	default:
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "launchType %q is not valid. Valid values: EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES.", in.LaunchType)
	}
	switch in.SchedulingStrategy {
	case "", wire.SchedulingStrategyReplica, wire.SchedulingStrategyDaemon:
	default:
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "schedulingStrategy %q is not valid. Valid values: REPLICA, DAEMON.", in.SchedulingStrategy)
	}
	c, _, err := h.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	prefix := state.ServicesPrefix(c.Name)
	p, err := parsePage(prefix, in.NextToken, in.MaxResults, 10)
	if err != nil {
		return nil, err
	}
	match := func(s *ecs.Service) bool {
		return s.Status != ecs.ServiceInactive &&
			(in.LaunchType == "" || s.LaunchType == string(in.LaunchType)) &&
			(in.SchedulingStrategy == "" || string(s.SchedulingStrategy) == string(in.SchedulingStrategy))
	}
	arns, next, err := listPage(ctx, h.store, prefix, p, 0, match, func(s *ecs.Service) string { return s.ARN })
	if err != nil {
		return nil, err
	}
	return &wire.ListServicesResponse{ServiceArns: arns, NextToken: next}, nil
}

// listServicesByNamespace answers ListServicesByNamespace. Berth has no
// Cloud Map namespaces (and refuses serviceConnectConfiguration), so no
// namespace exists: ECS answers NamespaceNotFoundException for a
// namespace it does not know, and so does Berth, for every namespace.
func (h *Handler) listServicesByNamespace(ctx context.Context, in *wire.ListServicesByNamespaceRequest) (*wire.ListServicesByNamespaceResponse, error) {
	if strings.TrimSpace(in.Namespace) == "" {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "namespace is required.")
	}
	if _, err := parsePage("", "", in.MaxResults, 10); err != nil {
		return nil, err
	}
	return nil, ecs.Errorf(ecs.ErrNamespaceNotFound, "Namespace not found: %s. Berth has no Cloud Map namespaces.", in.Namespace)
}
