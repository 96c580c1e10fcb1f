package api

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/berth/berth/internal/api/wire"
	"github.com/berth/berth/internal/clusterview"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/ecs/arn"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

// The agent's reports on its tasks: SubmitTaskStateChange,
// SubmitContainerStateChange and SubmitAttachmentStateChanges. Only the
// credential that registered a task's container instance may report on
// the task. The rules (forward-only, stop codes, ...) are
// ecs.ApplyTaskReport's; a report that changes nothing (a retry, a late
// or backwards one) is answered with success, as the agent retries a
// failed report for a day.

// reportAck is the acknowledgment every accepted report gets.
const reportAck = "true"

// reportMaxReason caps the reasons an agent reports (longer ones are cut,
// not refused: a refused report would be retried for a day).
const reportMaxReason = 1024

func reportReason(s string) string {
	if utf8.RuneCountInString(s) <= reportMaxReason {
		return s
	}
	return string([]rune(s)[:reportMaxReason])
}

// reportTaskID resolves the task a report names (an id or an ARN) in cluster.
func (h *Handler) reportTaskID(cluster, ref string) (string, error) {
	if ref == "" {
		return "", ecs.Errorf(ecs.ErrInvalidParameter, "task is required.")
	}
	if !arn.IsARN(ref) {
		if strings.ContainsAny(ref, "/:") {
			return "", ecs.Errorf(ecs.ErrInvalidParameter, "task %q is not a task id or ARN.", ref)
		}
		return ref, nil
	}
	a, err := arn.Parse(ref)
	if err != nil || a.Service != "ecs" || a.Type != arn.TypeTask || len(a.Parts) > 2 {
		return "", ecs.Errorf(ecs.ErrInvalidParameter, "task %q is not a task id or ARN.", ref)
	}
	if !h.ownARN(ref) || (len(a.Parts) == 2 && a.Parts[0] != cluster) {
		return "", ecs.Errorf(ecs.ErrInvalidParameter, "The referenced task %s was not found in cluster %s.", ref, cluster)
	}
	return a.Parts[len(a.Parts)-1], nil
}

// reportCheckOwner refuses a report on t from anyone but the credential
// that registered t's container instance.
func (h *Handler) reportCheckOwner(ctx context.Context, cluster string, t *ecs.Task) error {
	p, _ := PrincipalFrom(ctx)
	if t.ContainerInstanceID == "" {
		return ecs.Errorf(ecs.ErrAccessDenied, "Task %s is not placed on a container instance; only the agent of its instance may report on it.", t.ARN)
	}
	owner, instARN, err := h.instanceOwner(ctx, cluster, t.ContainerInstanceID)
	if errors.Is(err, store.ErrNotFound) {
		return ecs.Errorf(ecs.ErrAccessDenied, "Task %s runs on container instance %s, which is no longer registered; nobody may report on it.", t.ARN, t.ContainerInstanceID)
	}
	if err != nil {
		return err
	}
	if owner != p.Name {
		return ecs.Errorf(ecs.ErrAccessDenied, "Credential %q may not report on task %s: it runs on container instance %s, which another credential registered.", p.Name, t.ARN, instARN)
	}
	return nil
}

// instanceOwner returns the credential that registered an instance, and
// its ARN. An instance id names one registration, whose owner never
// changes, so the cluster view answers as well as the store, without
// decoding the record (the store answers what the view does not hold).
func (h *Handler) instanceOwner(ctx context.Context, cluster, id string) (owner, instARN string, err error) {
	found := false
	if h.view != nil {
		_ = h.view.Read(ctx, cluster, 0, func(c *clusterview.Cluster) {
			if in := c.Instance(id); in != nil {
				owner, instARN, found = in.Record.Owner, in.Record.ARN, true
			}
		})
	}
	if found {
		return owner, instARN, nil
	}
	inst, _, err := state.Get[ecs.ContainerInstance](ctx, h.store, state.InstanceKey(cluster, id))
	return inst.Owner, inst.ARN, err
}

// reportApply applies a report to the task taskRef names, in one
// compare-and-swap that also checks the cluster record.
func (h *Handler) reportApply(ctx context.Context, clusterRef, taskRef string, apply func(t *ecs.Task) (bool, error)) error {
	cl, _, err := h.activeCluster(ctx, clusterRef)
	if err != nil {
		return err
	}
	name := cl.Name
	id, err := h.reportTaskID(name, taskRef)
	if err != nil {
		return err
	}
	_, err = state.Update(ctx, h.store, state.TaskKey(name, id), func(t *ecs.Task, exists bool) ([]store.Op, error) {
		_, crev, err := h.activeCluster(ctx, name)
		if err != nil {
			return nil, err
		}
		if !exists {
			return nil, ecs.Errorf(ecs.ErrInvalidParameter, "The referenced task %s was not found in cluster %s.", taskRef, name)
		}
		if err := h.reportCheckOwner(ctx, name, t); err != nil {
			return nil, err
		}
		changed, err := apply(t)
		if err != nil {
			return nil, err
		}
		if !changed {
			return nil, errUnchanged
		}
		return []store.Op{store.Check(state.ClusterKey(name), crev)}, nil
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}

// reportBindings converts reported network bindings (nil: not given).
func reportBindings(in []wire.NetworkBinding) []ecs.NetworkBinding {
	if in == nil {
		return nil
	}
	out := make([]ecs.NetworkBinding, 0, len(in))
	for _, b := range in {
		nb := ecs.NetworkBinding{BindIP: b.BindIP, ContainerPort: derefI32(b.ContainerPort), HostPort: derefI32(b.HostPort), Protocol: string(b.Protocol)}
		if nb.Protocol == "" {
			nb.Protocol = "tcp"
		}
		out = append(out, nb)
	}
	return out
}

func reportExitCode(p *int32) *int {
	if p == nil {
		return nil
	}
	v := int(*p)
	return &v
}

// reportAttachmentID is the attachment id an attachmentArn names (its last
// path part; a bare id is accepted too).
func reportAttachmentID(ref string) string {
	if i := strings.LastIndexByte(ref, '/'); i >= 0 {
		return ref[i+1:]
	}
	return ref
}

func (h *Handler) submitTaskStateChange(ctx context.Context, in *wire.SubmitTaskStateChangeRequest) (*wire.SubmitTaskStateChangeResponse, error) {
	r := ecs.TaskReport{Reason: reportReason(in.Reason), PullStartedAt: in.PullStartedAt.Value(),
		PullStoppedAt: in.PullStoppedAt.Value(), ExecutionStoppedAt: in.ExecutionStoppedAt.Value()}
	if in.Status != "" {
		s, ok := ecs.ParseTaskStatus(in.Status)
		if !ok || !ecs.ReportableTaskStatus(s) {
			return nil, ecs.Errorf(ecs.ErrInvalidParameter, "status %q is not valid; valid values: PENDING, RUNNING, STOPPED.", in.Status)
		}
		r.Status = s
	}
	for _, c := range in.Containers {
		r.Containers = append(r.Containers, ecs.ContainerReport{Name: c.ContainerName, Status: c.Status, RuntimeID: c.RuntimeId,
			ExitCode: reportExitCode(c.ExitCode), Reason: reportReason(c.Reason), NetworkBindings: reportBindings(c.NetworkBindings),
			ImageDigest: c.ImageDigest})
	}
	for _, a := range in.Attachments {
		r.Attachments = append(r.Attachments, ecs.AttachmentReport{ID: reportAttachmentID(a.AttachmentArn), Status: a.Status})
	}
	if err := ecs.ValidateTaskReport(r); err != nil {
		return nil, err
	}
	err := h.reportApply(ctx, in.Cluster, in.Task, func(t *ecs.Task) (bool, error) { return ecs.ApplyTaskReport(t, r, h.now()) })
	if err != nil {
		return nil, err
	}
	return &wire.SubmitTaskStateChangeResponse{Acknowledgment: reportAck}, nil
}

func (h *Handler) submitContainerStateChange(ctx context.Context, in *wire.SubmitContainerStateChangeRequest) (*wire.SubmitContainerStateChangeResponse, error) {
	if in.ContainerName == "" {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "containerName is required.")
	}
	if in.Status != "" && in.Status != ecs.ContainerPending && in.Status != ecs.ContainerRunning && in.Status != ecs.ContainerStopped {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "status %q is not valid; valid values: PENDING, RUNNING, STOPPED.", in.Status)
	}
	r := ecs.TaskReport{Containers: []ecs.ContainerReport{{Name: in.ContainerName, Status: in.Status, RuntimeID: in.RuntimeId,
		ExitCode: reportExitCode(in.ExitCode), Reason: reportReason(in.Reason), NetworkBindings: reportBindings(in.NetworkBindings)}}}
	err := h.reportApply(ctx, in.Cluster, in.Task, func(t *ecs.Task) (bool, error) {
		if !reportHasContainer(t, in.ContainerName) {
			return false, ecs.Errorf(ecs.ErrInvalidParameter, "containerName %q is not a container of task %s.", in.ContainerName, t.ARN)
		}
		return ecs.ApplyTaskReport(t, r, h.now())
	})
	if err != nil {
		return nil, err
	}
	return &wire.SubmitContainerStateChangeResponse{Acknowledgment: reportAck}, nil
}

func reportHasContainer(t *ecs.Task, name string) bool {
	for _, c := range t.Containers {
		if c.Name == name {
			return true
		}
	}
	return false
}

func (h *Handler) submitAttachmentStateChanges(ctx context.Context, in *wire.SubmitAttachmentStateChangesRequest) (*wire.SubmitAttachmentStateChangesResponse, error) {
	if len(in.Attachments) == 0 {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "attachments is required.")
	}
	reports := make([]ecs.AttachmentReport, len(in.Attachments))
	for i, a := range in.Attachments {
		reports[i] = ecs.AttachmentReport{ID: reportAttachmentID(a.AttachmentArn), Status: a.Status}
	}
	if err := ecs.ValidateTaskReport(ecs.TaskReport{Attachments: reports}); err != nil {
		return nil, err
	}
	name, err := h.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	err = state.Retry(ctx, func() error {
		_, crev, err := h.activeCluster(ctx, name)
		if err != nil {
			return err
		}
		recs, err := state.List[ecs.Task](ctx, h.store, state.TasksPrefix(name), store.ListOptions{})
		if err != nil {
			return err
		}
		changed := map[int]bool{}
		var order []int
		for i, a := range reports {
			ti, ai := -1, -1
			for j := range recs {
				for k, att := range recs[j].Value.Attachments {
					if att.ID == a.ID {
						ti, ai = j, k
					}
				}
			}
			if ti < 0 {
				return ecs.Errorf(ecs.ErrInvalidParameter, "attachments[%d].attachmentArn %s: no task of cluster %s has this attachment.", i, in.Attachments[i].AttachmentArn, name)
			}
			t := &recs[ti].Value
			if err := h.reportCheckOwner(ctx, name, t); err != nil {
				return err
			}
			if ecs.ApplyAttachmentStatus(&t.Attachments[ai], a.Status) && !changed[ti] {
				changed[ti] = true
				order = append(order, ti)
			}
		}
		if len(order) == 0 {
			return nil
		}
		ops := make([]store.Op, 0, len(order)+1)
		for _, ti := range order {
			recs[ti].Value.Version++
			op, err := state.PutOp(recs[ti].Key, recs[ti].Value, recs[ti].ModRevision)
			if err != nil {
				return err
			}
			ops = append(ops, op)
		}
		_, err = h.store.Txn(ctx, append(ops, store.Check(state.ClusterKey(name), crev))...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &wire.SubmitAttachmentStateChangesResponse{Acknowledgment: reportAck}, nil
}
