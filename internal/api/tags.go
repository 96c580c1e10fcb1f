package api

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/berth/berth/internal/api/wire"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/ecs/arn"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

// withTags resolves a resource ARN to the record that carries its tags and
// applies fn to them (read-only when fn returns errUnchanged).
func (h *Handler) withTags(ctx context.Context, resourceArn string, fn func(tags []ecs.Tag) ([]ecs.Tag, error)) ([]ecs.Tag, error) {
	if resourceArn == "" {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "resourceArn is required.")
	}
	a, err := arn.Parse(resourceArn)
	if err != nil || a.Service != "ecs" {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "resourceArn %q is not a valid ECS resource ARN.", resourceArn)
	}
	if a.Region != h.namer.Region || a.Account != h.namer.Account {
		return nil, ecs.Errorf(ecs.ErrResourceNotFound, "The specified resource %s could not be found.", resourceArn)
	}
	switch {
	case a.Type == arn.TypeCluster && len(a.Parts) == 1:
		return updateTags(ctx, h.store, state.ClusterKey(a.Parts[0]),
			func(c *ecs.Cluster) (*[]ecs.Tag, error) {
				if c.Status != ecs.ClusterActive {
					return nil, ecs.Errorf(ecs.ErrClusterNotFound, "The referenced cluster was inactive.")
				}
				return &c.Tags, nil
			},
			ecs.Errorf(ecs.ErrClusterNotFound, "Cluster not found."), fn)
	case a.Type == arn.TypeTaskDefinition && len(a.Parts) == 1:
		ref, err := arn.ParseTaskDefinitionRef(resourceArn)
		if err != nil {
			return nil, ecs.Errorf(ecs.ErrInvalidParameter, "resourceArn %q is not a valid task definition ARN.", resourceArn)
		}
		return updateTags(ctx, h.store, state.TaskDefKey(ref.Family, ref.Revision),
			func(td *ecs.TaskDefinition) (*[]ecs.Tag, error) {
				if td.Status == ecs.TaskDefinitionDeleteInProgress {
					return nil, ecs.Errorf(ecs.ErrResourceNotFound, "The specified task definition %s is being deleted.", resourceArn)
				}
				return &td.Tags, nil
			},
			ecs.Errorf(ecs.ErrResourceNotFound, "The specified task definition %s could not be found.", resourceArn), fn)
	case a.Type == arn.TypeService && len(a.Parts) == 2:
		return updateTags(ctx, h.store, state.ServiceKey(a.Parts[0], a.Parts[1]),
			func(s *ecs.Service) (*[]ecs.Tag, error) {
				if s.Status == ecs.ServiceInactive {
					return nil, ecs.Errorf(ecs.ErrServiceNotActive, "Service was not ACTIVE.")
				}
				return &s.Tags, nil
			},
			ecs.Errorf(ecs.ErrServiceNotFound, "Service not found."), fn)
	case a.Type == arn.TypeContainerInstance && len(a.Parts) == 2:
		return updateTags(ctx, h.store, state.InstanceKey(a.Parts[0], a.Parts[1]),
			func(in *ecs.ContainerInstance) (*[]ecs.Tag, error) { return &in.Tags, nil },
			ecs.Errorf(ecs.ErrResourceNotFound, "The specified container instance %s could not be found.", resourceArn), fn)
	case a.Type == arn.TypeTask && len(a.Parts) == 2:
		return h.withTaskTags(ctx, resourceArn, a.Parts[0], a.Parts[1], fn)
	case a.Type == arn.TypeTask && len(a.Parts) == 1:
		// As in ECS, tagging needs the long ARN format, which names the
		// cluster; a legacy task ARN does not say where the task is.
		return nil, ecs.Errorf(ecs.ErrInvalidParameter,
			"resourceArn %q is a task ARN in the legacy format; tagging a task needs its long ARN (task/<cluster>/<id>).", resourceArn)
	}
	return nil, ecs.Errorf(ecs.ErrInvalidParameter, "resourceArn %q: tagging is not supported for this resource type.", resourceArn)
}

// withTaskTags applies fn to the tags of task id of cluster. A task can be
// tagged for as long as DescribeTasks shows it: its cluster is ACTIVE
// (ClusterNotFoundException otherwise, as DescribeTasks answers) and its
// record exists, STOPPED or not, until the retention sweeper deletes it
// (ResourceNotFoundException naming the ARN after that).
//
// The agent's state changes write the same record. The tags are changed by
// a compare-and-swap of the whole record (state.Update), so a state change
// committed between our read and our write makes the write fail and retry
// on the new record: neither change is lost. Only Tags change:
//   - Seq stays: it orders the desired-state changes sent to the agent,
//     and tags are nothing to the agent; a grown Seq would send it the
//     task again.
//   - Version stays: ECS's task version counts the changes that emit a
//     task state change event (so that event consumers can tell whether
//     DescribeTasks is ahead of their stream), and tagging emits none.
//
// The cluster is checked before the update and not asserted in its
// transaction (StopTask does assert it): DeleteCluster only counts the
// tasks still in use, which tags do not change, so a delete that passes
// between the check and the write leaves nothing inconsistent.
func (h *Handler) withTaskTags(ctx context.Context, resourceArn, cluster, id string, fn func([]ecs.Tag) ([]ecs.Tag, error)) ([]ecs.Tag, error) {
	if _, _, err := h.activeCluster(ctx, cluster); err != nil {
		return nil, err
	}
	return updateTags(ctx, h.store, state.TaskKey(cluster, id),
		func(t *ecs.Task) (*[]ecs.Tag, error) { return &t.Tags, nil },
		ecs.Errorf(ecs.ErrResourceNotFound, "The specified task %s could not be found.", resourceArn), fn)
}

// userTags applies fn to the tags a user may change and keeps the others
// as they are: tags whose key has the reserved "aws:" prefix (the ECS
// managed tags aws:ecs:clusterName and aws:ecs:serviceName of tasks) can
// be neither edited nor deleted by users and do not count against the
// limit of 50 tags per resource, as ECS documents for TagResource.
func userTags(fn func([]ecs.Tag) ([]ecs.Tag, error)) func([]ecs.Tag) ([]ecs.Tag, error) {
	return func(tags []ecs.Tag) ([]ecs.Tag, error) {
		var user, reserved []ecs.Tag
		for _, t := range tags {
			if len(t.Key) >= 4 && strings.EqualFold(t.Key[:4], "aws:") {
				reserved = append(reserved, t)
			} else {
				user = append(user, t)
			}
		}
		next, err := fn(user)
		if err != nil {
			return nil, err
		}
		if slices.Equal(next, user) {
			return tags, nil // unchanged, and left in its order
		}
		return append(next, reserved...), nil
	}
}

// updateTags runs fn over the tags of the record at key with
// compare-and-swap; notFound is returned when the record does not exist.
func updateTags[T any](ctx context.Context, s store.Store, key string, tagsOf func(*T) (*[]ecs.Tag, error), notFound error,
	fn func([]ecs.Tag) ([]ecs.Tag, error)) ([]ecs.Tag, error) {
	var result []ecs.Tag
	_, err := state.Update(ctx, s, key, func(rec *T, exists bool) ([]store.Op, error) {
		if !exists {
			return nil, notFound
		}
		tags, err := tagsOf(rec)
		if err != nil {
			return nil, err
		}
		next, err := fn(*tags)
		if err != nil {
			return nil, err
		}
		result = next
		if slices.Equal(next, *tags) {
			return nil, errUnchanged // nothing to write (nor to wake watchers for)
		}
		*tags = next
		return nil, nil
	})
	if errors.Is(err, errUnchanged) {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	return result, nil
}

func (h *Handler) tagResource(ctx context.Context, in *wire.TagResourceRequest) (*wire.TagResourceResponse, error) {
	if in.Tags == nil {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "tags is required.")
	}
	_, err := h.withTags(ctx, in.ResourceArn, userTags(func(tags []ecs.Tag) ([]ecs.Tag, error) {
		return ecs.MergeTags(tags, tagsFromWire(in.Tags))
	}))
	if err != nil {
		return nil, err
	}
	return &wire.TagResourceResponse{}, nil
}

func (h *Handler) untagResource(ctx context.Context, in *wire.UntagResourceRequest) (*wire.UntagResourceResponse, error) {
	if in.TagKeys == nil {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "tagKeys is required.")
	}
	_, err := h.withTags(ctx, in.ResourceArn, userTags(func(tags []ecs.Tag) ([]ecs.Tag, error) {
		return ecs.RemoveTags(tags, in.TagKeys)
	}))
	if err != nil {
		return nil, err
	}
	return &wire.UntagResourceResponse{}, nil
}

func (h *Handler) listTagsForResource(ctx context.Context, in *wire.ListTagsForResourceRequest) (*wire.ListTagsForResourceResponse, error) {
	var tags []ecs.Tag
	_, err := h.withTags(ctx, in.ResourceArn, func(t []ecs.Tag) ([]ecs.Tag, error) {
		tags = t
		return nil, errUnchanged
	})
	if err != nil {
		return nil, err
	}
	return &wire.ListTagsForResourceResponse{Tags: tagsToWire(tags)}, nil
}
