package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/berth/berth/internal/api/wire"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/ecs/arn"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

// maxTaskDefinitionBytes is ECS's limit on the size of a task definition.
const maxTaskDefinitionBytes = 64 << 10

// taskDefFamily is the per-family record that keeps revisions monotonic
// (a deleted revision's number is never reused) and counts ACTIVE
// revisions for ListTaskDefinitionFamilies.
type taskDefFamily struct {
	Family         string `json:"family"`
	LastRevision   int    `json:"lastRevision"`
	ActiveRevision int    `json:"activeRevisions"`
	// LatestActive is the newest ACTIVE revision (0: none), so that
	// describing a family by name reads one small record, whatever the
	// number of revisions.
	LatestActive int `json:"latestActive"`
}

func (h *Handler) registerTaskDefinition(ctx context.Context, in *wire.RegisterTaskDefinitionRequest) (*wire.RegisterTaskDefinitionResponse, error) {
	td, err := taskDefFromRegister(in)
	if err != nil {
		return nil, err
	}
	if err := ecs.ValidateTaskDefinition(td); err != nil {
		return nil, err
	}
	if size, err := json.Marshal(in.ContainerDefinitions); err == nil && len(size) > maxTaskDefinitionBytes {
		return nil, ecs.Errorf(ecs.ErrClient, "The task definition is too large: its containerDefinitions take %d bytes; the maximum size of a task definition is 64 KiB.", len(size))
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
		f.LatestActive = td.Revision
		td.ARN = h.namer.TaskDefinition(td.Family, td.Revision)
		put, err := state.PutOp(state.TaskDefKey(td.Family, td.Revision), td, store.ExpectAbsent)
		idx := store.Put(state.TaskDefStatusKey(string(td.Status), td.Family, td.Revision), nil, store.ExpectAbsent)
		return []store.Op{put, idx}, err
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
// "family:revision" or an ARN. The result is shared with the cache: copy
// the definition before changing it.
func (h *Handler) findTaskDefinition(ctx context.Context, ref string) (cachedTaskDef, error) {
	if ref == "" {
		return cachedTaskDef{}, ecs.Errorf(ecs.ErrClient, "taskDefinition is required.")
	}
	r, err := arn.ParseTaskDefinitionRef(ref)
	if err != nil {
		return cachedTaskDef{}, ecs.Errorf(ecs.ErrClient, "Invalid revision number. Number: %s", ref)
	}
	if !h.ownARN(ref) {
		return cachedTaskDef{}, errTaskDefNotFound()
	}
	if r.Revision > 0 {
		e, err := h.tdefs.load(ctx, h.store, state.TaskDefKey(r.Family, r.Revision))
		if errors.Is(err, store.ErrNotFound) {
			return e, errTaskDefNotFound()
		}
		return e, err
	}
	// Latest ACTIVE revision, as the family record keeps it.
	f, _, err := state.Get[taskDefFamily](ctx, h.store, state.TaskDefFamilyKey(r.Family))
	if errors.Is(err, store.ErrNotFound) || (err == nil && f.LatestActive == 0) {
		return cachedTaskDef{}, errTaskDefNotFound()
	}
	if err != nil {
		return cachedTaskDef{}, err
	}
	rev := f.LatestActive
	e, err := h.tdefs.load(ctx, h.store, state.TaskDefKey(r.Family, rev))
	if errors.Is(err, store.ErrNotFound) {
		return e, errTaskDefNotFound()
	}
	return e, err
}

// latestActiveBefore returns the newest ACTIVE revision of family below
// rev (0: none), from the status index. The caller's transaction guards
// the family record, so a concurrent change makes it retry.
func (h *Handler) latestActiveBefore(ctx context.Context, family string, rev int) (int, error) {
	kvs, _, err := h.store.List(ctx, state.TaskDefStatusFamilyPrefix(string(ecs.TaskDefinitionActive), family), store.ListOptions{})
	if err != nil {
		return 0, err
	}
	for i := len(kvs) - 1; i >= 0; i-- {
		if _, n, ok := state.ParseTaskDefStatusKey(string(ecs.TaskDefinitionActive), kvs[i].Key); ok && n < rev {
			return n, nil
		}
	}
	return 0, nil
}

// describeTaskDefinition answers wire.DescribeTaskDefinitionResponse,
// written around the cached encoding of the definition.
func (h *Handler) describeTaskDefinition(ctx context.Context, in *wire.DescribeTaskDefinitionRequest) (*rawJSON, error) {
	for _, f := range in.Include {
		if f != wire.TaskDefinitionFieldTags {
			return nil, ecs.Errorf(ecs.ErrInvalidParameter, "include value %q is not valid. Valid values: TAGS.", f)
		}
	}
	e, err := h.findTaskDefinition(ctx, in.TaskDefinition)
	if err != nil {
		return nil, err
	}
	out := make(rawJSON, 0, len(e.wire)+64)
	out = append(out, `{"taskDefinition":`...)
	out = append(out, e.wire...)
	if slices.Contains(in.Include, wire.TaskDefinitionFieldTags) {
		tags, err := json.Marshal(tagsToWire(e.td.Tags))
		if err != nil {
			return nil, err
		}
		out = append(append(out, `,"tags":`...), tags...)
	}
	out = append(out, '}')
	return &out, nil
}

func (h *Handler) deregisterTaskDefinition(ctx context.Context, in *wire.DeregisterTaskDefinitionRequest) (*wire.DeregisterTaskDefinitionResponse, error) {
	r, err := arn.ParseTaskDefinitionRef(in.TaskDefinition)
	if err != nil || r.Revision == 0 {
		return nil, ecs.Errorf(ecs.ErrClient, "taskDefinition %q must name a revision (family:revision or a full ARN).", in.TaskDefinition)
	}
	var td ecs.TaskDefinition
	err = state.Retry(ctx, func() error {
		e, err := h.findTaskDefinition(ctx, in.TaskDefinition)
		if err != nil {
			return err
		}
		td = e.td
		if td.Status != ecs.TaskDefinitionActive {
			return errUnchanged // deregistering again changes nothing, as in ECS
		}
		td.Status = ecs.TaskDefinitionInactive
		td.DeregisteredAt = h.now()
		put, err := state.PutOp(state.TaskDefKey(td.Family, td.Revision), td, e.rev)
		if err != nil {
			return err
		}
		f, frev, err := state.Get[taskDefFamily](ctx, h.store, state.TaskDefFamilyKey(td.Family))
		if err != nil {
			return err
		}
		f.ActiveRevision--
		if f.LatestActive == td.Revision {
			if f.LatestActive, err = h.latestActiveBefore(ctx, td.Family, td.Revision); err != nil {
				return err
			}
		}
		fput, err := state.PutOp(state.TaskDefFamilyKey(td.Family), f, frev)
		if err != nil {
			return err
		}
		ops := append([]store.Op{put, fput}, moveStatusIndex(td, ecs.TaskDefinitionActive)...)
		_, err = h.store.Txn(ctx, ops...)
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
	done := map[arn.TaskDefinitionRef]bool{}
	for _, ref := range in.TaskDefinitions {
		r, err := arn.ParseTaskDefinitionRef(ref)
		if err != nil || r.Revision == 0 {
			out.Failures = append(out.Failures, wire.Failure{Arn: ref, Reason: "The specified task definition identifier is invalid. Specify a valid name or ARN and try again."})
			continue
		}
		if !h.ownARN(ref) {
			out.Failures = append(out.Failures, wire.Failure{Arn: ref, Reason: "The specified task definition does not exist. Specify a valid task definition and try again."})
			continue
		}
		if done[r] {
			continue // named twice: answered once
		}
		done[r] = true
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
			return moveStatusIndex(*td, ecs.TaskDefinitionInactive), nil
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

// moveStatusIndex moves td's index entry from status from to td.Status.
func moveStatusIndex(td ecs.TaskDefinition, from ecs.TaskDefinitionStatus) []store.Op {
	return []store.Op{
		store.Delete(state.TaskDefStatusKey(string(from), td.Family, td.Revision), store.ExpectAny),
		store.Put(state.TaskDefStatusKey(string(td.Status), td.Family, td.Revision), nil, store.ExpectAny),
	}
}

var familyPrefixRE = regexp.MustCompile(`^[A-Za-z0-9_-]{0,255}$`)

// listTaskDefinitions answers wire.ListTaskDefinitionsResponse. It is the
// hottest listing, so the answer is written directly: ARNs are made of the
// validated region, account and family characters and base64url tokens,
// none of which JSON needs to escape.
func (h *Handler) listTaskDefinitions(ctx context.Context, in *wire.ListTaskDefinitionsRequest) (*rawJSON, error) {
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
	// Despite its name, ECS's familyPrefix names one whole family.
	prefix := state.TaskDefStatusPrefix(string(status))
	if in.FamilyPrefix != "" {
		prefix = state.TaskDefStatusFamilyPrefix(string(status), in.FamilyPrefix)
	}
	p, err := parsePage(prefix, in.NextToken, in.MaxResults, defaultMaxResults)
	if err != nil {
		return nil, err
	}
	var kvs []store.KV
	more := false
	if desc {
		// The store lists forwards only: read the keys before the cursor
		// (index entries are empty, so this is cheap) and take the last ones.
		all, _, err := h.store.List(ctx, prefix, store.ListOptions{})
		if err != nil {
			return nil, err
		}
		for i := len(all) - 1; i >= 0; i-- {
			if p.after != "" && all[i].Key >= p.after {
				continue
			}
			if len(kvs) == p.limit {
				more = true
				break
			}
			kvs = append(kvs, all[i])
		}
	} else {
		kvs, _, err = h.store.List(ctx, prefix, store.ListOptions{After: p.after, Limit: p.limit + 1})
		if err != nil {
			return nil, err
		}
		if len(kvs) > p.limit {
			kvs, more = kvs[:p.limit], true
		}
	}
	arnPrefix := h.namer.TaskDefinitionPrefix()
	out := make(rawJSON, 0, 32+len(kvs)*(len(arnPrefix)+32))
	out = append(out, `{"taskDefinitionArns":[`...)
	statusPrefix := state.TaskDefStatusPrefix(string(status))
	for i, kv := range kvs {
		family, rev, ok := state.ParseTaskDefStatusEntry(strings.TrimPrefix(kv.Key, statusPrefix))
		if !ok {
			return nil, fmt.Errorf("malformed task definition index key %q", kv.Key)
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = append(append(append(append(out, '"'), arnPrefix...), family...), ':')
		out = append(strconv.AppendInt(out, int64(rev), 10), '"')
	}
	out = append(out, ']')
	if more {
		out = append(append(append(out, `,"nextToken":"`...), nextToken(kvs[len(kvs)-1].Key)...), '"')
	}
	out = append(out, '}')
	return &out, nil
}

func (h *Handler) listTaskDefinitionFamilies(ctx context.Context, in *wire.ListTaskDefinitionFamiliesRequest) (*wire.ListTaskDefinitionFamiliesResponse, error) {
	if !familyPrefixRE.MatchString(in.FamilyPrefix) {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "familyPrefix %q is not valid: letters, numbers, underscores and hyphens only.", in.FamilyPrefix)
	}
	status := string(in.Status)
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
