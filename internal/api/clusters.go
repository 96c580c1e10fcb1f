package api

import (
	"context"
	"errors"
	"slices"
	"strconv"

	"github.com/berth/berth/internal/api/wire"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/ecs/arn"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

// clusterName resolves the cluster a request names (a name, an ARN, or
// nothing for "default").
func (h *Handler) clusterName(ref string) (string, error) {
	if ref == "" {
		return ecs.DefaultClusterName, nil
	}
	name, ok := arn.ClusterName(ref)
	if !ok {
		return "", ecs.Errorf(ecs.ErrInvalidParameter, "cluster %q is not a valid cluster name or ARN.", ref)
	}
	if !h.ownARN(ref) {
		return "", ecs.Errorf(ecs.ErrClusterNotFound, "Cluster not found.")
	}
	return name, nil
}

// activeCluster loads a cluster that exists and is ACTIVE. Nearly every
// request reads its cluster, which rarely changes: the decoded record is
// kept per revision (h.clusters), and callers must not change the slices
// and maps of the cluster they get.
func (h *Handler) activeCluster(ctx context.Context, ref string) (ecs.Cluster, int64, error) {
	name, err := h.clusterName(ref)
	if err != nil {
		return ecs.Cluster{}, 0, err
	}
	kv, err := h.store.Get(ctx, state.ClusterKey(name))
	if errors.Is(err, store.ErrNotFound) {
		return ecs.Cluster{}, 0, ecs.Errorf(ecs.ErrClusterNotFound, "Cluster not found.")
	}
	if err != nil {
		return ecs.Cluster{}, 0, err
	}
	c, rev, err := h.clusters.decode(kv)
	if err != nil {
		return c, 0, err
	}
	if c.Status != ecs.ClusterActive {
		return c, 0, ecs.Errorf(ecs.ErrClusterNotFound, "The referenced cluster was inactive.")
	}
	return c, rev, nil
}

// updateActiveCluster applies fn to an ACTIVE cluster with compare-and-swap.
func (h *Handler) updateActiveCluster(ctx context.Context, ref string, fn func(c *ecs.Cluster) error) (ecs.Cluster, error) {
	name, err := h.clusterName(ref)
	if err != nil {
		return ecs.Cluster{}, err
	}
	return state.Update(ctx, h.store, state.ClusterKey(name), func(c *ecs.Cluster, exists bool) ([]store.Op, error) {
		if !exists {
			return nil, ecs.Errorf(ecs.ErrClusterNotFound, "Cluster not found.")
		}
		if c.Status != ecs.ClusterActive {
			return nil, ecs.Errorf(ecs.ErrClusterNotFound, "The referenced cluster was inactive.")
		}
		return nil, fn(c)
	})
}

func (h *Handler) createCluster(ctx context.Context, in *wire.CreateClusterRequest) (*wire.CreateClusterResponse, error) {
	name := in.ClusterName
	if name == "" {
		name = ecs.DefaultClusterName
	}
	if err := ecs.ValidateClusterName(name); err != nil {
		return nil, err
	}
	settings := clusterSettingsFromWire(in.Settings)
	if err := ecs.ValidateClusterSettings(settings); err != nil {
		return nil, err
	}
	tags := tagsFromWire(in.Tags)
	if err := ecs.ValidateTags(tags); err != nil {
		return nil, err
	}
	strategy, err := h.capacityProviderStrategy(ctx, in.CapacityProviders, in.DefaultCapacityProviderStrategy)
	if err != nil {
		return nil, err
	}
	now := h.now()
	c, err := state.Update(ctx, h.store, state.ClusterKey(name), func(c *ecs.Cluster, exists bool) ([]store.Op, error) {
		if exists && c.Status == ecs.ClusterActive {
			return nil, errUnchanged // CreateCluster is idempotent by name.
		}
		*c = ecs.Cluster{
			Name:                            name,
			ARN:                             h.namer.Cluster(name),
			Status:                          ecs.ClusterActive,
			Settings:                        settings,
			Configuration:                   clusterConfigFromWire(in.Configuration),
			CapacityProviders:               in.CapacityProviders,
			DefaultCapacityProviderStrategy: strategy,
			Tags:                            tags,
			CreatedAt:                       now,
		}
		if in.ServiceConnectDefaults != nil {
			c.ServiceConnectNamespace = in.ServiceConnectDefaults.Namespace
		}
		if len(c.Settings) == 0 {
			c.Settings = []ecs.ClusterSetting{{Name: "containerInsights", Value: "disabled"}}
		}
		return nil, nil
	})
	if errors.Is(err, errUnchanged) {
		c, _, err = h.activeCluster(ctx, name)
	}
	if err != nil {
		return nil, err
	}
	out, err := h.clusterToWire(ctx, c, allClusterFields)
	return &wire.CreateClusterResponse{Cluster: out}, err
}

// errUnchanged aborts a state.Update that has nothing to write.
var errUnchanged = errors.New("unchanged")

func (h *Handler) deleteCluster(ctx context.Context, in *wire.DeleteClusterRequest) (*wire.DeleteClusterResponse, error) {
	if in.Cluster == "" {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "cluster is required.")
	}
	name, err := h.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	c, err := state.Update(ctx, h.store, state.ClusterKey(name), func(c *ecs.Cluster, exists bool) ([]store.Op, error) {
		if !exists || c.Status != ecs.ClusterActive {
			return nil, ecs.Errorf(ecs.ErrClusterNotFound, "Cluster not found.")
		}
		membersRev, err := state.MembersRevision(ctx, h.store, name)
		if err != nil {
			return nil, err
		}
		counts, err := state.CountCluster(ctx, h.store, name)
		switch {
		case err != nil:
			return nil, err
		case counts.InstancesInUse > 0:
			return nil, ecs.Errorf(ecs.ErrClusterContainsInstances, "The Cluster cannot be deleted while Container Instances are active or draining.")
		case counts.ServicesInUse > 0:
			return nil, ecs.Errorf(ecs.ErrClusterContainsServices, "The Cluster cannot be deleted while Services are active.")
		case counts.TasksInUse > 0:
			return nil, ecs.Errorf(ecs.ErrClusterContainsTasks, "The Cluster cannot be deleted while Tasks are active.")
		}
		c.Status = ecs.ClusterInactive
		return []store.Op{store.Check(state.ClusterMembersKey(name), membersRev)}, nil
	})
	if err != nil {
		return nil, err
	}
	out, err := h.clusterToWire(ctx, c, nil)
	return &wire.DeleteClusterResponse{Cluster: out}, err
}

var allClusterFields = []wire.ClusterField{wire.ClusterFieldSettings, wire.ClusterFieldConfigurations}

func (h *Handler) describeClusters(ctx context.Context, in *wire.DescribeClustersRequest) (*wire.DescribeClustersResponse, error) {
	refs := in.Clusters
	if len(refs) == 0 {
		refs = []string{ecs.DefaultClusterName}
	}
	if len(refs) > 100 {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "clusters can have at most 100 items.")
	}
	for _, f := range in.Include {
		if !slices.Contains([]wire.ClusterField{wire.ClusterFieldAttachments, wire.ClusterFieldConfigurations,
			wire.ClusterFieldSettings, wire.ClusterFieldStatistics, wire.ClusterFieldTags}, f) {
			return nil, ecs.Errorf(ecs.ErrInvalidParameter, "include value %q is not valid. Valid values: ATTACHMENTS, CONFIGURATIONS, SETTINGS, STATISTICS, TAGS.", f)
		}
	}
	out := &wire.DescribeClustersResponse{Clusters: []wire.Cluster{}, Failures: []wire.Failure{}}
	for _, ref := range refs {
		name, err := h.clusterName(ref)
		if err != nil {
			out.Failures = append(out.Failures, wire.Failure{Arn: ref, Reason: "MISSING"})
			continue
		}
		c, _, err := state.Get[ecs.Cluster](ctx, h.store, state.ClusterKey(name))
		if errors.Is(err, store.ErrNotFound) {
			out.Failures = append(out.Failures, wire.Failure{Arn: h.namer.Cluster(name), Reason: "MISSING"})
			continue
		}
		if err != nil {
			return nil, err
		}
		wc, err := h.clusterToWire(ctx, c, in.Include)
		if err != nil {
			return nil, err
		}
		out.Clusters = append(out.Clusters, *wc)
	}
	return out, nil
}

func (h *Handler) listClusters(ctx context.Context, in *wire.ListClustersRequest) (*wire.ListClustersResponse, error) {
	prefix := state.ClustersPrefix()
	p, err := parsePage(prefix, in.NextToken, in.MaxResults, defaultMaxResults)
	if err != nil {
		return nil, err
	}
	// INACTIVE clusters are skipped.
	arns, next, err := listPage(ctx, h.store, prefix, p, 0,
		func(c *ecs.Cluster) bool { return c.Status == ecs.ClusterActive },
		func(c *ecs.Cluster) string { return c.ARN })
	if err != nil {
		return nil, err
	}
	return &wire.ListClustersResponse{ClusterArns: arns, NextToken: next}, nil
}

func (h *Handler) updateCluster(ctx context.Context, in *wire.UpdateClusterRequest) (*wire.UpdateClusterResponse, error) {
	if in.Cluster == "" {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "cluster is required.")
	}
	settings := clusterSettingsFromWire(in.Settings)
	if err := ecs.ValidateClusterSettings(settings); err != nil {
		return nil, err
	}
	c, err := h.updateActiveCluster(ctx, in.Cluster, func(c *ecs.Cluster) error {
		c.Settings = ecs.MergeClusterSettings(c.Settings, settings)
		if in.Configuration != nil {
			c.Configuration = clusterConfigFromWire(in.Configuration)
		}
		if in.ServiceConnectDefaults != nil {
			c.ServiceConnectNamespace = in.ServiceConnectDefaults.Namespace
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out, err := h.clusterToWire(ctx, c, allClusterFields)
	return &wire.UpdateClusterResponse{Cluster: out}, err
}

func (h *Handler) updateClusterSettings(ctx context.Context, in *wire.UpdateClusterSettingsRequest) (*wire.UpdateClusterSettingsResponse, error) {
	if in.Cluster == "" {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "cluster is required.")
	}
	if len(in.Settings) == 0 {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "settings is required.")
	}
	settings := clusterSettingsFromWire(in.Settings)
	if err := ecs.ValidateClusterSettings(settings); err != nil {
		return nil, err
	}
	c, err := h.updateActiveCluster(ctx, in.Cluster, func(c *ecs.Cluster) error {
		c.Settings = ecs.MergeClusterSettings(c.Settings, settings)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out, err := h.clusterToWire(ctx, c, []wire.ClusterField{wire.ClusterFieldSettings})
	return &wire.UpdateClusterSettingsResponse{Cluster: out}, err
}

func (h *Handler) putClusterCapacityProviders(ctx context.Context, in *wire.PutClusterCapacityProvidersRequest) (*wire.PutClusterCapacityProvidersResponse, error) {
	if in.Cluster == "" {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "cluster is required.")
	}
	if in.CapacityProviders == nil {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "capacityProviders is required (it may be an empty list).")
	}
	if in.DefaultCapacityProviderStrategy == nil {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "defaultCapacityProviderStrategy is required (it may be an empty list).")
	}
	strategy, err := h.capacityProviderStrategy(ctx, in.CapacityProviders, in.DefaultCapacityProviderStrategy)
	if err != nil {
		return nil, err
	}
	c, err := h.updateActiveCluster(ctx, in.Cluster, func(c *ecs.Cluster) error {
		c.CapacityProviders = slices.Clone(in.CapacityProviders)
		c.DefaultCapacityProviderStrategy = strategy
		return nil
	})
	if err != nil {
		return nil, err
	}
	out, err := h.clusterToWire(ctx, c, allClusterFields)
	return &wire.PutClusterCapacityProvidersResponse{Cluster: out}, err
}

// capacityProviderStrategy checks that every provider exists and that the
// strategy only uses those providers, and returns the strategy.
func (h *Handler) capacityProviderStrategy(ctx context.Context, providers []string, in []wire.CapacityProviderStrategyItem) ([]ecs.CapacityProviderStrategyItem, error) {
	known, err := h.capacityProviderNames(ctx)
	if err != nil {
		return nil, err
	}
	for _, cp := range providers {
		if !slices.Contains(known, cp) {
			return nil, ecs.Errorf(ecs.ErrInvalidParameter, "The specified capacity provider %s does not exist. Specify a valid capacity provider and try again.", cp)
		}
	}
	strategy := strategyFromWire(in)
	if err := ecs.ValidateCapacityProviderStrategy(strategy, providers); err != nil {
		return nil, err
	}
	return strategy, nil
}

// capacityProviderNames lists the capacity providers a cluster may use.
// Berth has the built-in FARGATE and FARGATE_SPOT; providers created with
// CreateCapacityProvider join them when that API exists.
func (h *Handler) capacityProviderNames(context.Context) ([]string, error) {
	return []string{ecs.CapacityProviderFargate, ecs.CapacityProviderFargateSpot}, nil
}

// clusterToWire renders a cluster with the optional parts include asks for.
func (h *Handler) clusterToWire(ctx context.Context, c ecs.Cluster, include []wire.ClusterField) (*wire.Cluster, error) {
	w := &wire.Cluster{
		ClusterArn:                      c.ARN,
		ClusterName:                     c.Name,
		Status:                          string(c.Status),
		CapacityProviders:               nonNil(c.CapacityProviders),
		DefaultCapacityProviderStrategy: strategyToWire(c.DefaultCapacityProviderStrategy),
		// ECS always answers these two lists, empty unless include asks.
		Statistics: []wire.KeyValuePair{},
		Tags:       []wire.Tag{},
	}
	if c.ServiceConnectNamespace != "" {
		w.ServiceConnectDefaults = &wire.ClusterServiceConnectDefaults{Namespace: c.ServiceConnectNamespace}
	}
	counts, err := state.CountCluster(ctx, h.store, c.Name)
	if err != nil {
		return nil, err
	}
	w.RegisteredContainerInstancesCount = i32(counts.RegisteredInstances)
	w.RunningTasksCount = i32(state.Total(counts.RunningTasks))
	w.PendingTasksCount = i32(state.Total(counts.PendingTasks))
	w.ActiveServicesCount = i32(state.Total(counts.ActiveServices))
	for _, f := range include {
		switch f {
		case wire.ClusterFieldSettings:
			for _, s := range c.Settings {
				w.Settings = append(w.Settings, wire.ClusterSetting{Name: wire.ClusterSettingName(s.Name), Value: s.Value})
			}
		case wire.ClusterFieldConfigurations:
			w.Configuration = clusterConfigToWire(c.Configuration)
		case wire.ClusterFieldTags:
			w.Tags = tagsToWire(c.Tags)
		case wire.ClusterFieldAttachments:
			w.Attachments = []wire.Attachment{}
		case wire.ClusterFieldStatistics:
			w.Statistics = clusterStatistics(counts)
		}
	}
	return w, nil
}

func clusterStatistics(c state.ClusterCounts) []wire.KeyValuePair {
	kv := func(name string, n int) wire.KeyValuePair {
		return wire.KeyValuePair{Name: name, Value: strconv.Itoa(n)}
	}
	return []wire.KeyValuePair{
		kv("runningEC2TasksCount", c.RunningTasks["EC2"]),
		kv("runningFargateTasksCount", c.RunningTasks["FARGATE"]),
		kv("runningExternalTasksCount", c.RunningTasks["EXTERNAL"]),
		kv("pendingEC2TasksCount", c.PendingTasks["EC2"]),
		kv("pendingFargateTasksCount", c.PendingTasks["FARGATE"]),
		kv("pendingExternalTasksCount", c.PendingTasks["EXTERNAL"]),
		kv("activeEC2ServiceCount", c.ActiveServices["EC2"]),
		kv("activeFargateServiceCount", c.ActiveServices["FARGATE"]),
		kv("activeExternalServiceCount", c.ActiveServices["EXTERNAL"]),
		kv("drainingEC2ServiceCount", c.DrainingServices["EC2"]),
		kv("drainingFargateServiceCount", c.DrainingServices["FARGATE"]),
		kv("drainingExternalServiceCount", c.DrainingServices["EXTERNAL"]),
	}
}
