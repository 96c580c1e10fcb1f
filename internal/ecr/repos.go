package ecr

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/berth/berth/internal/registry"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

const (
	encryptionAES256 = "AES256"
	encryptionKMS    = "KMS"
)

func (h *Handler) createRepository(ctx context.Context, in *createRepositoryRequest) (*repositoryResponse, error) {
	if err := validRepoName("repositoryName", in.RepositoryName); err != nil {
		return nil, err
	}
	name := *in.RepositoryName
	if in.RegistryID != nil {
		if !registryIDRE.MatchString(*in.RegistryID) {
			return nil, invalidParam("registryId", "must satisfy regular expression '[0-9]{12}'")
		}
		if *in.RegistryID != h.account {
			return nil, invalidParam("registryId", "must be the id of this registry ('"+h.account+"')")
		}
	}
	rec := repoRecord{Name: name, CreatedAt: h.now().UTC(), ImageTagMutability: mutabilityMutable, EncryptionType: encryptionAES256}
	if in.ImageTagMutability != nil {
		m, err := validMutability(in.ImageTagMutability)
		if err != nil {
			return nil, err
		}
		rec.ImageTagMutability = m
	}
	if in.ImageScanningConfiguration != nil {
		rec.ScanOnPush = in.ImageScanningConfiguration.ScanOnPush
	}
	if e := in.EncryptionConfiguration; e != nil {
		switch e.EncryptionType {
		case "":
			return nil, invalidParam("encryptionConfiguration.encryptionType", "must not be null")
		case encryptionAES256:
			if e.KmsKey != "" {
				return nil, invalidParam("encryptionConfiguration.kmsKey", "may only be given with the KMS encryption type")
			}
		case encryptionKMS:
			if len(e.KmsKey) > 2048 {
				return nil, invalidParam("encryptionConfiguration.kmsKey", "must have length less than or equal to 2048")
			}
		default:
			return nil, invalidParam("encryptionConfiguration.encryptionType", "Member must satisfy enum value set: [AES256, KMS]")
		}
		rec.EncryptionType, rec.KmsKey = e.EncryptionType, e.KmsKey
	}
	tags, err := mergeTags(h.arn(name), nil, in.Tags)
	if err != nil {
		return nil, err
	}
	rec.Tags = tags
	put, err := state.PutOp(repoKey(name), rec, store.ExpectAbsent)
	if err != nil {
		return nil, err
	}
	// A new repository starts without a lifecycle policy, whatever an
	// interrupted deletion of an earlier one left.
	_, err = h.store.Txn(ctx, put, store.Delete(policyKey(name), store.ExpectAny))
	if errors.Is(err, store.ErrConflict) {
		return nil, errorf(kindRepositoryAlreadyExists, "The repository with name '%s' already exists in the registry with id '%s'", name, h.account)
	}
	if err != nil {
		return nil, err
	}
	return &repositoryResponse{Repository: h.toWireRepo(&rec)}, nil
}

func (h *Handler) describeRepositories(ctx context.Context, in *describeRepositoriesRequest) (*describeRepositoriesResponse, error) {
	foreign := false
	if in.RegistryID != nil {
		if !registryIDRE.MatchString(*in.RegistryID) {
			return nil, invalidParam("registryId", "must satisfy regular expression '[0-9]{12}'")
		}
		foreign = *in.RegistryID != h.account
	}
	if in.RepositoryNames != nil {
		return h.describeNamedRepositories(ctx, in, foreign)
	}
	p, err := parsePage("DescribeRepositories", in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	out := &describeRepositoriesResponse{Repositories: []repository{}}
	if foreign {
		return out, nil
	}
	opts := store.ListOptions{Limit: p.limit + 1}
	if p.after != "" {
		opts.After = repoKey(p.after)
	}
	recs, err := state.List[repoRecord](ctx, h.store, reposPrefix, opts)
	if err != nil {
		return nil, err
	}
	for i := range recs {
		if i == p.limit {
			out.NextToken = pageToken("DescribeRepositories", recs[i-1].Value.Name)
			break
		}
		out.Repositories = append(out.Repositories, h.toWireRepo(&recs[i].Value))
	}
	return out, nil
}

func (h *Handler) describeNamedRepositories(ctx context.Context, in *describeRepositoriesRequest, foreign bool) (*describeRepositoriesResponse, error) {
	switch {
	case len(in.RepositoryNames) < 1:
		return nil, invalidParam("repositoryNames", "must have length greater than or equal to 1")
	case len(in.RepositoryNames) > 100:
		return nil, invalidParam("repositoryNames", "must have length less than or equal to 100")
	case in.NextToken != nil:
		return nil, invalidParam("nextToken", "cannot be used with repositoryNames")
	case in.MaxResults != nil:
		return nil, invalidParam("maxResults", "cannot be used with repositoryNames")
	}
	out := &describeRepositoriesResponse{Repositories: []repository{}}
	seen := map[string]bool{}
	for i, n := range in.RepositoryNames {
		if err := validRepoName(fmt.Sprintf("repositoryNames.%d", i+1), &n); err != nil {
			return nil, err
		}
		if foreign {
			return nil, errorf(kindRepositoryNotFound, "The repository with name '%s' does not exist in the registry with id '%s'", n, *in.RegistryID)
		}
		if seen[n] {
			continue
		}
		seen[n] = true
		rec, _, err := h.repo(ctx, n)
		if err != nil {
			return nil, err
		}
		out.Repositories = append(out.Repositories, h.toWireRepo(&rec))
	}
	return out, nil
}

// deleteRepository removes the record (and the lifecycle policy) first,
// so that the registry refuses pushes from then on, and then what the
// registry stores. Without force, a repository holding images is refused.
func (h *Handler) deleteRepository(ctx context.Context, in *deleteRepositoryRequest) (*repositoryResponse, error) {
	name, err := h.checkRepoRef(repoRef{RegistryID: in.RegistryID, RepositoryName: in.RepositoryName})
	if err != nil {
		return nil, err
	}
	var rec repoRecord
	err = state.Retry(ctx, func() error {
		var rev int64
		var err error
		rec, rev, err = h.repo(ctx, name)
		if err != nil {
			return err
		}
		if !in.Force {
			imgs, err := h.listImages(ctx, name)
			if err != nil {
				return err
			}
			if len(imgs) > 0 {
				return errorf(kindRepositoryNotEmpty, "The repository with name '%s' in registry with id '%s' cannot be deleted because it still contains images", name, h.account)
			}
		}
		_, err = h.store.Txn(ctx, store.Delete(repoKey(name), rev), store.Delete(policyKey(name), store.ExpectAny))
		return err
	})
	if err != nil {
		return nil, err
	}
	// Also without force: a push may have landed between the check and
	// the deletion of the record.
	if err := h.images.DeleteRepository(ctx, name); err != nil && !errors.Is(err, registry.ErrRepositoryNotFound) {
		return nil, fmt.Errorf("repository %s deleted, but not its images: %w", name, err)
	}
	return &repositoryResponse{Repository: h.toWireRepo(&rec)}, nil
}

// listImages lists a repository's images; a repository the registry
// holds nothing for has none.
func (h *Handler) listImages(ctx context.Context, name string) ([]registry.Image, error) {
	imgs, err := h.images.Images(ctx, name)
	if errors.Is(err, registry.ErrRepositoryNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list images of %s: %w", name, err)
	}
	return imgs, nil
}

func (h *Handler) putImageTagMutability(ctx context.Context, in *putImageTagMutabilityRequest) (*putImageTagMutabilityResponse, error) {
	name, err := h.checkRepoRef(in.repoRef)
	if err != nil {
		return nil, err
	}
	m, err := validMutability(in.ImageTagMutability)
	if err != nil {
		return nil, err
	}
	_, err = state.Update(ctx, h.store, repoKey(name), func(r *repoRecord, exists bool) ([]store.Op, error) {
		if !exists {
			return nil, h.errRepoNotFound(name)
		}
		r.ImageTagMutability = m
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	return &putImageTagMutabilityResponse{RegistryID: h.account, RepositoryName: name, ImageTagMutability: m}, nil
}

// repoFromARN returns the repository a resourceArn names:
// arn:<partition>:ecr:<region>:<account>:repository/<name>.
func (h *Handler) repoFromARN(arn *string) (string, error) {
	if arn == nil {
		return "", invalidParam("resourceArn", "must not be null")
	}
	parts := strings.SplitN(*arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] == "" || parts[2] != "ecr" {
		return "", invalidParam("resourceArn", "Invalid ARN")
	}
	name, ok := strings.CutPrefix(parts[5], "repository/")
	if !ok || !repoNameRE.MatchString(name) {
		return "", invalidParam("resourceArn", "Invalid ARN")
	}
	if parts[3] != h.region || parts[4] != h.account {
		return "", errorf(kindRepositoryNotFound, "The repository with name '%s' does not exist in the registry with id '%s'", name, parts[4])
	}
	return name, nil
}

func (h *Handler) tagResource(ctx context.Context, in *tagResourceRequest) (*empty, error) {
	name, err := h.repoFromARN(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	if in.Tags == nil {
		return nil, invalidParam("tags", "must not be null")
	}
	_, err = state.Update(ctx, h.store, repoKey(name), func(r *repoRecord, exists bool) ([]store.Op, error) {
		if !exists {
			return nil, h.errRepoNotFound(name)
		}
		tags, err := mergeTags(*in.ResourceArn, r.Tags, in.Tags)
		r.Tags = tags
		return nil, err
	})
	if err != nil {
		return nil, err
	}
	return &empty{}, nil
}

func (h *Handler) untagResource(ctx context.Context, in *untagResourceRequest) (*empty, error) {
	name, err := h.repoFromARN(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	if in.TagKeys == nil {
		return nil, invalidParam("tagKeys", "must not be null")
	}
	drop := map[string]bool{}
	for _, k := range in.TagKeys {
		if err := validTagKey(k); err != nil {
			return nil, err
		}
		drop[k] = true
	}
	_, err = state.Update(ctx, h.store, repoKey(name), func(r *repoRecord, exists bool) ([]store.Op, error) {
		if !exists {
			return nil, h.errRepoNotFound(name)
		}
		kept := r.Tags[:0]
		for _, t := range r.Tags {
			if !drop[t.Key] {
				kept = append(kept, t)
			}
		}
		r.Tags = kept
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	return &empty{}, nil
}

func (h *Handler) listTagsForResource(ctx context.Context, in *listTagsForResourceRequest) (*listTagsResponse, error) {
	name, err := h.repoFromARN(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	rec, _, err := h.repo(ctx, name)
	if err != nil {
		return nil, err
	}
	out := &listTagsResponse{Tags: make([]tag, 0, len(rec.Tags))}
	for _, t := range rec.Tags {
		out.Tags = append(out.Tags, tag{Key: &t.Key, Value: &t.Value})
	}
	return out, nil
}
