package ecr

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/berth/berth/internal/api/wire"
	"github.com/berth/berth/internal/registry"
)

const maxManifestBytes = 4194304

// Manifest media types PutImage infers when the request names none.
const (
	mediaOCIManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaOCIIndex    = "application/vnd.oci.image.index.v1+json"
)

// tagPattern is the OCI distribution tag grammar, which the registry
// enforces; ECR's model only bounds the length (1 to 300).
const tagPattern = `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`

var tagRE = regexp.MustCompile(`^` + tagPattern + `$`)

func (h *Handler) putImage(ctx context.Context, in *putImageRequest) (*putImageResponse, error) {
	name, err := h.checkRepoRef(in.repoRef)
	if err != nil {
		return nil, err
	}
	switch {
	case in.ImageManifest == nil:
		return nil, invalidParam("imageManifest", "must not be null")
	case len(*in.ImageManifest) < 1:
		return nil, invalidParam("imageManifest", "must have length greater than or equal to 1")
	case len(*in.ImageManifest) > maxManifestBytes:
		return nil, invalidParam("imageManifest", fmt.Sprintf("must have length less than or equal to %d", maxManifestBytes))
	}
	body := []byte(*in.ImageManifest)
	tag := ""
	if in.ImageTag != nil {
		if len(*in.ImageTag) < 1 || len(*in.ImageTag) > 300 {
			return nil, invalidParam("imageTag", "must have length between 1 and 300")
		}
		if !tagRE.MatchString(*in.ImageTag) {
			return nil, invalidParam("imageTag", "must satisfy regular expression '"+tagPattern+"'")
		}
		tag = *in.ImageTag
	}
	digest, err := manifestDigest(in.ImageDigest, body)
	if err != nil {
		return nil, err
	}
	mediaType, err := manifestMediaType(in.ImageManifestMediaType, body)
	if err != nil {
		return nil, err
	}
	rec, _, err := h.repo(ctx, name)
	if err != nil {
		return nil, err
	}

	// Nothing would change: ECR refuses the push.
	ref := digest
	if tag != "" {
		ref = tag
	}
	_, _, current, err := h.images.Manifest(ctx, name, ref)
	switch {
	case err == nil && current == digest && tag != "":
		return nil, errorf(kindImageAlreadyExists, "Image with digest '%s' and tag '%s' already exists in the repository with name '%s' in registry with id '%s'", digest, tag, name, h.account)
	case err == nil && current == digest:
		return nil, errorf(kindImageAlreadyExists, "Image with digest '%s' already exists in the repository with name '%s' in registry with id '%s'", digest, name, h.account)
	case err == nil && rec.ImageTagMutability == mutabilityImmutable:
		return nil, h.errTagImmutable(name, tag)
	case err != nil && !errors.Is(err, registry.ErrImageNotFound) && !errors.Is(err, registry.ErrRepositoryNotFound):
		return nil, fmt.Errorf("get manifest %s@%s: %w", name, ref, err)
	}

	stored, err := h.images.PutManifest(ctx, name, tag, mediaType, body)
	switch {
	case errors.Is(err, registry.ErrRepositoryNotFound):
		return nil, h.errRepoNotFound(name)
	case errors.Is(err, registry.ErrTagImmutable):
		return nil, h.errTagImmutable(name, tag)
	case errors.Is(err, registry.ErrLayersNotFound):
		return nil, &apiError{kind: kindLayersNotFound, cause: err,
			msg: fmt.Sprintf("The image manifest names layers that are not in the repository with name '%s' in the registry with id '%s': %v", name, h.account, err)}
	case errors.Is(err, registry.ErrManifestInvalid):
		return nil, &apiError{kind: kindInvalidParameter, cause: err,
			msg: fmt.Sprintf("Invalid parameter at 'imageManifest' failed to satisfy constraint: '%v'", err)}
	case err != nil:
		return nil, fmt.Errorf("put manifest %s:%s: %w", name, tag, err)
	}
	return &putImageResponse{Image: image{
		RegistryID: h.account, RepositoryName: name,
		ImageID:       imageIdentifier{ImageDigest: stored, ImageTag: tag},
		ImageManifest: *in.ImageManifest, ImageManifestMediaType: mediaType,
	}}, nil
}

func (h *Handler) errTagImmutable(repo, tag string) *apiError {
	return errorf(kindImageTagAlreadyExists, "The image tag '%s' already exists in the '%s' repository and cannot be overwritten because the repository is immutable.", tag, repo)
}

// manifestDigest computes the digest of a manifest and checks it against
// the one the client gave, if any.
func manifestDigest(given *string, body []byte) (string, error) {
	sum := sha256.Sum256(body)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	if given == nil {
		return digest, nil
	}
	if !digestRE.MatchString(*given) {
		return "", invalidParam("imageDigest", "must satisfy regular expression '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'")
	}
	if !strings.HasPrefix(*given, "sha256:") {
		return "", invalidParam("imageDigest", "only sha256 digests are supported")
	}
	if !strings.EqualFold(*given, digest) {
		return "", errorf(kindImageDigestDoesNotMatch, "The image digest '%s' does not match the digest '%s' calculated for the image manifest.", *given, digest)
	}
	return digest, nil
}

// manifestMediaType is the media type given, or else the one the manifest
// declares or (as the registry decides too) its shape implies.
func manifestMediaType(given *string, body []byte) (string, error) {
	var m struct {
		MediaType string            `json:"mediaType"`
		Manifests []json.RawMessage `json:"manifests"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return "", invalidParam("imageManifest", "Invalid JSON syntax")
	}
	switch {
	case given != nil && *given != "":
		return *given, nil
	case m.MediaType != "":
		return m.MediaType, nil
	case m.Manifests != nil:
		return mediaOCIIndex, nil
	}
	return mediaOCIManifest, nil
}

func (h *Handler) getAuthorizationToken(ctx context.Context, in *getAuthorizationTokenRequest) (*getAuthorizationTokenResponse, error) {
	// registryIds is deprecated: a token is good for the one registry here,
	// whichever ids are asked for.
	if in.RegistryIDs != nil && (len(in.RegistryIDs) < 1 || len(in.RegistryIDs) > 10) {
		return nil, invalidParam("registryIds", "must have between 1 and 10 members")
	}
	for _, id := range in.RegistryIDs {
		if !registryIDRE.MatchString(id) {
			return nil, invalidParam("registryIds", "must satisfy regular expression '[0-9]{12}'")
		}
	}
	if h.tokens == nil {
		return nil, errors.New("no token minter configured")
	}
	password, expires := h.tokens.Mint(h.now())
	return &getAuthorizationTokenResponse{AuthorizationData: []authorizationData{{
		AuthorizationToken: base64.StdEncoding.EncodeToString([]byte("AWS:" + password)),
		ExpiresAt:          wire.NewTime(expires),
		ProxyEndpoint:      h.scheme() + "://" + h.host(),
	}}}, nil
}
