// Package registry serves Berth's OCI distribution registry: the CNCF
// distribution library's registry application embedded as an http.Handler
// under /v2/, with ECR's rules around it — Basic-auth tokens from
// GetAuthorizationToken instead of the API's SigV4 keys, pushes only into
// repositories that exist, immutable tags kept — and the image operations
// the ECR API performs on what is stored (list, describe, get, put, delete,
// garbage collection).
package registry

import (
	"context"
	"errors"
	"time"
)

// Errors the image operations return (wrapped); the ECR API maps them to
// its wire errors.
var (
	ErrRepositoryNotFound = errors.New("repository not found")
	ErrImageNotFound      = errors.New("image not found")
	ErrTagImmutable       = errors.New("tag is immutable") // overwriting a tag of an IMMUTABLE repository
	ErrManifestInvalid    = errors.New("manifest invalid") // unparsable manifest, or media type mismatch
	ErrLayersNotFound     = errors.New("layers not found") // a manifest names blobs the repository lacks
	ErrTokenInvalid       = errors.New("token invalid")    // tampered, malformed or of another account
	ErrTokenExpired       = errors.New("token expired")
)

// RepoSettings are what the registry needs to know of an ECR repository
// record when serving a push or a pull.
type RepoSettings struct {
	ImmutableTags bool // imageTagMutability IMMUTABLE
}

// Repositories tells the registry which repositories exist (the ECR API's
// records) and their push rules. Repository returns ErrRepositoryNotFound
// (wrapped) for a name with no record.
type Repositories interface {
	Repository(ctx context.Context, name string) (RepoSettings, error)
}

// Image is one manifest (image or image index) stored in a repository,
// as DescribeImages/ListImages report it.
type Image struct {
	Digest    string   // "sha256:…" of the manifest bytes
	MediaType string   // the manifest's media type
	Tags      []string // sorted; empty for an untagged image
	// ArtifactMediaType is the config descriptor's media type (empty for
	// an index).
	ArtifactMediaType string
	// SizeBytes is the sum of the layer sizes (ECR's imageSizeInBytes);
	// for an index, the sum over its manifests' layers that are stored.
	SizeBytes    int64
	PushedAt     time.Time
	LastPulledAt time.Time // zero: never pulled since the push
}
