package ecr

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/berth/berth/internal/api/wire"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

// Key layout. A repository name may hold '/', and every key under each
// prefix is one record of that kind.
const (
	reposPrefix    = "/ecr/repositories/"
	policiesPrefix = "/ecr/lifecycle-policies/"
)

func repoKey(name string) string   { return reposPrefix + name }
func policyKey(name string) string { return policiesPrefix + name }

const (
	mutabilityMutable   = "MUTABLE"
	mutabilityImmutable = "IMMUTABLE"
)

// repoRecord is a repository as stored.
type repoRecord struct {
	Name               string    `json:"name"`
	CreatedAt          time.Time `json:"createdAt"`
	ImageTagMutability string    `json:"imageTagMutability"`
	ScanOnPush         bool      `json:"scanOnPush"`
	EncryptionType     string    `json:"encryptionType"`
	KmsKey             string    `json:"kmsKey,omitempty"`
	// Tags are sorted by key.
	Tags []storedTag `json:"tags,omitempty"`
}

type storedTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// policyRecord is a repository's lifecycle policy, stored beside the
// repository record and removed with it.
type policyRecord struct {
	Text            string    `json:"text"`
	LastEvaluatedAt time.Time `json:"lastEvaluatedAt,omitzero"`
}

func (h *Handler) getRepo(ctx context.Context, name string) (repoRecord, int64, error) {
	return state.Get[repoRecord](ctx, h.store, repoKey(name))
}

// repo reads the record of an existing repository, named by a validated
// request: RepositoryNotFoundException when there is none.
func (h *Handler) repo(ctx context.Context, name string) (repoRecord, int64, error) {
	rec, rev, err := h.getRepo(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return rec, 0, h.errRepoNotFound(name)
	}
	return rec, rev, err
}

func (h *Handler) arn(name string) string {
	return fmt.Sprintf("arn:aws:ecr:%s:%s:repository/%s", h.region, h.account, name)
}

func (h *Handler) toWireRepo(r *repoRecord) repository {
	return repository{
		RepositoryArn:              h.arn(r.Name),
		RegistryID:                 h.account,
		RepositoryName:             r.Name,
		RepositoryURI:              h.host() + "/" + r.Name,
		CreatedAt:                  wire.NewTime(r.CreatedAt),
		ImageTagMutability:         r.ImageTagMutability,
		ImageScanningConfiguration: &imageScanningConfiguration{ScanOnPush: r.ScanOnPush},
		EncryptionConfiguration:    &encryptionConfiguration{EncryptionType: r.EncryptionType, KmsKey: r.KmsKey},
	}
}

// Validation of request members, with ECR's constraint messages.

const repoNamePattern = `(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*`

var (
	repoNameRE   = regexp.MustCompile(`^` + repoNamePattern + `$`)
	registryIDRE = regexp.MustCompile(`^[0-9]{12}$`)
	digestRE     = regexp.MustCompile(`^[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+$`)
)

func validRepoName(field string, name *string) error {
	if name == nil {
		return invalidParam(field, "must not be null")
	}
	n := *name
	switch {
	case len(n) < 2:
		return invalidParam(field, "must have length greater than or equal to 2")
	case len(n) > 256:
		return invalidParam(field, "must have length less than or equal to 256")
	case !repoNameRE.MatchString(n):
		return invalidParam(field, "must satisfy regular expression '"+repoNamePattern+"'")
	}
	return nil
}

// checkRegistry validates an optional registryId: the only registry here
// is the account's. Another valid id names a registry that holds nothing.
func (h *Handler) checkRegistry(id *string, repoName string) error {
	if id == nil {
		return nil
	}
	if !registryIDRE.MatchString(*id) {
		return invalidParam("registryId", "must satisfy regular expression '[0-9]{12}'")
	}
	if *id != h.account {
		return errorf(kindRepositoryNotFound, "The repository with name '%s' does not exist in the registry with id '%s'", repoName, *id)
	}
	return nil
}

// checkRepoRef validates the registryId and repositoryName of a request
// on one repository and returns the name.
func (h *Handler) checkRepoRef(r repoRef) (string, error) {
	if err := validRepoName("repositoryName", r.RepositoryName); err != nil {
		return "", err
	}
	return *r.RepositoryName, h.checkRegistry(r.RegistryID, *r.RepositoryName)
}

func validMutability(v *string) (string, error) {
	if v == nil {
		return "", invalidParam("imageTagMutability", "must not be null")
	}
	if *v != mutabilityMutable && *v != mutabilityImmutable {
		return "", invalidParam("imageTagMutability", "Member must satisfy enum value set: [IMMUTABLE, MUTABLE]")
	}
	return *v, nil
}

const (
	maxTags        = 50
	maxTagKeyLen   = 128
	maxTagValueLen = 256
)

// mergeTags adds tags to existing (both sorted by key on return), with
// ECR's limits.
func mergeTags(arn string, existing []storedTag, add []tag) ([]storedTag, error) {
	out := append([]storedTag(nil), existing...)
	for _, t := range add {
		if t.Key == nil || t.Value == nil {
			return nil, errorf(kindInvalidTagParameter, "Invalid parameter at 'tags' failed to satisfy constraint: 'every tag must have a Key and a Value'")
		}
		if err := validTagKey(*t.Key); err != nil {
			return nil, err
		}
		if utf8.RuneCountInString(*t.Value) > maxTagValueLen {
			return nil, errorf(kindInvalidTagParameter, "The tag value of key '%s' is longer than %d characters.", *t.Key, maxTagValueLen)
		}
		replaced := false
		for i := range out {
			if out[i].Key == *t.Key {
				out[i].Value = *t.Value
				replaced = true
			}
		}
		if !replaced {
			out = append(out, storedTag{Key: *t.Key, Value: *t.Value})
		}
	}
	if len(out) > maxTags {
		return nil, errorf(kindTooManyTags, "The resource '%s' would have %d tags; at most %d are allowed.", arn, len(out), maxTags)
	}
	sortTags(out)
	return out, nil
}

func validTagKey(k string) error {
	n := utf8.RuneCountInString(k)
	if n < 1 || n > maxTagKeyLen {
		return errorf(kindInvalidTagParameter, "Tag keys must have between 1 and %d characters.", maxTagKeyLen)
	}
	if strings.HasPrefix(strings.ToLower(k), "aws:") {
		return errorf(kindInvalidTagParameter, "The tag key '%s' uses the reserved prefix 'aws:'.", k)
	}
	return nil
}

func sortTags(ts []storedTag) {
	slices.SortFunc(ts, func(a, b storedTag) int { return strings.Compare(a.Key, b.Key) })
}

// Pagination: maxResults 1..1000 (default 100); nextToken opaque, the
// last key returned bound to the listing it came from, so that a token of
// one listing is refused by another.

const (
	defaultMaxResults = 100
	maxMaxResults     = 1000
)

type page struct {
	after string // resume strictly after this key; "" from the start
	limit int
}

func parsePage(scope string, token *string, maxResults *int32) (page, error) {
	p := page{limit: defaultMaxResults}
	if maxResults != nil {
		if *maxResults < 1 || *maxResults > maxMaxResults {
			return p, invalidParam("maxResults", fmt.Sprintf("must be between 1 and %d", maxMaxResults))
		}
		p.limit = int(*maxResults)
	}
	if token == nil || *token == "" {
		return p, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(*token)
	after, ok := strings.CutPrefix(string(raw), scope+"\x00")
	if err != nil || !ok || after == "" {
		return p, invalidParam("nextToken", "the token is invalid or was issued for another request")
	}
	p.after = after
	return p, nil
}

func pageToken(scope, lastKey string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(scope + "\x00" + lastKey))
}
