package ecr

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth/berth/internal/registry"
	"github.com/berth/berth/internal/store/embedded"
)

// fakeImages is an in-memory registry with the rules of the real one that
// the API relies on: pushes only into repositories the records know,
// immutable tags kept, layers must exist (a layer digest starting with
// "sha256:0bad" is missing), manifests must be JSON.
type fakeImages struct {
	mu    sync.Mutex
	repos registry.Repositories
	now   func() time.Time
	data  map[string]*fakeRepo
	// deletedRepos records DeleteRepository calls.
	deletedRepos []string
	// failDeleteManifest, when set, fails DeleteManifest of that digest.
	failDeleteManifest string
}

type fakeRepo struct {
	manifests map[string]*fakeManifest // by digest
	tags      map[string]string        // tag -> digest
}

type fakeManifest struct {
	mediaType, artifactType string
	body                    []byte
	size                    int64
	pushedAt, pulledAt      time.Time
}

func newFakeImages(now func() time.Time) *fakeImages {
	return &fakeImages{now: now, data: map[string]*fakeRepo{}}
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func (f *fakeImages) Images(ctx context.Context, repo string) ([]registry.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.data[repo]
	if r == nil {
		return nil, fmt.Errorf("fake: %w", registry.ErrRepositoryNotFound)
	}
	var out []registry.Image
	for d, m := range r.manifests {
		im := registry.Image{Digest: d, MediaType: m.mediaType, ArtifactMediaType: m.artifactType,
			SizeBytes: m.size, PushedAt: m.pushedAt, LastPulledAt: m.pulledAt}
		for t, td := range r.tags {
			if td == d {
				im.Tags = append(im.Tags, t)
			}
		}
		sort.Strings(im.Tags)
		out = append(out, im)
	}
	return out, nil
}

func (f *fakeImages) Manifest(ctx context.Context, repo, ref string) (string, []byte, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.data[repo]
	if r == nil {
		return "", nil, "", fmt.Errorf("fake: %w", registry.ErrImageNotFound)
	}
	d := ref
	if !strings.Contains(ref, ":") {
		d = r.tags[ref]
	}
	m := r.manifests[d]
	if m == nil {
		return "", nil, "", fmt.Errorf("fake: %s: %w", ref, registry.ErrImageNotFound)
	}
	return m.mediaType, m.body, d, nil
}

func (f *fakeImages) PutManifest(ctx context.Context, repo, tag, mediaType string, body []byte) (string, error) {
	settings, err := f.repos.Repository(ctx, repo)
	if err != nil {
		return "", err
	}
	var man struct {
		MediaType string `json:"mediaType"`
		Config    struct {
			MediaType string `json:"mediaType"`
		} `json:"config"`
		Layers []struct {
			Digest string `json:"digest"`
			Size   int64  `json:"size"`
		} `json:"layers"`
	}
	if err := json.Unmarshal(body, &man); err != nil {
		return "", fmt.Errorf("fake: %w: %v", registry.ErrManifestInvalid, err)
	}
	if man.MediaType != "" && man.MediaType != mediaType {
		return "", fmt.Errorf("fake: %w: media type %s is not %s", registry.ErrManifestInvalid, mediaType, man.MediaType)
	}
	var size int64
	for _, l := range man.Layers {
		if strings.HasPrefix(l.Digest, "sha256:0bad") {
			return "", fmt.Errorf("fake: %w: %s", registry.ErrLayersNotFound, l.Digest)
		}
		size += l.Size
	}
	d := digestOf(body)
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.data[repo]
	if r == nil {
		r = &fakeRepo{manifests: map[string]*fakeManifest{}, tags: map[string]string{}}
		f.data[repo] = r
	}
	if old, ok := r.tags[tag]; tag != "" && ok && old != d && settings.ImmutableTags {
		return "", fmt.Errorf("fake: %w", registry.ErrTagImmutable)
	}
	if r.manifests[d] == nil {
		r.manifests[d] = &fakeManifest{mediaType: mediaType, artifactType: man.Config.MediaType, body: body, size: size, pushedAt: f.now()}
	}
	if tag != "" {
		r.tags[tag] = d
	}
	return d, nil
}

func (f *fakeImages) Untag(ctx context.Context, repo, tag string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.data[repo]
	if r == nil || r.tags[tag] == "" {
		return "", fmt.Errorf("fake: %w", registry.ErrImageNotFound)
	}
	d := r.tags[tag]
	delete(r.tags, tag)
	return d, nil
}

func (f *fakeImages) DeleteManifest(ctx context.Context, repo, digest string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if digest == f.failDeleteManifest {
		return fmt.Errorf("fake: disk on fire")
	}
	r := f.data[repo]
	if r == nil || r.manifests[digest] == nil {
		return fmt.Errorf("fake: %w", registry.ErrImageNotFound)
	}
	delete(r.manifests, digest)
	for t, d := range r.tags {
		if d == digest {
			delete(r.tags, t)
		}
	}
	return nil
}

func (f *fakeImages) DeleteRepository(ctx context.Context, repo string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deletedRepos = append(f.deletedRepos, repo)
	delete(f.data, repo)
	return nil
}

// digests lists what the fake holds in repo, sorted.
func (f *fakeImages) digests(repo string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	if r := f.data[repo]; r != nil {
		for d := range r.manifests {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}

// setPushedAt backdates an image.
func (f *fakeImages) setPushedAt(repo, digest string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data[repo].manifests[digest].pushedAt = at
}

type fakeTokens struct{ expiry time.Duration }

func (t fakeTokens) Mint(now time.Time) (string, time.Time) {
	return "pw-" + now.UTC().Format("150405"), now.Add(t.expiry)
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const (
	testAccount = "123456789012"
	testRegion  = "eu-west-3"
)

type env struct {
	h      *Handler
	images *fakeImages
	clock  *clock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	s, err := embedded.Open(filepath.Join(t.TempDir(), "s.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	imgs := newFakeImages(c.Now)
	h := New(Config{Store: s, Images: imgs, Tokens: fakeTokens{12 * time.Hour}, Region: testRegion, Account: testAccount,
		RegistryHost: func() string { return "127.0.0.1:8830" }, Now: c.Now, Logger: slog.New(slog.DiscardHandler)})
	imgs.repos = h
	return &env{h: h, images: imgs, clock: c}
}

// manifest builds a distinct OCI image manifest; a layer named "0bad…"
// is one the fake registry lacks.
func manifest(seed string, layers ...string) string {
	type desc struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
		Size      int64  `json:"size"`
	}
	m := struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
		Config        desc   `json:"config"`
		Layers        []desc `json:"layers"`
	}{2, mediaOCIManifest, desc{"application/vnd.oci.image.config.v1+json", digestOf([]byte(seed)), 10}, []desc{}}
	for _, l := range layers {
		m.Layers = append(m.Layers, desc{"application/vnd.oci.image.layer.v1.tar+gzip", l, 100})
	}
	b, _ := json.Marshal(m)
	return string(b)
}
