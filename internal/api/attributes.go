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

// Attributes are name/value pairs on container instances, used by
// placement constraints. PutAttributes and DeleteAttributes change all the
// targets they name in one transaction, or none.

const maxAttributesPerCall = 10

// instanceID resolves an attribute's targetId (an instance id or ARN) in cluster.
func instanceID(cluster, target string) (string, error) {
	if !arn.IsARN(target) {
		if target == "" {
			return "", ecs.Errorf(ecs.ErrInvalidParameter, "attributes.targetId is required.")
		}
		return target, nil
	}
	a, err := arn.Parse(target)
	if err != nil || a.Type != arn.TypeContainerInstance {
		return "", ecs.Errorf(ecs.ErrInvalidParameter, "attributes.targetId %q is not a container instance id or ARN.", target)
	}
	if len(a.Parts) == 2 && a.Parts[0] != cluster {
		return "", ecs.Errorf(ecs.ErrTargetNotFound, "Could not find target %s in cluster %s.", target, cluster)
	}
	return a.Parts[len(a.Parts)-1], nil
}

// changeAttributes applies change to each target named in attrs, atomically.
func (h *Handler) changeAttributes(ctx context.Context, clusterRef string, attrs []wire.Attribute, validate bool,
	change func(current []ecs.Attribute, mine []wire.Attribute) ([]ecs.Attribute, error)) error {
	if len(attrs) == 0 {
		return ecs.Errorf(ecs.ErrInvalidParameter, "attributes is required.")
	}
	if len(attrs) > maxAttributesPerCall {
		return ecs.Errorf(ecs.ErrInvalidParameter, "attributes can have at most %d items per call.", maxAttributesPerCall)
	}
	cl, _, err := h.activeCluster(ctx, clusterRef)
	if err != nil {
		return err
	}
	byTarget := map[string][]wire.Attribute{}
	var order []string
	for _, a := range attrs {
		dom := ecs.Attribute{Name: a.Name, Value: a.Value, TargetType: string(a.TargetType)}
		if validate {
			if err := ecs.ValidateAttribute(dom); err != nil {
				return err
			}
		} else if a.Name == "" {
			return ecs.Errorf(ecs.ErrInvalidParameter, "attributes.name is required.")
		}
		id, err := instanceID(cl.Name, a.TargetId)
		if err != nil {
			return err
		}
		if _, seen := byTarget[id]; !seen {
			order = append(order, id)
		}
		byTarget[id] = append(byTarget[id], a)
	}
	return state.Retry(ctx, func() error {
		var ops []store.Op
		for _, id := range order {
			key := state.InstanceKey(cl.Name, id)
			inst, rev, err := state.Get[ecs.ContainerInstance](ctx, h.store, key)
			if errors.Is(err, store.ErrNotFound) || (err == nil && inst.Status == ecs.InstanceInactive) {
				return ecs.Errorf(ecs.ErrTargetNotFound, "Could not find target %s in cluster %s.", id, cl.Name)
			}
			if err != nil {
				return err
			}
			next, err := change(inst.Attributes, byTarget[id])
			if err != nil {
				return err
			}
			inst.Attributes = next
			op, err := state.PutOp(key, inst, rev)
			if err != nil {
				return err
			}
			ops = append(ops, op)
		}
		_, err := h.store.Txn(ctx, ops...)
		return err
	})
}

func (h *Handler) putAttributes(ctx context.Context, in *wire.PutAttributesRequest) (*wire.PutAttributesResponse, error) {
	err := h.changeAttributes(ctx, in.Cluster, in.Attributes, true, func(cur []ecs.Attribute, mine []wire.Attribute) ([]ecs.Attribute, error) {
		add := make([]ecs.Attribute, len(mine))
		for i, a := range mine {
			add[i] = ecs.Attribute{Name: a.Name, Value: a.Value}
		}
		return ecs.PutAttributes(cur, add)
	})
	if err != nil {
		return nil, err
	}
	return &wire.PutAttributesResponse{Attributes: in.Attributes}, nil
}

func (h *Handler) deleteAttributes(ctx context.Context, in *wire.DeleteAttributesRequest) (*wire.DeleteAttributesResponse, error) {
	err := h.changeAttributes(ctx, in.Cluster, in.Attributes, false, func(cur []ecs.Attribute, mine []wire.Attribute) ([]ecs.Attribute, error) {
		names := make([]string, len(mine))
		for i, a := range mine {
			names[i] = a.Name
		}
		return ecs.DeleteAttributes(cur, names), nil
	})
	if err != nil {
		return nil, err
	}
	return &wire.DeleteAttributesResponse{Attributes: in.Attributes}, nil
}

func (h *Handler) listAttributes(ctx context.Context, in *wire.ListAttributesRequest) (*wire.ListAttributesResponse, error) {
	if in.TargetType != ecs.TargetTypeContainerInstance {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "targetType is required and must be container-instance.")
	}
	if in.AttributeValue != "" && in.AttributeName == "" {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "attributeValue can only be used together with attributeName.")
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
	insts, err := state.List[ecs.ContainerInstance](ctx, h.store, prefix, store.ListOptions{})
	if err != nil {
		return nil, err
	}
	// Entries are ordered by (instance key, attribute name); the token is
	// the position of the last one returned.
	type entry struct {
		pos  string
		attr wire.Attribute
	}
	var all []entry
	for _, rec := range insts {
		if rec.Value.Status == ecs.InstanceInactive {
			continue
		}
		attrs := slices.Clone(rec.Value.Attributes)
		slices.SortFunc(attrs, func(a, b ecs.Attribute) int { return strings.Compare(a.Name, b.Name) })
		for _, a := range attrs {
			if (in.AttributeName != "" && a.Name != in.AttributeName) || (in.AttributeValue != "" && a.Value != in.AttributeValue) {
				continue
			}
			all = append(all, entry{pos: rec.Key + "\x00" + a.Name, attr: wire.Attribute{
				Name: a.Name, Value: a.Value, TargetType: wire.TargetType(ecs.TargetTypeContainerInstance), TargetId: rec.Value.ARN}})
		}
	}
	out := &wire.ListAttributesResponse{Attributes: []wire.Attribute{}}
	for i, e := range all {
		if p.after != "" && e.pos <= p.after {
			continue
		}
		if len(out.Attributes) == p.limit {
			out.NextToken = nextToken(all[i-1].pos)
			break
		}
		out.Attributes = append(out.Attributes, e.attr)
	}
	return out, nil
}
