package acs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/berth/berth/internal/clusterview"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/ecs/arn"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

// Reasons a record update is abandoned.
var (
	errGone       = errors.New("acs: record no longer exists")
	errInactive   = errors.New("acs: container instance is inactive")
	errNotOwner   = errors.New("acs: caller does not own the container instance")
	errNotHere    = errors.New("acs: task is not on this container instance")
	errUnchanged  = errors.New("acs: nothing to change")
	errNotYetOurs = errors.New("acs: another session holds the instance")
)

// updateInstance changes an instance record with compare-and-swap, in a
// transaction that also checks the cluster record's revision (so a
// concurrent DeleteCluster cannot miss the write). fn returning an error
// abandons the update.
func (h *Handler) updateInstance(ctx context.Context, k instKey, fn func(*ecs.ContainerInstance) error) (ecs.ContainerInstance, error) {
	return state.Update(ctx, h.store, state.InstanceKey(k.cluster, k.id), func(inst *ecs.ContainerInstance, exists bool) ([]store.Op, error) {
		if !exists {
			return nil, errGone
		}
		check, err := h.clusterCheck(ctx, k.cluster)
		if err != nil {
			return nil, err
		}
		if err := fn(inst); err != nil {
			return nil, err
		}
		return []store.Op{check}, nil
	})
}

// updateTask is updateInstance for a task record.
func (h *Handler) updateTask(ctx context.Context, cluster, id string, fn func(*ecs.Task) error) (ecs.Task, error) {
	return state.Update(ctx, h.store, state.TaskKey(cluster, id), func(t *ecs.Task, exists bool) ([]store.Op, error) {
		if !exists {
			return nil, errGone
		}
		check, err := h.clusterCheck(ctx, cluster)
		if err != nil {
			return nil, err
		}
		if err := fn(t); err != nil {
			return nil, err
		}
		return []store.Op{check}, nil
	})
}

// clusterCheck returns the op that asserts the cluster record is unchanged.
func (h *Handler) clusterCheck(ctx context.Context, cluster string) (store.Op, error) {
	kv, err := h.store.Get(ctx, state.ClusterKey(cluster))
	if errors.Is(err, store.ErrNotFound) {
		return store.Op{}, errGone
	}
	if err != nil {
		return store.Op{}, err
	}
	return store.Check(state.ClusterKey(cluster), kv.ModRevision), nil
}

// markConnected records that the agent's ACS channel opened at now.
func (h *Handler) markConnected(ctx context.Context, k instKey, adm *admission, now time.Time) (ecs.ContainerInstance, error) {
	return h.updateInstance(ctx, k, func(inst *ecs.ContainerInstance) error {
		if inst.Owner != adm.principal.Name {
			return errNotOwner
		}
		if inst.Status == ecs.InstanceInactive {
			return errInactive
		}
		inst.AgentConnected = true
		inst.AgentSeenAt = now
		v := adm.version
		if v.AgentVersion != "" {
			inst.VersionInfo.AgentVersion = v.AgentVersion
		}
		if v.AgentHash != "" {
			inst.VersionInfo.AgentHash = v.AgentHash
		}
		if v.DockerVersion != "" {
			inst.VersionInfo.DockerVersion = v.DockerVersion
		}
		inst.Version++
		return nil
	})
}

// markSeen refreshes AgentSeenAt.
func (h *Handler) markSeen(ctx context.Context, k instKey, now time.Time) error {
	_, err := h.updateInstance(ctx, k, func(inst *ecs.ContainerInstance) error {
		inst.AgentSeenAt = now
		inst.AgentConnected = true
		return nil
	})
	return err
}

// markDisconnected records that the channel closed, unless another
// session (on another server sharing the store) has written the record
// since this one last did: its AgentSeenAt would differ from lastSeen.
func (h *Handler) markDisconnected(ctx context.Context, k instKey, lastSeen time.Time) error {
	_, err := h.updateInstance(ctx, k, func(inst *ecs.ContainerInstance) error {
		if !inst.AgentConnected {
			return errUnchanged
		}
		if !inst.AgentSeenAt.Equal(lastSeen) {
			return errNotYetOurs
		}
		inst.AgentConnected = false
		inst.AgentSeenAt = h.now() // heard until the channel closed: lost time counts from here
		inst.Version++
		return nil
	})
	if errors.Is(err, errUnchanged) || errors.Is(err, errNotYetOurs) || errors.Is(err, errGone) {
		return nil
	}
	return err
}

// instanceTasks reads the tasks placed on an instance (every status):
// which they are from the cluster view (or the store, when the view is not
// caught up), then their whole records.
func (h *Handler) instanceTasks(ctx context.Context, k instKey) ([]ecs.Task, error) {
	_, rev, err := h.store.List(ctx, state.InstanceKey(k.cluster, k.id), store.ListOptions{Limit: 1})
	if err != nil {
		return nil, fmt.Errorf("read the store revision: %w", err)
	}
	var ids []string
	if err := h.view.ReadOrLoad(ctx, h.store, k.cluster, rev, func(c *clusterview.Cluster) { ids = c.TasksOn(k.id) }); err != nil {
		return nil, fmt.Errorf("tasks of %s: %w", k.cluster, err)
	}
	var out []ecs.Task
	for _, id := range ids {
		t, _, err := state.Get[ecs.Task](ctx, h.store, state.TaskKey(k.cluster, id))
		if errors.Is(err, store.ErrNotFound) {
			continue // swept meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// taskRef resolves a task ARN of this server to its cluster and id.
func (h *Handler) taskRef(taskARN string) (cluster, id string, ok bool) {
	a, err := arn.Parse(taskARN)
	if err != nil || a.Service != "ecs" || a.Type != arn.TypeTask || len(a.Parts) != 2 || !h.ownARN(taskARN) {
		return "", "", false
	}
	return a.Parts[0], a.Parts[1], true
}
