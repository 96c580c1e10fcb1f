package ecr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/berth/berth/internal/api/wire"
	"github.com/berth/berth/internal/ecr/lifecycle"
	"github.com/berth/berth/internal/registry"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

func (h *Handler) errNoPolicy(repo string) *apiError {
	return errorf(kindLifecyclePolicyNotFound, "Lifecycle policy does not exist for the repository with name '%s' in the registry with id '%s'", repo, h.account)
}

func (h *Handler) putLifecyclePolicy(ctx context.Context, in *putLifecyclePolicyRequest) (*lifecyclePolicyResponse, error) {
	name, err := h.checkRepoRef(in.repoRef)
	if err != nil {
		return nil, err
	}
	if in.LifecyclePolicyText == nil {
		return nil, invalidParam("lifecyclePolicyText", "must not be null")
	}
	// Parse checks the length constraints too.
	text := *in.LifecyclePolicyText
	if _, err := lifecycle.Parse(text); err != nil {
		if errors.Is(err, lifecycle.ErrInvalid) {
			return nil, &apiError{kind: kindInvalidParameter, msg: err.Error(), cause: err}
		}
		return nil, err
	}
	err = state.Retry(ctx, func() error {
		_, rev, err := h.repo(ctx, name)
		if err != nil {
			return err
		}
		put, err := state.PutOp(policyKey(name), policyRecord{Text: text}, store.ExpectAny)
		if err != nil {
			return err
		}
		_, err = h.store.Txn(ctx, store.Check(repoKey(name), rev), put)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &lifecyclePolicyResponse{RegistryID: h.account, RepositoryName: name, LifecyclePolicyText: text}, nil
}

// policy reads the lifecycle policy of an existing repository.
func (h *Handler) policy(ctx context.Context, name string) (policyRecord, int64, error) {
	if _, _, err := h.repo(ctx, name); err != nil {
		return policyRecord{}, 0, err
	}
	p, rev, err := state.Get[policyRecord](ctx, h.store, policyKey(name))
	if errors.Is(err, store.ErrNotFound) {
		return p, 0, h.errNoPolicy(name)
	}
	return p, rev, err
}

func (h *Handler) policyResponse(name string, p *policyRecord) *lifecyclePolicyResponse {
	out := &lifecyclePolicyResponse{RegistryID: h.account, RepositoryName: name, LifecyclePolicyText: p.Text}
	if !p.LastEvaluatedAt.IsZero() {
		out.LastEvaluatedAt = wire.NewTime(p.LastEvaluatedAt)
	}
	return out
}

func (h *Handler) getLifecyclePolicy(ctx context.Context, in *repoRef) (*lifecyclePolicyResponse, error) {
	name, err := h.checkRepoRef(*in)
	if err != nil {
		return nil, err
	}
	p, _, err := h.policy(ctx, name)
	if err != nil {
		return nil, err
	}
	return h.policyResponse(name, &p), nil
}

func (h *Handler) deleteLifecyclePolicy(ctx context.Context, in *repoRef) (*lifecyclePolicyResponse, error) {
	name, err := h.checkRepoRef(*in)
	if err != nil {
		return nil, err
	}
	var p policyRecord
	err = state.Retry(ctx, func() error {
		var rev int64
		var err error
		p, rev, err = h.policy(ctx, name)
		if err != nil {
			return err
		}
		_, err = h.store.Txn(ctx, store.Delete(policyKey(name), rev))
		return err
	})
	if err != nil {
		return nil, err
	}
	return h.policyResponse(name, &p), nil
}

// ApplyLifecyclePolicies applies every repository's lifecycle policy as
// of now: the images the policy's rules expire are deleted from the
// registry, and the policy's lastEvaluatedAt becomes now. A failure in one
// repository does not stop the others; the errors are joined. expired
// counts the images deleted.
func (h *Handler) ApplyLifecyclePolicies(ctx context.Context, now time.Time) (expired int, err error) {
	recs, err := state.List[policyRecord](ctx, h.store, policiesPrefix, store.ListOptions{})
	if err != nil {
		return 0, fmt.Errorf("list lifecycle policies: %w", err)
	}
	var errs []error
	for _, r := range recs {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		name := strings.TrimPrefix(r.Key, policiesPrefix)
		n, err := h.applyPolicy(ctx, name, r.Value.Text, now)
		expired += n
		if err != nil {
			errs = append(errs, fmt.Errorf("lifecycle policy of %s: %w", name, err))
		}
	}
	return expired, errors.Join(errs...)
}

func (h *Handler) applyPolicy(ctx context.Context, name, text string, now time.Time) (int, error) {
	pol, err := lifecycle.Parse(text)
	if err != nil {
		return 0, err
	}
	imgs, err := h.listImages(ctx, name)
	if err != nil {
		return 0, err
	}
	in := make([]lifecycle.Image, 0, len(imgs))
	for _, im := range imgs {
		in = append(in, lifecycle.Image{Digest: im.Digest, Tags: im.Tags, PushedAt: im.PushedAt})
	}
	expired := 0
	for _, e := range pol.Evaluate(in, now) {
		err := h.images.DeleteManifest(ctx, name, e.Digest)
		if errors.Is(err, registry.ErrImageNotFound) || errors.Is(err, registry.ErrRepositoryNotFound) {
			continue // gone already
		}
		if err != nil {
			return expired, fmt.Errorf("expire %s: %w", e.Digest, err)
		}
		expired++
		h.log.Info("lifecycle policy expired an image", "repository", name, "digest", e.Digest, "rulePriority", e.RulePriority)
	}
	// Record the evaluation, unless the policy was replaced or removed
	// meanwhile (it is evaluated anew next time).
	errChanged := errors.New("policy changed")
	_, err = state.Update(ctx, h.store, policyKey(name), func(p *policyRecord, exists bool) ([]store.Op, error) {
		if !exists || p.Text != text {
			return nil, errChanged
		}
		p.LastEvaluatedAt = now.UTC()
		return nil, nil
	})
	if err != nil && !errors.Is(err, errChanged) {
		return expired, err
	}
	return expired, nil
}

// RunLifecycle applies the lifecycle policies now and then every interval
// (an hour if every is not positive) until ctx is done, logging failures.
func (h *Handler) RunLifecycle(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = time.Hour
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := h.ApplyLifecyclePolicies(ctx, h.now())
		if err != nil && ctx.Err() == nil {
			h.log.Error("applying lifecycle policies", "err", err, "expired", n)
		} else if n > 0 {
			h.log.Info("applied lifecycle policies", "expired", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
