package api

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"

	"github.com/berth/berth/internal/api/wire"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/ecs/arn"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

// taskDefFamily is the per-family record that keeps revisions monotonic
// (a deleted revision's number is never reused) and counts ACTIVE
// revisions for ListTaskDefinitionFamilies.
type taskDefFamily struct {
	Family         string `json:"family"`
	LastRevision   int    `json:"lastRevision"`
	ActiveRevision int    `json:"activeRevisions"`
}

// taskDefSummary is the part of a stored definition that listings need.
type taskDefSummary struct {
	ARN    string                   `json:"taskDefinitionArn"`
	Status ecs.TaskDefinitionStatus `json:"status"`
}

func (h *Handler) registerTaskDefinition(ctx context.Context, in *wire.RegisterTaskDefinitionRequest) (*wire.RegisterTaskDefinitionResponse, error) {
	td, err := taskDefFromRegister(in)
	if err != nil {
		return nil, err
	}
	if err := ecs.ValidateTaskDefinition(td); err != nil {
		return nil, err
	}
	if err := ecs.ValidateTags(td.Tags); err != nil {
		return nil, err
	}
	ecs.ApplyTaskDefinitionDefaults(td)
	td.Status = ecs.TaskDefinitionActive
	td.RegisteredAt = h.now()
	td.RegisteredBy = h.callerPrincipal(ctx)
	_, err = state.Update(ctx, h.store, state.TaskDefFamilyKey(td.Family), func(f *taskDefFamily, _ bool) ([]store.Op, error) {
		f.Family = td.Family
		f.LastRevision++
		f.ActiveRevision++
		td.Revision = f.LastRevision
		td.ARN = h.namer.TaskDefinition(td.Family, td.Revision)
		put, err := state.PutOp(state.TaskDefKey(td.Family, td.Revision), td, store.ExpectAbsent)
		return []store.Op{put}, err
	})
	if err != nil {
		return nil, err
	}
	out, err := taskDefToWire(*td)
	if err != nil {
		return nil, err
	}
	return &wire.RegisterTaskDefinitionResponse{TaskDefinition: out, Tags: tagsToWire(td.Tags)}, nil
}

// errTaskDefNotFound is ECS's answer for a definition it cannot find.
func errTaskDefNotFound() error {
	return ecs.Errorf(ecs.ErrClient, "Unable to describe task definition.")
}

// findTaskDefinition resolves "family" (latest ACTIVE revision),
// "family:revision" or an ARN.
func (h *Handler) findTaskDefinition(ctx context.Context, ref string) (ecs.TaskDefinition, int64, error) {
	if ref == "" {
		return ecs.TaskDefinition{}, 0, ecs.Errorf(ecs.ErrClient, "taskDefinition is required.")
	}
	r, err := arn.ParseTaskDefinitionRef(ref)
	if err != nil {
		return ecs.TaskDefinition{}, 0, ecs.Errorf(ecs.ErrClient, "Invalid revision number. Number: %s", ref)
	}
	if arn.IsARN(ref) {
		if a, _ := arn.Parse(ref); a.Region != h.namer.Region || a.Account != h.namer.Account {
			return ecs.TaskDefinition{}, 0, errTaskDefNotFound()
		}
	}
	if r.Revision > 0 {
		td, rev, err := state.Get[ecs.TaskDefinition](ctx, h.store, state.TaskDefKey(r.Family, r.Revision))
		if errors.Is(err, store.ErrNotFound) {
			return td, 0, errTaskDefNotFound()
		}
		return td, rev, err
	}
	// Latest ACTIVE revision: walk the family's revisions from the newest.
	f, _, err := state.Get[taskDefFamily](ctx, h.store, state.TaskDefFamilyKey(r.Family))
	if errors.Is(err, store.ErrNotFound) {
		return ecs.TaskDefinition{}, 0, errTaskDefNotFound()
	}
	if err != nil {
		return ecs.TaskDefinition{}, 0, err
	}
	if f.ActiveRevision == 0 {
		return ecs.TaskDefinition{}, 0, errTaskDefNotFound()
	}
	for n := f.LastRevision; n >= 1; n-- {
		td, rev, err := state.Get[ecs.TaskDefinition](ctx, h.store, state.TaskDefKey(r.Family, n))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return td, 0, err
		}
		if td.Status == ecs.TaskDefinitionActive {
			return td, rev, nil
		}
	}
	return ecs.TaskDefinition{}, 0, errTaskDefNotFound()
}

func (h *Handler) describeTaskDefinition(ctx context.Context, in *wire.DescribeTaskDefinitionRequest) (*wire.DescribeTaskDefinitionResponse, error) {
	for _, f := range in.Include {
		if f != wire.TaskDefinitionFieldTags {
			return nil, ecs.Errorf(ecs.ErrInvalidParameter, "include value %q is not valid. Valid values: TAGS.", f)
		}
	}
	td, _, err := h.findTaskDefinition(ctx, in.TaskDefinition)
	if err != nil {
		return nil, err
	}
	out, err := taskDefToWire(td)
	if err != nil {
		return nil, err
	}
	resp := &wire.DescribeTaskDefinitionResponse{TaskDefinition: out}
	if slices.Contains(in.Include, wire.TaskDefinitionFieldTags) {
		resp.Tags = tagsToWire(td.Tags)
	}
	return resp, nil
}

func (h *Handler) deregisterTaskDefinition(ctx context.Context, in *wire.DeregisterTaskDefinitionRequest) (*wire.DeregisterTaskDefinitionResponse, error) {
	r, err := arn.ParseTaskDefinitionRef(in.TaskDefinition)
	if err != nil || r.Revision == 0 {
		return nil, ecs.Errorf(ecs.ErrClient, "taskDefinition %q must name a revision (family:revision or a full ARN).", in.TaskDefinition)
	}
	var td ecs.TaskDefinition
	err = state.Retry(ctx, func() error {
		var rev int64
		var err error
		td, rev, err = h.findTaskDefinition(ctx, in.TaskDefinition)
		if err != nil {
			return err
		}
		if td.Status != ecs.TaskDefinitionActive {
			return errUnchanged // deregistering again changes nothing, as in ECS
		}
		td.Status = ecs.TaskDefinitionInactive
		td.DeregisteredAt = h.now()
		put, err := state.PutOp(state.TaskDefKey(td.Family, td.Revision), td, rev)
		if err != nil {
			return err
		}
		f, frev, err := state.Get[taskDefFamily](ctx, h.store, state.TaskDefFamilyKey(td.Family))
		if err != nil {
			return err
		}
		f.ActiveRevision--
		fput, err := state.PutOp(state.TaskDefFamilyKey(td.Family), f, frev)
		if err != nil {
			return err
		}
		_, err = h.store.Txn(ctx, put, fput)
		return err
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		return nil, err
	}
	out, err := taskDefToWire(td)
	return &wire.DeregisterTaskDefinitionResponse{TaskDefinition: out}, err
}

func (h *Handler) deleteTaskDefinitions(ctx context.Context, in *wire.DeleteTaskDefinitionsRequest) (*wire.DeleteTaskDefinitionsResponse, error) {
	if len(in.TaskDefinitions) == 0 {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "taskDefinitions is required.")
	}
	if len(in.TaskDefinitions) > 10 {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "taskDefinitions can have at most 10 items.")
	}
	out := &wire.DeleteTaskDefinitionsResponse{TaskDefinitions: []wire.TaskDefinition{}, Failures: []wire.Failure{}}
	for _, ref := range in.TaskDefinitions {
		r, err := arn.ParseTaskDefinitionRef(ref)
		if err != nil || r.Revision == 0 {
			out.Failures = append(out.Failures, wire.Failure{Arn: ref, Reason: "The specified task definition identifier is invalid. Specify a valid name or ARN and try again."})
			continue
		}
		var failure string
		td, err := state.Update(ctx, h.store, state.TaskDefKey(r.Family, r.Revision), func(td *ecs.TaskDefinition, exists bool) ([]store.Op, error) {
			switch {
			case !exists:
				failure = "The specified task definition does not exist. Specify a valid task definition and try again."
			case td.Status == ecs.TaskDefinitionActive:
				failure = "The specified task definition is still in ACTIVE status. Please deregister the target and try again."
			case td.Status == ecs.TaskDefinitionDeleteInProgress:
				return nil, errUnchanged
			}
			if failure != "" {
				return nil, errUnchanged
			}
			td.Status = ecs.TaskDefinitionDeleteInProgress
			td.DeleteRequestedAt = h.now()
			return nil, nil
		})
		if errors.Is(err, errUnchanged) {
			if failure != "" {
				out.Failures = append(out.Failures, wire.Failure{Arn: h.namer.TaskDefinition(r.Family, r.Revision), Reason: failure})
				continue
			}
			td, _, err = state.Get[ecs.TaskDefinition](ctx, h.store, state.TaskDefKey(r.Family, r.Revision))
		}
		if err != nil {
			return nil, err
		}
		w, err := taskDefToWire(td)
		if err != nil {
			return nil, err
		}
		out.TaskDefinitions = append(out.TaskDefinitions, *w)
	}
	return out, nil
}

var familyPrefixRE = regexp.MustCompile(`^[A-Za-z0-9_-]{0,255}$`)

func (h *Handler) listTaskDefinitions(ctx context.Context, in *wire.ListTaskDefinitionsRequest) (*wire.ListTaskDefinitionsResponse, error) {
	if !familyPrefixRE.MatchString(in.FamilyPrefix) {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "familyPrefix %q is not valid: letters, numbers, underscores and hyphens only.", in.FamilyPrefix)
	}
	status := ecs.TaskDefinitionActive
	if in.Status != "" {
		status = ecs.TaskDefinitionStatus(in.Status)
		if !slices.Contains([]ecs.TaskDefinitionStatus{ecs.TaskDefinitionActive, ecs.TaskDefinitionInactive, ecs.TaskDefinitionDeleteInProgress}, status) {
			return nil, ecs.Errorf(ecs.ErrInvalidParameter, "status %q is not valid. Valid values: ACTIVE, INACTIVE, DELETE_IN_PROGRESS.", in.Status)
		}
	}
	desc := false
	switch in.Sort {
	case "", wire.SortOrderAsc:
	case wire.SortOrderDesc:
		desc = true
	default:
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "sort %q is not valid. Valid values: ASC, DESC.", in.Sort)
	}
	prefix := state.TaskDefsPrefix() + in.FamilyPrefix
	p, err := parsePage(prefix, in.NextToken, in.MaxResults, defaultMaxResults)
	if err != nil {
		return nil, err
	}
	match := func(s taskDefSummary) bool { return s.Status == status }
	var keys, arns []string
	var more bool
	if desc {
		keys, arns, more, err = listDescending(ctx, h.store, prefix, p, match)
	} else {
		keys, arns, more, err = listAscending(ctx, h.store, prefix, p, match)
	}
	if err != nil {
		return nil, err
	}
	out := &wire.ListTaskDefinitionsResponse{TaskDefinitionArns: arns}
	if more {
		out.NextToken = nextToken(keys[len(keys)-1])
	}
	return out, nil
}

// listAscending pages through records under prefix in key order, keeping
// those that match, until the page is full.
func listAscending(ctx context.Context, r store.Reader, prefix string, p page, match func(taskDefSummary) bool) (keys, arns []string, more bool, err error) {
	arns = []string{}
	after := p.after
	for {
		recs, err := state.List[taskDefSummary](ctx, r, prefix, store.ListOptions{After: after, Limit: p.limit + 1})
		if err != nil {
			return nil, nil, false, err
		}
		for _, rec := range recs {
			if !match(rec.Value) {
				after = rec.Key
				continue
			}
			if len(arns) == p.limit {
				return keys, arns, true, nil
			}
			keys, arns = append(keys, rec.Key), append(arns, rec.Value.ARN)
			after = rec.Key
		}
		if len(recs) < p.limit+1 {
			return keys, arns, false, nil
		}
	}
}

// listDescending is listAscending in reverse key order. The store lists
// forwards only, so it reads the matching keys before the cursor (all of
// them when the cursor is empty) and takes the last ones.
func listDescending(ctx context.Context, r store.Reader, prefix string, p page, match func(taskDefSummary) bool) (keys, arns []string, more bool, err error) {
	recs, err := state.List[taskDefSummary](ctx, r, prefix, store.ListOptions{})
	if err != nil {
		return nil, nil, false, err
	}
	arns = []string{}
	for i := len(recs) - 1; i >= 0; i-- {
		rec := recs[i]
		if p.after != "" && rec.Key >= p.after {
			continue
		}
		if !match(rec.Value) {
			continue
		}
		if len(arns) == p.limit {
			return keys, arns, true, nil
		}
		keys, arns = append(keys, rec.Key), append(arns, rec.Value.ARN)
	}
	return keys, arns, false, nil
}

func (h *Handler) listTaskDefinitionFamilies(ctx context.Context, in *wire.ListTaskDefinitionFamiliesRequest) (*wire.ListTaskDefinitionFamiliesResponse, error) {
	if !familyPrefixRE.MatchString(in.FamilyPrefix) {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "familyPrefix %q is not valid: letters, numbers, underscores and hyphens only.", in.FamilyPrefix)
	}
	status := strings.ToUpper(string(in.Status))
	switch status {
	case "", "ALL", "ACTIVE", "INACTIVE":
	default:
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "status %q is not valid. Valid values: ACTIVE, INACTIVE, ALL.", in.Status)
	}
	prefix := state.TaskDefFamiliesPrefix() + in.FamilyPrefix
	p, err := parsePage(prefix, in.NextToken, in.MaxResults, defaultMaxResults)
	if err != nil {
		return nil, err
	}
	out := &wire.ListTaskDefinitionFamiliesResponse{Families: []string{}}
	after := p.after
	for {
		recs, err := state.List[taskDefFamily](ctx, h.store, prefix, store.ListOptions{After: after, Limit: p.limit + 1})
		if err != nil {
			return nil, err
		}
		for _, rec := range recs {
			f := rec.Value
			ok := status == "" || status == "ALL" || (status == "ACTIVE") == (f.ActiveRevision > 0)
			if !ok {
				after = rec.Key
				continue
			}
			if len(out.Families) == p.limit {
				out.NextToken = nextToken(after)
				return out, nil
			}
			out.Families = append(out.Families, f.Family)
			after = rec.Key
		}
		if len(recs) < p.limit+1 {
			return out, nil
		}
	}
}
