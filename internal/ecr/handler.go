// Package ecr serves Berth's Amazon ECR API (AWS JSON 1.1, X-Amz-Target
// AmazonEC2ContainerRegistry_V20150921.<Operation>) behind the same front
// door as the ECS API: repositories, their tags, tag mutability and
// lifecycle policies as records in the store, the images themselves
// through the registry (internal/registry), authorization tokens for
// docker login, and the periodic application of lifecycle policies.
//
// The front door authenticates and reads the body; Handler.Call decodes
// it, acts, and returns a value to encode as JSON or an error carrying
// its ECR wire type and HTTP status (errors.go holds the one table).
package ecr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/berth/berth/internal/api/awsjson"
	"github.com/berth/berth/internal/registry"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

// TargetPrefix is the X-Amz-Target prefix of the ECR API.
const TargetPrefix = "AmazonEC2ContainerRegistry_V20150921."

// ImageReader reads what the registry stores in a repository.
type ImageReader interface {
	// Images lists every manifest of repo.
	Images(ctx context.Context, repo string) ([]registry.Image, error)
	// Manifest returns a manifest by tag or digest.
	Manifest(ctx context.Context, repo, ref string) (mediaType string, body []byte, digest string, err error)
}

// ImageWriter changes manifests and tags.
type ImageWriter interface {
	// PutManifest stores a manifest, tagged when tag is not empty.
	PutManifest(ctx context.Context, repo, tag, mediaType string, body []byte) (digest string, err error)
	// Untag removes a tag and returns the digest it named.
	Untag(ctx context.Context, repo, tag string) (digest string, err error)
	// DeleteManifest removes a manifest and every tag naming it.
	DeleteManifest(ctx context.Context, repo, digest string) error
}

// RepositoryRemover deletes everything stored in a repository.
type RepositoryRemover interface {
	DeleteRepository(ctx context.Context, repo string) error
}

// Images is what the API needs of the registry (*registry.Registry).
type Images interface {
	ImageReader
	ImageWriter
	RepositoryRemover
}

// TokenMinter mints the passwords of docker login (*registry.Tokens).
type TokenMinter interface {
	Mint(now time.Time) (password string, expiresAt time.Time)
}

// Config configures a Handler.
type Config struct {
	// Store holds the repository and lifecycle policy records.
	Store  store.Store
	Images Images
	Tokens TokenMinter
	// Region and Account name the registry in ARNs, registryId and
	// messages.
	Region, Account string
	// RegistryHost is the registry's host:port as clients reach it
	// ("127.0.0.1:8830"): repositoryUri is RegistryHost()+"/"+name.
	RegistryHost func() string
	// RegistryScheme is "http" or "https", for proxyEndpoint; nil means
	// "http".
	RegistryScheme func() string
	// Pulls, when set, records the images BatchGetImage returns as pulled
	// (lastRecordedPullTime), as ECR counts them.
	Pulls  PullRecorder
	Now    func() time.Time
	Logger *slog.Logger
}

// PullRecorder notes that an image was pulled (*registry.Registry).
type PullRecorder interface {
	RecordPull(ctx context.Context, repo, digest string) error
}

// Handler serves the ECR API.
type Handler struct {
	store   store.Store
	images  Images
	pulls   PullRecorder
	tokens  TokenMinter
	region  string
	account string
	host    func() string
	scheme  func() string
	now     func() time.Time
	log     *slog.Logger
	ops     map[string]operation
}

// New builds a Handler.
func New(cfg Config) *Handler {
	h := &Handler{store: cfg.Store, images: cfg.Images, pulls: cfg.Pulls, tokens: cfg.Tokens, region: cfg.Region,
		account: cfg.Account, host: cfg.RegistryHost, scheme: cfg.RegistryScheme, now: cfg.Now, log: cfg.Logger}
	if h.host == nil {
		h.host = func() string { return "localhost" }
	}
	if h.scheme == nil {
		h.scheme = func() string { return "http" }
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.ops = operations()
	return h
}

// operation decodes a body, acts and returns the response value.
type operation func(h *Handler, ctx context.Context, body []byte) (any, error)

func op[In, Out any](f func(h *Handler, ctx context.Context, in *In) (*Out, error)) operation {
	return func(h *Handler, ctx context.Context, body []byte) (any, error) {
		in := new(In)
		if err := awsjson.Decode(body, in); err != nil {
			return nil, err
		}
		return f(h, ctx, in)
	}
}

func operations() map[string]operation {
	return map[string]operation{
		"CreateRepository":      op((*Handler).createRepository),
		"DescribeRepositories":  op((*Handler).describeRepositories),
		"DeleteRepository":      op((*Handler).deleteRepository),
		"PutImageTagMutability": op((*Handler).putImageTagMutability),
		"ListImages":            op((*Handler).listImagesOp),
		"DescribeImages":        op((*Handler).describeImages),
		"BatchGetImage":         op((*Handler).batchGetImage),
		"BatchDeleteImage":      op((*Handler).batchDeleteImage),
		"PutImage":              op((*Handler).putImage),
		"GetAuthorizationToken": op((*Handler).getAuthorizationToken),
		"PutLifecyclePolicy":    op((*Handler).putLifecyclePolicy),
		"GetLifecyclePolicy":    op((*Handler).getLifecyclePolicy),
		"DeleteLifecyclePolicy": op((*Handler).deleteLifecyclePolicy),
		"TagResource":           op((*Handler).tagResource),
		"UntagResource":         op((*Handler).untagResource),
		"ListTagsForResource":   op((*Handler).listTagsForResource),
	}
}

// Call runs operation op (the X-Amz-Target without TargetPrefix) on a JSON
// request body. The response value is to be encoded as JSON. Every error
// returned implements interface{ error; WireType() string; WireStatus() int }:
// Error() is the client-facing message; internal causes are logged here
// and reachable with errors.Unwrap, never part of the message.
func (h *Handler) Call(ctx context.Context, op string, body []byte) (any, error) {
	f, ok := h.ops[op]
	if !ok {
		return nil, errorf(kindUnknownOperation, "Unknown operation %q.", TargetPrefix+op)
	}
	out, err := f(h, ctx, body)
	if err != nil {
		return nil, h.toWire(op, err)
	}
	return out, nil
}

// Repository implements registry.Repositories from the records: the
// registry asks it on every push and pull. It is one store read.
func (h *Handler) Repository(ctx context.Context, name string) (registry.RepoSettings, error) {
	return Records{Store: h.store}.Repository(ctx, name)
}

// Records answers the registry's questions about repositories from the
// store alone. It breaks the construction cycle of a server: the registry
// is built with Records as its registry.Repositories, then the Handler
// with that registry as its Images.
type Records struct {
	Store store.Reader
}

// Repository implements registry.Repositories: the settings of the
// repository's record, or registry.ErrRepositoryNotFound (wrapped).
func (r Records) Repository(ctx context.Context, name string) (registry.RepoSettings, error) {
	rec, _, err := state.Get[repoRecord](ctx, r.Store, repoKey(name))
	if errors.Is(err, store.ErrNotFound) {
		return registry.RepoSettings{}, fmt.Errorf("%w: %s", registry.ErrRepositoryNotFound, name)
	}
	if err != nil {
		return registry.RepoSettings{}, err
	}
	return registry.RepoSettings{ImmutableTags: rec.ImageTagMutability == mutabilityImmutable}, nil
}
