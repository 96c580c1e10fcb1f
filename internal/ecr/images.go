package ecr

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/berth/berth/internal/api/wire"
	"github.com/berth/berth/internal/registry"
)

// Image listings are ordered by digest (and tag), which is also their
// paging key: stable while images come and go between pages.

const (
	tagStatusTagged   = "TAGGED"
	tagStatusUntagged = "UNTAGGED"
	tagStatusAny      = "ANY"
)

func validTagStatus(f *tagStatusFilter) (string, error) {
	if f == nil || f.TagStatus == nil {
		return tagStatusAny, nil
	}
	switch *f.TagStatus {
	case tagStatusTagged, tagStatusUntagged, tagStatusAny:
		return *f.TagStatus, nil
	}
	return "", invalidParam("filter.tagStatus", "Member must satisfy enum value set: [TAGGED, UNTAGGED, ANY]")
}

func keepByStatus(status string, tagged bool) bool {
	return status == tagStatusAny || (status == tagStatusTagged) == tagged
}

// repoImages checks that the repository exists and lists its images by
// digest.
func (h *Handler) repoImages(ctx context.Context, r repoRef) (string, []registry.Image, error) {
	name, err := h.checkRepoRef(r)
	if err != nil {
		return "", nil, err
	}
	if _, _, err := h.repo(ctx, name); err != nil {
		return "", nil, err
	}
	imgs, err := h.listImages(ctx, name)
	if err != nil {
		return "", nil, err
	}
	slices.SortFunc(imgs, func(a, b registry.Image) int { return cmp.Compare(a.Digest, b.Digest) })
	return name, imgs, nil
}

func (h *Handler) listImagesOp(ctx context.Context, in *listImagesRequest) (*listImagesResponse, error) {
	status, err := validTagStatus(in.Filter)
	if err != nil {
		return nil, err
	}
	name, imgs, err := h.repoImages(ctx, in.repoRef)
	if err != nil {
		return nil, err
	}
	scope := "ListImages/" + name + "/" + status
	p, err := parsePage(scope, in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	// One identifier per tag; an untagged image by its digest alone.
	var ids []imageIdentifier
	for _, im := range imgs {
		if !keepByStatus(status, len(im.Tags) > 0) {
			continue
		}
		if len(im.Tags) == 0 {
			ids = append(ids, imageIdentifier{ImageDigest: im.Digest})
		}
		for _, t := range slices.Sorted(slices.Values(im.Tags)) {
			ids = append(ids, imageIdentifier{ImageDigest: im.Digest, ImageTag: t})
		}
	}
	key := func(id imageIdentifier) string { return id.ImageDigest + "\x00" + id.ImageTag }
	start := sort.Search(len(ids), func(i int) bool { return p.after == "" || key(ids[i]) > p.after })
	out := &listImagesResponse{ImageIDs: []imageIdentifier{}}
	for i := start; i < len(ids); i++ {
		if len(out.ImageIDs) == p.limit {
			out.NextToken = pageToken(scope, key(ids[i-1]))
			break
		}
		out.ImageIDs = append(out.ImageIDs, ids[i])
	}
	return out, nil
}

func (h *Handler) describeImages(ctx context.Context, in *describeImagesRequest) (*describeImagesResponse, error) {
	status, err := validTagStatus(in.Filter)
	if err != nil {
		return nil, err
	}
	if in.ImageIDs != nil {
		switch {
		case len(in.ImageIDs) < 1 || len(in.ImageIDs) > 100:
			return nil, invalidParam("imageIds", "must have between 1 and 100 members")
		case in.NextToken != nil:
			return nil, invalidParam("nextToken", "cannot be used with imageIds")
		case in.MaxResults != nil:
			return nil, invalidParam("maxResults", "cannot be used with imageIds")
		}
	}
	name, imgs, err := h.repoImages(ctx, in.repoRef)
	if err != nil {
		return nil, err
	}
	out := &describeImagesResponse{ImageDetails: []imageDetail{}}
	if in.ImageIDs != nil {
		seen := map[string]bool{}
		for _, id := range in.ImageIDs {
			im := findImage(imgs, id)
			if im == nil {
				return nil, h.errImageNotFound(name, id)
			}
			if !seen[im.Digest] {
				seen[im.Digest] = true
				out.ImageDetails = append(out.ImageDetails, h.detail(name, im))
			}
		}
		return out, nil
	}
	scope := "DescribeImages/" + name + "/" + status
	p, err := parsePage(scope, in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	start := sort.Search(len(imgs), func(i int) bool { return imgs[i].Digest > p.after })
	for i := start; i < len(imgs); i++ {
		if !keepByStatus(status, len(imgs[i].Tags) > 0) {
			continue
		}
		if len(out.ImageDetails) == p.limit {
			out.NextToken = pageToken(scope, out.ImageDetails[p.limit-1].ImageDigest)
			break
		}
		out.ImageDetails = append(out.ImageDetails, h.detail(name, &imgs[i]))
	}
	return out, nil
}

// findImage returns the image an identifier names: by digest (whose tags
// must then include the tag, if one is given) or by tag.
func findImage(imgs []registry.Image, id requestImageID) *registry.Image {
	for i := range imgs {
		im := &imgs[i]
		switch {
		case id.ImageDigest != nil:
			if im.Digest == *id.ImageDigest && (id.ImageTag == nil || slices.Contains(im.Tags, *id.ImageTag)) {
				return im
			}
		case id.ImageTag != nil:
			if slices.Contains(im.Tags, *id.ImageTag) {
				return im
			}
		}
	}
	return nil
}

func (h *Handler) errImageNotFound(repo string, id requestImageID) *apiError {
	show := func(s *string) string {
		if s == nil {
			return "null"
		}
		return "'" + *s + "'"
	}
	return errorf(kindImageNotFound, "The image with imageId {imageDigest:%s, imageTag:%s} does not exist within the repository with name '%s' in the registry with id '%s'",
		show(id.ImageDigest), show(id.ImageTag), repo, h.account)
}

func (h *Handler) detail(repo string, im *registry.Image) imageDetail {
	d := imageDetail{
		RegistryID: h.account, RepositoryName: repo, ImageDigest: im.Digest,
		ImageTags: slices.Sorted(slices.Values(im.Tags)), ImageSizeInBytes: im.SizeBytes,
		ImageManifestMediaType: im.MediaType, ArtifactMediaType: im.ArtifactMediaType,
	}
	if !im.PushedAt.IsZero() {
		d.ImagePushedAt = wire.NewTime(im.PushedAt)
	}
	if !im.LastPulledAt.IsZero() {
		d.LastRecordedPullTime = wire.NewTime(im.LastPulledAt)
	}
	return d
}

// Failure codes and reasons of BatchGetImage and BatchDeleteImage.
const (
	failImageNotFound  = "ImageNotFound"
	failTagNotDigest   = "ImageTagDoesNotMatchDigest"
	failInvalidDigest  = "InvalidImageDigest"
	failInvalidTag     = "InvalidImageTag"
	failMissingDigTag  = "MissingDigestAndTag"
	reasonNotFound     = "Requested image not found"
	reasonTagNotDigest = "Invalid request parameters: given tag does not map to the given digest"
)

// checkImageID validates one identifier of a batch; a non-nil result is
// its failure.
func checkImageID(id requestImageID) *imageFailure {
	fail := func(code, reason string) *imageFailure {
		return &imageFailure{ImageID: id.echo(), FailureCode: code, FailureReason: reason}
	}
	switch {
	case id.ImageDigest == nil && id.ImageTag == nil:
		return fail(failMissingDigTag, "Invalid request parameters: both tag and digest cannot be null")
	case id.ImageDigest != nil && !digestRE.MatchString(*id.ImageDigest):
		return fail(failInvalidDigest, "Invalid request parameters: image digest should satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'")
	case id.ImageTag != nil && (len(*id.ImageTag) < 1 || len(*id.ImageTag) > 300):
		return fail(failInvalidTag, "Invalid request parameters: image tag should have between 1 and 300 characters")
	}
	return nil
}

func checkBatch(ids []requestImageID) error {
	if len(ids) < 1 {
		return invalidParam("imageIds", "must have length greater than or equal to 1")
	}
	if len(ids) > 100 {
		return invalidParam("imageIds", "must have length less than or equal to 100")
	}
	return nil
}

func (h *Handler) batchGetImage(ctx context.Context, in *batchGetImageRequest) (*batchGetImageResponse, error) {
	if err := checkBatch(in.ImageIDs); err != nil {
		return nil, err
	}
	if in.AcceptedMediaTypes != nil && (len(in.AcceptedMediaTypes) < 1 || len(in.AcceptedMediaTypes) > 100) {
		return nil, invalidParam("acceptedMediaTypes", "must have between 1 and 100 members")
	}
	name, err := h.checkRepoRef(in.repoRef)
	if err != nil {
		return nil, err
	}
	if _, _, err := h.repo(ctx, name); err != nil {
		return nil, err
	}
	out := &batchGetImageResponse{Images: []image{}, Failures: []imageFailure{}}
	seen := map[imageIdentifier]bool{}
	for _, id := range in.ImageIDs {
		if f := checkImageID(id); f != nil {
			out.Failures = append(out.Failures, *f)
			continue
		}
		if seen[id.echo()] {
			continue
		}
		seen[id.echo()] = true
		im, f, err := h.getImage(ctx, name, id, in.AcceptedMediaTypes)
		if err != nil {
			return nil, err
		}
		if f != nil {
			out.Failures = append(out.Failures, *f)
			continue
		}
		out.Images = append(out.Images, *im)
	}
	return out, nil
}

// getImage fetches one manifest for BatchGetImage.
func (h *Handler) getImage(ctx context.Context, repo string, id requestImageID, accepted []string) (*image, *imageFailure, error) {
	ref := ""
	if id.ImageTag != nil {
		ref = *id.ImageTag
	} else {
		ref = *id.ImageDigest
	}
	mediaType, body, digest, err := h.images.Manifest(ctx, repo, ref)
	if errors.Is(err, registry.ErrImageNotFound) || errors.Is(err, registry.ErrRepositoryNotFound) {
		return nil, &imageFailure{ImageID: id.echo(), FailureCode: failImageNotFound, FailureReason: reasonNotFound}, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("get manifest %s@%s: %w", repo, ref, err)
	}
	if id.ImageDigest != nil && id.ImageTag != nil && digest != *id.ImageDigest {
		return nil, &imageFailure{ImageID: id.echo(), FailureCode: failTagNotDigest, FailureReason: reasonTagNotDigest}, nil
	}
	if accepted != nil && !slices.Contains(accepted, mediaType) {
		// Berth does not convert manifests between formats.
		return nil, &imageFailure{ImageID: id.echo(), FailureCode: failImageNotFound,
			FailureReason: fmt.Sprintf("Requested image not found in an accepted media type: its manifest is %s", mediaType)}, nil
	}
	if h.pulls != nil {
		if err := h.pulls.RecordPull(ctx, repo, digest); err != nil {
			h.log.Warn("could not record an image pull", "repository", repo, "digest", digest, "err", err)
		}
	}
	im := &image{RegistryID: h.account, RepositoryName: repo, ImageID: imageIdentifier{ImageDigest: digest},
		ImageManifest: string(body), ImageManifestMediaType: mediaType}
	if id.ImageTag != nil {
		im.ImageID.ImageTag = *id.ImageTag
	}
	return im, nil, nil
}

// batchDeleteImage follows ECR: a digest deletes the image with all its
// tags (reported one identifier per tag); a tag removes that tag, and the
// image with it when it was the last one.
func (h *Handler) batchDeleteImage(ctx context.Context, in *batchDeleteImageRequest) (*batchDeleteImageResponse, error) {
	if err := checkBatch(in.ImageIDs); err != nil {
		return nil, err
	}
	name, imgs, err := h.repoImages(ctx, in.repoRef)
	if err != nil {
		return nil, err
	}
	out := &batchDeleteImageResponse{ImageIDs: []imageIdentifier{}, Failures: []imageFailure{}}
	notFound := func(id requestImageID) {
		out.Failures = append(out.Failures, imageFailure{ImageID: id.echo(), FailureCode: failImageNotFound, FailureReason: reasonNotFound})
	}
	for _, id := range in.ImageIDs {
		if f := checkImageID(id); f != nil {
			out.Failures = append(out.Failures, *f)
			continue
		}
		if id.ImageDigest == nil {
			deleted, err := h.deleteTag(ctx, name, *id.ImageTag, imgs)
			if err != nil {
				return nil, err
			}
			if deleted == nil {
				notFound(id)
				continue
			}
			out.ImageIDs = append(out.ImageIDs, *deleted)
			continue
		}
		im := findImage(imgs, requestImageID{ImageDigest: id.ImageDigest})
		if im == nil || im.Digest == "" {
			notFound(id)
			continue
		}
		if id.ImageTag != nil && !slices.Contains(im.Tags, *id.ImageTag) {
			out.Failures = append(out.Failures, imageFailure{ImageID: id.echo(), FailureCode: failTagNotDigest, FailureReason: reasonTagNotDigest})
			continue
		}
		err := h.images.DeleteManifest(ctx, name, im.Digest)
		if errors.Is(err, registry.ErrImageNotFound) {
			notFound(id)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("delete manifest %s@%s: %w", name, im.Digest, err)
		}
		if len(im.Tags) == 0 {
			out.ImageIDs = append(out.ImageIDs, imageIdentifier{ImageDigest: im.Digest})
		}
		for _, t := range slices.Sorted(slices.Values(im.Tags)) {
			out.ImageIDs = append(out.ImageIDs, imageIdentifier{ImageDigest: im.Digest, ImageTag: t})
		}
		*im = registry.Image{} // gone for the identifiers after this one
	}
	return out, nil
}

// deleteTag untags tag and, when that was the image's last tag as imgs
// knew it, deletes the image. It returns nil when no image has the tag,
// and keeps imgs up to date.
func (h *Handler) deleteTag(ctx context.Context, repo, tag string, imgs []registry.Image) (*imageIdentifier, error) {
	digest, err := h.images.Untag(ctx, repo, tag)
	if errors.Is(err, registry.ErrImageNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("untag %s:%s: %w", repo, tag, err)
	}
	im := findImage(imgs, requestImageID{ImageDigest: &digest})
	if im != nil {
		im.Tags = slices.DeleteFunc(slices.Clone(im.Tags), func(t string) bool { return t == tag })
		if len(im.Tags) == 0 {
			err := h.images.DeleteManifest(ctx, repo, digest)
			if err != nil && !errors.Is(err, registry.ErrImageNotFound) {
				return nil, fmt.Errorf("delete manifest %s@%s after removing its last tag: %w", repo, digest, err)
			}
			*im = registry.Image{}
		}
	}
	return &imageIdentifier{ImageDigest: digest, ImageTag: tag}, nil
}
