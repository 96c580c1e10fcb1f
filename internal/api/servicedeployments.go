package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/berth/berth/internal/api/wire"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/ecs/arn"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

// Service deployments and revisions: ListServiceDeployments,
// DescribeServiceDeployments, DescribeServiceRevisions and
// StopServiceDeployment. They are views of the service's deployments
// (ecs.Deployment): those still on the service record and those the
// controller retired to /service-deployments/<cluster>/<service>/<n>.
// Deployment "ecs-svc/<n>" is service deployment
// arn:…:service-deployment/<cluster>/<service>/<n>; its task definition and
// launch settings are service revision arn:…:service-revision/<cluster>/<service>/<n>.
// Only deployments created since the service was (re)created belong to
// it: ECS deletes a service's deployments with the service.

const (
	arnTypeServiceDeployment     = "service-deployment"
	arnTypeServiceRevision       = "service-revision"
	maxDescribeServiceDeployment = 20
	maxDescribeServiceRevisions  = 20
	defaultListServiceDeployment = 20
	// serviceDeploymentStopsPrefix records, per deployment, a
	// StopServiceDeployment that rolled it back.
	serviceDeploymentStopsPrefix = "/service-deployment-stops/"
)

func serviceDeploymentStopKey(cluster, svc, id string) string {
	return serviceDeploymentStopsPrefix + cluster + "/" + svc + "/" + strings.TrimPrefix(id, ecs.DeploymentIDPrefix)
}

// serviceDeploymentStop is what StopServiceDeployment did to a deployment.
type serviceDeploymentStop struct {
	StopType string    `json:"stopType"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
	// Rollback is the deployment made to roll back; Target the completed
	// deployment whose revision it runs again.
	Rollback string `json:"rollback"`
	Target   string `json:"target"`
}

// rolloutReasonStopped is the rolloutStateReason of a deployment stopped
// with StopServiceDeployment.
func rolloutReasonStopped(id, target string) string {
	return "ECS deployment " + id + " stopped by StopServiceDeployment: rolling back to deployment " + target + "."
}

// serviceDeploymentRef is a parsed service-deployment or service-revision ARN.
type serviceDeploymentRef struct {
	cluster, service, id string // id: "ecs-svc/<n>"
}

// parseServiceDeploymentARN parses an ARN of typ of this region and account.
func (h *Handler) parseServiceDeploymentARN(s, typ string) (serviceDeploymentRef, bool) {
	a, err := arn.Parse(s)
	if err != nil || a.Service != "ecs" || a.Type != typ || a.Region != h.namer.Region || a.Account != h.namer.Account || len(a.Parts) != 3 {
		return serviceDeploymentRef{}, false
	}
	id := ecs.DeploymentIDPrefix + a.Parts[2]
	if a.Parts[0] == "" || validServiceName(a.Parts[1]) != nil || !ecs.ValidDeploymentID(id) {
		return serviceDeploymentRef{}, false
	}
	return serviceDeploymentRef{cluster: a.Parts[0], service: a.Parts[1], id: id}, true
}

func (h *Handler) serviceDeploymentARN(cluster, svc, id string) string {
	return h.ecsARNPrefix() + arnTypeServiceDeployment + "/" + cluster + "/" + svc + "/" + strings.TrimPrefix(id, ecs.DeploymentIDPrefix)
}

func (h *Handler) serviceRevisionARN(cluster, svc, id string) string {
	return h.ecsARNPrefix() + arnTypeServiceRevision + "/" + cluster + "/" + svc + "/" + strings.TrimPrefix(id, ecs.DeploymentIDPrefix)
}

// ecsARNPrefix is "arn:<partition>:ecs:<region>:<account>:".
func (h *Handler) ecsARNPrefix() string { return strings.TrimSuffix(h.namer.Cluster(""), "cluster/") }

// svcDeployments is everything known about one service's deployments.
type svcDeployments struct {
	svc    ecs.Service
	all    []ecs.Deployment // the service's and the retired ones, newest first
	stops  map[string]serviceDeploymentStop
	counts svcCounts
}

// loadSvcDeployments reads a service's deployments, stop records and task
// counts. It returns ErrNotFound when the service is missing or INACTIVE.
func (h *Handler) loadSvcDeployments(ctx context.Context, cluster, name string) (*svcDeployments, error) {
	s, _, err := state.Get[ecs.Service](ctx, h.store, state.ServiceKey(cluster, name))
	if err != nil {
		return nil, err
	}
	if s.Status == ecs.ServiceInactive {
		return nil, store.ErrNotFound
	}
	out := &svcDeployments{svc: s, stops: map[string]serviceDeploymentStop{}, counts: svcCounts{byDep: map[string][2]int{}}}
	seen := map[string]bool{}
	for _, d := range s.Deployments {
		seen[d.ID] = true
		out.all = append(out.all, d)
	}
	hist, err := state.List[ecs.Deployment](ctx, h.store, serviceDeploymentsPrefix+cluster+"/"+name+"/", store.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, r := range hist {
		if !seen[r.Value.ID] && !r.Value.CreatedAt.Before(s.CreatedAt) {
			seen[r.Value.ID] = true
			out.all = append(out.all, r.Value)
		}
	}
	// Newest first. The service's own come first in its order (PRIMARY,
	// then the ACTIVE ones newest first), so that deployments created in
	// the same millisecond keep the order they were made in.
	slices.SortStableFunc(out.all, func(a, b ecs.Deployment) int { return b.CreatedAt.Compare(a.CreatedAt) })
	stops, err := state.List[serviceDeploymentStop](ctx, h.store, serviceDeploymentStopsPrefix+cluster+"/"+name+"/", store.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, r := range stops {
		out.stops[ecs.DeploymentIDPrefix+r.Key[strings.LastIndex(r.Key, "/")+1:]] = r.Value
	}
	tasks, err := state.List[ecs.Task](ctx, h.store, state.TasksPrefix(cluster), store.ListOptions{})
	if err != nil {
		return nil, err
	}
	for i := range tasks {
		if tasks[i].Value.ServiceName == name {
			out.counts.add(&tasks[i].Value)
		}
	}
	return out, nil
}

func (sd *svcDeployments) index(id string) int {
	return slices.IndexFunc(sd.all, func(d ecs.Deployment) bool { return d.ID == id })
}

func (sd *svcDeployments) find(id string) *ecs.Deployment {
	if i := sd.index(id); i >= 0 {
		return &sd.all[i]
	}
	return nil
}

// rollbackOf returns the deployment that rolled d back and when, if any:
// the one StopServiceDeployment made, or for a deployment the circuit
// breaker failed, the next deployment, when it runs again the task
// definition of a deployment completed before d (what the controller's
// rollback does).
func (sd *svcDeployments) rollbackOf(d *ecs.Deployment) (*ecs.Deployment, string, time.Time) {
	if st, ok := sd.stops[d.ID]; ok {
		return sd.find(st.Rollback), st.Reason, st.At
	}
	if d.RolloutState != ecs.RolloutFailed || d.RolloutStateReason != ecs.RolloutReasonCircuitBreaker {
		return nil, "", time.Time{}
	}
	i := sd.index(d.ID)
	if i <= 0 { // newest first: the next deployment is the one before d
		return nil, "", time.Time{}
	}
	next := &sd.all[i-1]
	for _, o := range sd.all[i+1:] {
		if o.RolloutState == ecs.RolloutCompleted && o.TaskDefinition == next.TaskDefinition {
			return next, d.RolloutStateReason, next.CreatedAt
		}
	}
	return nil, "", time.Time{}
}

// status maps a deployment to ECS's service deployment status and reason.
func (sd *svcDeployments) status(d *ecs.Deployment) (wire.ServiceDeploymentStatus, string) {
	if rb, reason, _ := sd.rollbackOf(d); rb != nil || reason != "" {
		switch {
		case rb != nil && rb.RolloutState == ecs.RolloutCompleted:
			return wire.ServiceDeploymentStatusRollbackSuccessful, reason
		case rb != nil && rb.Status == ecs.DeploymentPrimary && rb.RolloutState == ecs.RolloutInProgress && sd.svc.Status == ecs.ServiceActive:
			return wire.ServiceDeploymentStatusRollbackInProgress, reason
		}
		return wire.ServiceDeploymentStatusRollbackFailed, reason
	}
	switch d.RolloutState {
	case ecs.RolloutCompleted:
		return wire.ServiceDeploymentStatusSuccessful, d.RolloutStateReason
	case ecs.RolloutFailed:
		return wire.ServiceDeploymentStatusStopped, d.RolloutStateReason
	}
	if d.Status == ecs.DeploymentPrimary && sd.svc.Status == ecs.ServiceActive {
		return wire.ServiceDeploymentStatusInProgress, d.RolloutStateReason
	}
	if sd.svc.Status != ecs.ServiceActive {
		return wire.ServiceDeploymentStatusStopped, "ECS deployment " + d.ID + " stopped: the service is being deleted."
	}
	return wire.ServiceDeploymentStatusStopped, "ECS deployment " + d.ID + " stopped: a newer deployment replaced it."
}

func terminalDeploymentStatus(s wire.ServiceDeploymentStatus) bool {
	switch s {
	case wire.ServiceDeploymentStatusSuccessful, wire.ServiceDeploymentStatusStopped,
		wire.ServiceDeploymentStatusRollbackSuccessful, wire.ServiceDeploymentStatusRollbackFailed:
		return true
	}
	return false
}

func (h *Handler) serviceDeploymentBrief(sd *svcDeployments, d *ecs.Deployment) wire.ServiceDeploymentBrief {
	st, reason := sd.status(d)
	out := wire.ServiceDeploymentBrief{
		ServiceDeploymentArn: h.serviceDeploymentARN(sd.svc.Cluster, sd.svc.Name, d.ID), ServiceArn: sd.svc.ARN,
		ClusterArn: h.namer.Cluster(sd.svc.Cluster), CreatedAt: wire.NewTime(d.CreatedAt), StartedAt: wire.NewTime(d.CreatedAt),
		TargetServiceRevisionArn: h.serviceRevisionARN(sd.svc.Cluster, sd.svc.Name, d.ID), Status: st, StatusReason: reason,
	}
	if terminalDeploymentStatus(st) {
		out.FinishedAt = wire.NewTime(sd.finishedAt(d))
	}
	return out
}

// finishedAt is when d finished: its rollback's last change for a rolled
// back deployment, its own otherwise.
func (sd *svcDeployments) finishedAt(d *ecs.Deployment) time.Time {
	if rb, _, _ := sd.rollbackOf(d); rb != nil && rb.RolloutState != ecs.RolloutInProgress {
		return rb.UpdatedAt
	}
	return d.UpdatedAt
}

func (h *Handler) revisionSummary(sd *svcDeployments, d *ecs.Deployment) wire.ServiceRevisionSummary {
	n := sd.counts.byDep[d.ID]
	return wire.ServiceRevisionSummary{Arn: h.serviceRevisionARN(sd.svc.Cluster, sd.svc.Name, d.ID),
		RequestedTaskCount: i32(d.DesiredCount), RunningTaskCount: i32(n[0]), PendingTaskCount: i32(n[1])}
}

func (h *Handler) serviceDeploymentToWire(sd *svcDeployments, d *ecs.Deployment) wire.ServiceDeployment {
	st, reason := sd.status(d)
	s := &sd.svc
	target := h.revisionSummary(sd, d)
	out := wire.ServiceDeployment{
		ServiceDeploymentArn: h.serviceDeploymentARN(s.Cluster, s.Name, d.ID), ServiceArn: s.ARN, ClusterArn: h.namer.Cluster(s.Cluster),
		CreatedAt: wire.NewTime(d.CreatedAt), StartedAt: wire.NewTime(d.CreatedAt), UpdatedAt: wire.NewTime(d.UpdatedAt),
		SourceServiceRevisions: []wire.ServiceRevisionSummary{}, TargetServiceRevision: &target,
		Status: st, StatusReason: reason, DeploymentConfiguration: svcDeploymentConfigToWire(&s.DeploymentConfiguration),
		Alarms: &wire.ServiceDeploymentAlarms{Status: wire.ServiceDeploymentRollbackMonitorsStatusDisabled},
	}
	// The sources: deployments created before d that had not left the
	// service when d was created.
	for i := sd.index(d.ID) + 1; i < len(sd.all); i++ {
		o := &sd.all[i]
		if o.Status != ecs.DeploymentInactive || !o.UpdatedAt.Before(d.CreatedAt) {
			out.SourceServiceRevisions = append(out.SourceServiceRevisions, h.revisionSummary(sd, o))
		}
	}
	if terminalDeploymentStatus(st) {
		out.FinishedAt = wire.NewTime(sd.finishedAt(d))
	}
	if rb, why, at := sd.rollbackOf(d); rb != nil || why != "" {
		out.StoppedAt = wire.NewTime(at)
		out.Rollback = &wire.Rollback{Reason: why, StartedAt: wire.NewTime(at)}
		if rb != nil {
			out.Rollback.ServiceRevisionArn = h.serviceRevisionARN(s.Cluster, s.Name, rb.ID)
		}
	} else if st == wire.ServiceDeploymentStatusStopped {
		out.StoppedAt = wire.NewTime(d.UpdatedAt)
	}
	cb := &wire.ServiceDeploymentCircuitBreaker{Status: wire.ServiceDeploymentRollbackMonitorsStatusDisabled}
	if cfg := &s.DeploymentConfiguration; cfg.CircuitBreakerEnabled() {
		cb.FailureCount = i32(d.Failures.CircuitBreaker)
		cb.Threshold = i32(cfg.DeploymentCircuitBreaker.Threshold(d.DesiredCount))
		switch {
		case d.RolloutState == ecs.RolloutFailed && d.RolloutStateReason == ecs.RolloutReasonCircuitBreaker:
			cb.Status = wire.ServiceDeploymentRollbackMonitorsStatusTriggered
		case st == wire.ServiceDeploymentStatusInProgress:
			cb.Status = wire.ServiceDeploymentRollbackMonitorsStatusMonitoring
		default:
			cb.Status = wire.ServiceDeploymentRollbackMonitorsStatusMonitoringComplete
		}
	}
	out.DeploymentCircuitBreaker = cb
	return out
}

var serviceDeploymentStatuses = wire.ServiceDeploymentStatus("").Values()

func (h *Handler) listServiceDeployments(ctx context.Context, in *wire.ListServiceDeploymentsRequest) (*wire.ListServiceDeploymentsResponse, error) {
	if in.Service == "" {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "service is required.")
	}
	for _, st := range in.Status {
		if !slices.Contains(serviceDeploymentStatuses, st) {
			return nil, ecs.Errorf(ecs.ErrInvalidParameter, "status %q is not valid. Valid values: %s.", st, joinStatuses(serviceDeploymentStatuses))
		}
	}
	var after, before time.Time
	if in.CreatedAt != nil {
		after, before = in.CreatedAt.After.Value(), in.CreatedAt.Before.Value()
		if !after.IsZero() && !before.IsZero() && before.Before(after) {
			return nil, ecs.Errorf(ecs.ErrInvalidParameter, "createdAt.before cannot be earlier than createdAt.after.")
		}
	}
	c, _, err := h.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	name, ok := h.serviceRefName(c.Name, in.Service)
	if !ok {
		return nil, errServiceNotFound()
	}
	prefix := serviceDeploymentsPrefix + c.Name + "/" + name + "/"
	p, err := parsePage(prefix, in.NextToken, in.MaxResults, defaultListServiceDeployment)
	if err != nil {
		return nil, err
	}
	sd, err := h.loadSvcDeployments(ctx, c.Name, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errServiceNotFound()
	}
	if err != nil {
		return nil, err
	}
	out := &wire.ListServiceDeploymentsResponse{ServiceDeployments: []wire.ServiceDeploymentBrief{}}
	start := 0
	if p.after != "" { // the token names the last deployment returned
		i := sd.index(ecs.DeploymentIDPrefix + strings.TrimPrefix(p.after, prefix))
		if i < 0 {
			return nil, ecs.Errorf(ecs.ErrInvalidParameter, "The nextToken is invalid or was issued for another request.")
		}
		start = i + 1
	}
	for i := start; i < len(sd.all); i++ { // newest first
		d := &sd.all[i]
		if !after.IsZero() && d.CreatedAt.Before(after) || !before.IsZero() && d.CreatedAt.After(before) {
			continue
		}
		b := h.serviceDeploymentBrief(sd, d)
		if len(in.Status) > 0 && !slices.Contains(in.Status, b.Status) {
			continue
		}
		if len(out.ServiceDeployments) == p.limit {
			last := out.ServiceDeployments[len(out.ServiceDeployments)-1].ServiceDeploymentArn
			out.NextToken = nextToken(prefix + last[strings.LastIndex(last, "/")+1:])
			return out, nil
		}
		out.ServiceDeployments = append(out.ServiceDeployments, b)
	}
	return out, nil
}

func joinStatuses(v []wire.ServiceDeploymentStatus) string {
	s := make([]string, len(v))
	for i := range v {
		s[i] = string(v[i])
	}
	return strings.Join(s, ", ")
}

// describeDeploymentRefs resolves ARNs of typ to deployments, calling
// found for each one known and adding a MISSING failure for the others.
func (h *Handler) describeDeploymentRefs(ctx context.Context, field string, arns []string, limit int, typ string,
	found func(sd *svcDeployments, d *ecs.Deployment)) ([]wire.Failure, error) {
	if len(arns) == 0 {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "%s cannot be empty.", field)
	}
	if len(arns) > limit {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "%s can have at most %d items (got %d).", field, limit, len(arns))
	}
	failures := []wire.Failure{}
	loaded := map[[2]string]*svcDeployments{}
	seen := map[string]bool{}
	for _, a := range arns {
		if seen[a] {
			continue
		}
		seen[a] = true
		ref, ok := h.parseServiceDeploymentARN(a, typ)
		if !ok {
			failures = append(failures, wire.Failure{Arn: a, Reason: ecs.FailureMissing})
			continue
		}
		k := [2]string{ref.cluster, ref.service}
		sd, ok := loaded[k]
		if !ok {
			var err error
			sd, err = h.loadSvcDeployments(ctx, ref.cluster, ref.service)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
			loaded[k] = sd
		}
		var d *ecs.Deployment
		if sd != nil {
			d = sd.find(ref.id)
		}
		if d == nil {
			failures = append(failures, wire.Failure{Arn: a, Reason: ecs.FailureMissing})
			continue
		}
		found(sd, d)
	}
	return failures, nil
}

func (h *Handler) describeServiceDeployments(ctx context.Context, in *wire.DescribeServiceDeploymentsRequest) (*wire.DescribeServiceDeploymentsResponse, error) {
	out := &wire.DescribeServiceDeploymentsResponse{ServiceDeployments: []wire.ServiceDeployment{}}
	fails, err := h.describeDeploymentRefs(ctx, "serviceDeploymentArns", in.ServiceDeploymentArns, maxDescribeServiceDeployment, arnTypeServiceDeployment,
		func(sd *svcDeployments, d *ecs.Deployment) {
			out.ServiceDeployments = append(out.ServiceDeployments, h.serviceDeploymentToWire(sd, d))
		})
	if err != nil {
		return nil, err
	}
	out.Failures = fails
	return out, nil
}

func (h *Handler) describeServiceRevisions(ctx context.Context, in *wire.DescribeServiceRevisionsRequest) (*wire.DescribeServiceRevisionsResponse, error) {
	out := &wire.DescribeServiceRevisionsResponse{ServiceRevisions: []wire.ServiceRevision{}}
	var found []struct {
		sd *svcDeployments
		d  ecs.Deployment
	}
	fails, err := h.describeDeploymentRefs(ctx, "serviceRevisionArns", in.ServiceRevisionArns, maxDescribeServiceRevisions, arnTypeServiceRevision,
		func(sd *svcDeployments, d *ecs.Deployment) {
			found = append(found, struct {
				sd *svcDeployments
				d  ecs.Deployment
			}{sd, *d})
		})
	if err != nil {
		return nil, err
	}
	for _, f := range found {
		rev, err := h.serviceRevisionToWire(ctx, f.sd, &f.d)
		if err != nil {
			return nil, err
		}
		out.ServiceRevisions = append(out.ServiceRevisions, rev)
	}
	out.Failures = fails
	return out, nil
}

// serviceRevisionToWire describes the revision of d: its task definition,
// launch settings and the images of its containers.
func (h *Handler) serviceRevisionToWire(ctx context.Context, sd *svcDeployments, d *ecs.Deployment) (wire.ServiceRevision, error) {
	s := &sd.svc
	launchType := d.LaunchType
	if launchType == "" {
		launchType = s.LaunchType
	}
	out := wire.ServiceRevision{
		ServiceRevisionArn: h.serviceRevisionARN(s.Cluster, s.Name, d.ID), ServiceArn: s.ARN, ClusterArn: h.namer.Cluster(s.Cluster),
		TaskDefinition: d.TaskDefinition, CapacityProviderStrategy: strategyToWire(d.CapacityProviderStrategy),
		LaunchType: wire.LaunchType(launchType), PlatformVersion: d.PlatformVersion,
		NetworkConfiguration: svcNetworkToWire(d.NetworkConfiguration), ContainerImages: []wire.ContainerImage{},
		CreatedAt: wire.NewTime(d.CreatedAt),
	}
	e, err := h.findTaskDefinition(ctx, d.TaskDefinition)
	if err != nil && !errors.Is(err, ecs.ErrClient) && !errors.Is(err, ecs.ErrInvalidParameter) {
		return out, err
	}
	if err == nil {
		for _, c := range e.td.ContainerDefinitions {
			out.ContainerImages = append(out.ContainerImages, wire.ContainerImage{ContainerName: c.Name, Image: c.Image})
		}
	}
	return out, nil
}

// stopServiceDeployment rolls an IN_PROGRESS deployment back: it becomes
// FAILED (and ACTIVE, so that the controller drains it), and a new PRIMARY
// deployment runs the revision of the newest COMPLETED deployment again,
// as UpdateService would.
func (h *Handler) stopServiceDeployment(ctx context.Context, in *wire.StopServiceDeploymentRequest) (*wire.StopServiceDeploymentResponse, error) {
	if in.ServiceDeploymentArn == "" {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "serviceDeploymentArn is required.")
	}
	switch in.StopType {
	case "", wire.StopServiceDeploymentStopTypeRollback:
	case wire.StopServiceDeploymentStopTypeAbort:
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "stopType ABORT is not supported by Berth; only ROLLBACK is.")
	default:
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "stopType %q is not valid. Valid values: ABORT, ROLLBACK.", in.StopType)
	}
	ref, ok := h.parseServiceDeploymentARN(in.ServiceDeploymentArn, arnTypeServiceDeployment)
	if !ok {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "serviceDeploymentArn %q is not a valid service deployment ARN.", in.ServiceDeploymentArn)
	}
	notFound := ecs.Errorf(ecs.ErrServiceDeploymentNotFound, "The service deployment %s does not exist.", in.ServiceDeploymentArn)
	// The retired deployments, to tell "finished" from "unknown" and to
	// find a completed revision that already left the service.
	hist, err := state.List[ecs.Deployment](ctx, h.store, serviceDeploymentsPrefix+ref.cluster+"/"+ref.service+"/", store.ListOptions{})
	if err != nil {
		return nil, err
	}
	now := taskStamp(h.now())
	_, err = state.Update(ctx, h.store, state.ServiceKey(ref.cluster, ref.service), func(s *ecs.Service, exists bool) ([]store.Op, error) {
		if !exists || s.Status == ecs.ServiceInactive {
			return nil, notFound
		}
		retired := make([]ecs.Deployment, 0, len(hist))
		for _, r := range hist {
			if !r.Value.CreatedAt.Before(s.CreatedAt) {
				retired = append(retired, r.Value)
			}
		}
		i := slices.IndexFunc(s.Deployments, func(d ecs.Deployment) bool { return d.ID == ref.id })
		if i < 0 {
			if slices.ContainsFunc(retired, func(d ecs.Deployment) bool { return d.ID == ref.id }) {
				return nil, ecs.Errorf(ecs.ErrConflict, "The service deployment %s has already finished and cannot be stopped.", in.ServiceDeploymentArn)
			}
			return nil, notFound
		}
		p := &s.Deployments[i]
		if s.Status != ecs.ServiceActive || p.Status != ecs.DeploymentPrimary || p.RolloutState != ecs.RolloutInProgress {
			return nil, ecs.Errorf(ecs.ErrConflict, "The service deployment %s is not in progress and cannot be stopped.", in.ServiceDeploymentArn)
		}
		var target *ecs.Deployment
		for _, cands := range [][]ecs.Deployment{s.Deployments, retired} {
			for j := range cands {
				d := &cands[j]
				if d.ID != p.ID && d.RolloutState == ecs.RolloutCompleted && (target == nil || d.CreatedAt.After(target.CreatedAt)) {
					target = d
				}
			}
			if target != nil {
				break
			}
		}
		if target == nil {
			return nil, ecs.Errorf(ecs.ErrConflict, "The service deployment %s cannot be rolled back: the service has no previous successful service revision.", in.ServiceDeploymentArn)
		}
		tgt := *target
		_, crev, err := h.activeCluster(ctx, ref.cluster)
		if err != nil {
			return nil, err
		}
		reason := rolloutReasonStopped(p.ID, tgt.ID)
		p.Status, p.RolloutState, p.RolloutStateReason, p.UpdatedAt = ecs.DeploymentActive, ecs.RolloutFailed, reason, now
		s.TaskDefinition, s.NetworkConfiguration = tgt.TaskDefinition, tgt.NetworkConfiguration
		nd := newDeployment(s, tgt.TaskDefinition, now)
		nd.LaunchType, nd.CapacityProviderStrategy, nd.PlatformVersion = tgt.LaunchType, tgt.CapacityProviderStrategy, tgt.PlatformVersion
		nd.NetworkConfiguration = tgt.NetworkConfiguration
		s.Deployments = append([]ecs.Deployment{nd}, s.Deployments...)
		s.Events = ecs.AddServiceEvents(s.Events, ecs.ServiceEvent{ID: taskUUID(), CreatedAt: now,
			Message: fmt.Sprintf("(service %s) (deployment %s) deployment stopped: rolling back to deployment %s.", s.Name, p.ID, tgt.ID)})
		s.Version++
		rec, err := state.PutOp(serviceDeploymentStopKey(ref.cluster, ref.service, p.ID), serviceDeploymentStop{
			StopType: string(wire.StopServiceDeploymentStopTypeRollback), Reason: reason, At: now, Rollback: nd.ID, Target: tgt.ID,
		}, store.ExpectAny)
		if err != nil {
			return nil, err
		}
		return []store.Op{rec, store.Check(state.ClusterKey(ref.cluster), crev)}, nil
	})
	if err != nil {
		return nil, err
	}
	return &wire.StopServiceDeploymentResponse{ServiceDeploymentArn: in.ServiceDeploymentArn}, nil
}
