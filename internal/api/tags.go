package api

import (
	"context"
	"errors"

	"github.com/berth/berth/internal/api/wire"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/ecs/arn"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

// taggable resolves a resource ARN to the record that carries its tags and
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
	}
	return nil, ecs.Errorf(ecs.ErrInvalidParameter, "resourceArn %q: tagging is not supported for this resource type.", resourceArn)
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
		result, *tags = next, next
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
	_, err := h.withTags(ctx, in.ResourceArn, func(tags []ecs.Tag) ([]ecs.Tag, error) {
		return ecs.MergeTags(tags, tagsFromWire(in.Tags))
	})
	if err != nil {
		return nil, err
	}
	return &wire.TagResourceResponse{}, nil
}

func (h *Handler) untagResource(ctx context.Context, in *wire.UntagResourceRequest) (*wire.UntagResourceResponse, error) {
	if in.TagKeys == nil {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "tagKeys is required.")
	}
	_, err := h.withTags(ctx, in.ResourceArn, func(tags []ecs.Tag) ([]ecs.Tag, error) {
		return ecs.RemoveTags(tags, in.TagKeys)
	})
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
