package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/manifest/manifestlist"
	"github.com/distribution/distribution/v3/registry/storage"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// tagPattern is the OCI tag grammar.
var tagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// validName rejects what cannot be a repository name (and so could not
// name a safe storage path) as ErrRepositoryNotFound.
func validName(repo string) error {
	named, err := reference.WithName(repo)
	if err != nil || named.Name() != repo {
		return fmt.Errorf("registry: invalid repository name %q: %w", repo, ErrRepositoryNotFound)
	}
	return nil
}

func validTag(tag string) bool { return tagPattern.MatchString(tag) }

// repository opens repo in the storage namespace.
func (r *Registry) repository(ctx context.Context, repo string) (distribution.Repository, error) {
	named, err := reference.WithName(repo)
	if err != nil {
		return nil, fmt.Errorf("registry: invalid repository name %q: %w", repo, ErrRepositoryNotFound)
	}
	rep, err := r.ns.Repository(ctx, named)
	if err != nil {
		return nil, fmt.Errorf("registry: open %s: %w", repo, err)
	}
	return rep, nil
}

// tagDigest reads the manifest digest tag names in repo, or
// ErrImageNotFound.
func (r *Registry) tagDigest(ctx context.Context, repo, tag string) (digest.Digest, error) {
	if !validTag(tag) {
		return "", fmt.Errorf("registry: invalid tag %q: %w", tag, ErrImageNotFound)
	}
	b, err := r.driver.GetContent(ctx, path.Join(reposRoot, repo, manifestsDir, "tags", tag, "current", "link"))
	if err != nil {
		if isNotFound(err) {
			return "", fmt.Errorf("registry: tag %s:%s: %w", repo, tag, ErrImageNotFound)
		}
		return "", fmt.Errorf("registry: read tag %s:%s: %w", repo, tag, err)
	}
	d, err := digest.Parse(strings.TrimSpace(string(b)))
	if err != nil {
		return "", fmt.Errorf("registry: tag %s:%s link: %w", repo, tag, err)
	}
	return d, nil
}

// tagsByDigest maps each manifest digest of repo to its tags.
func (r *Registry) tagsByDigest(ctx context.Context, repo string) (map[digest.Digest][]string, error) {
	children, err := r.driver.List(ctx, path.Join(reposRoot, repo, manifestsDir, "tags"))
	if err != nil {
		if isNotFound(err) {
			return map[digest.Digest][]string{}, nil
		}
		return nil, fmt.Errorf("registry: list tags of %s: %w", repo, err)
	}
	out := make(map[digest.Digest][]string)
	for _, c := range children {
		tag := path.Base(c)
		d, err := r.tagDigest(ctx, repo, tag)
		if errors.Is(err, ErrImageNotFound) {
			continue // being untagged
		}
		if err != nil {
			return nil, err
		}
		out[d] = append(out[d], tag)
	}
	for _, tags := range out {
		sort.Strings(tags)
	}
	return out, nil
}

// Images lists every manifest stored in repo with its tags. A repository
// nothing was pushed to has no images (and no error).
func (r *Registry) Images(ctx context.Context, repo string) ([]Image, error) {
	if err := validName(repo); err != nil {
		return nil, err
	}
	type revision struct {
		d      digest.Digest
		pushed time.Time
	}
	var revs []revision
	err := r.driver.Walk(ctx, revisionsDir(repo), func(fi storagedriver.FileInfo) error {
		if !fi.IsDir() {
			if d, ok := linkDigest(fi.Path()); ok {
				revs = append(revs, revision{d, fi.ModTime()})
			}
		}
		return nil
	})
	if err != nil && !isNotFound(err) {
		return nil, fmt.Errorf("registry: list manifests of %s: %w", repo, err)
	}
	tags, err := r.tagsByDigest(ctx, repo)
	if err != nil {
		return nil, err
	}
	stored := make(map[digest.Digest]bool, len(revs))
	for _, rv := range revs {
		stored[rv.d] = true
	}
	docs := make(map[digest.Digest]*manifestDoc)
	load := func(d digest.Digest) (*manifestDoc, error) {
		if m, ok := docs[d]; ok {
			return m, nil
		}
		b, err := r.driver.GetContent(ctx, blobDataPath(d))
		if err != nil {
			return nil, err
		}
		m, err := parseManifest(b)
		if err != nil {
			return nil, err
		}
		docs[d] = m
		return m, nil
	}
	images := make([]Image, 0, len(revs))
	for _, rv := range revs {
		m, err := load(rv.d)
		if err != nil {
			if isNotFound(err) {
				continue // deleted underneath us
			}
			return nil, fmt.Errorf("registry: read manifest %s@%s: %w", repo, rv.d, err)
		}
		img := Image{
			Digest:    rv.d.String(),
			MediaType: m.mediaType(),
			Tags:      tags[rv.d],
			PushedAt:  rv.pushed,
		}
		if img.Tags == nil {
			img.Tags = []string{}
		}
		if m.isIndex() {
			for _, c := range m.Manifests {
				cd, err := digest.Parse(c.Digest)
				if err != nil || !stored[cd] {
					continue
				}
				if cm, err := load(cd); err == nil {
					img.SizeBytes += cm.layerBytes()
				}
			}
		} else {
			img.SizeBytes = m.layerBytes()
			if m.Config != nil {
				img.ArtifactMediaType = m.Config.MediaType
			}
		}
		if img.LastPulledAt, err = r.lastPulled(ctx, repo, rv.d); err != nil {
			return nil, err
		}
		images = append(images, img)
	}
	sort.Slice(images, func(i, j int) bool {
		if !images[i].PushedAt.Equal(images[j].PushedAt) {
			return images[i].PushedAt.Before(images[j].PushedAt)
		}
		return images[i].Digest < images[j].Digest
	})
	return images, nil
}

// Manifest returns the manifest ref (a tag or a digest) names in repo:
// its media type, bytes and digest. ErrImageNotFound if there is none.
func (r *Registry) Manifest(ctx context.Context, repo, ref string) (mediaType string, body []byte, dgst string, err error) {
	if err := validName(repo); err != nil {
		return "", nil, "", fmt.Errorf("registry: %s: %w", err, ErrImageNotFound)
	}
	d, err := digest.Parse(ref)
	if err != nil {
		if d, err = r.tagDigest(ctx, repo, ref); err != nil {
			return "", nil, "", err
		}
	}
	if _, err := r.driver.Stat(ctx, revisionLinkPath(repo, d)); err != nil {
		if isNotFound(err) {
			return "", nil, "", fmt.Errorf("registry: manifest %s@%s: %w", repo, d, ErrImageNotFound)
		}
		return "", nil, "", fmt.Errorf("registry: stat manifest %s@%s: %w", repo, d, err)
	}
	body, err = r.driver.GetContent(ctx, blobDataPath(d))
	if err != nil {
		if isNotFound(err) {
			return "", nil, "", fmt.Errorf("registry: manifest blob %s: %w", d, ErrImageNotFound)
		}
		return "", nil, "", fmt.Errorf("registry: read manifest %s: %w", d, err)
	}
	m, err := parseManifest(body)
	if err != nil {
		return "", nil, "", fmt.Errorf("registry: stored manifest %s: %w", d, err)
	}
	return m.mediaType(), body, d.String(), nil
}

// PutManifest stores body as a manifest of repo and, when tag is not
// empty, points tag at it. mediaType may be empty (taken from the body).
// Errors: ErrRepositoryNotFound (from Repos), ErrManifestInvalid for an
// unparsable manifest, a media type mismatch or a bad tag,
// ErrLayersNotFound when referenced blobs or manifests are not in repo,
// ErrTagImmutable when an immutable repository's tag names another
// digest (putting the same digest again is allowed).
func (r *Registry) PutManifest(ctx context.Context, repo, tag, mediaType string, body []byte) (string, error) {
	if err := validName(repo); err != nil {
		return "", err
	}
	if tag != "" && !validTag(tag) {
		return "", fmt.Errorf("registry: invalid tag %q: %w", tag, ErrManifestInvalid)
	}
	settings, err := r.repos.get(ctx, repo)
	if err != nil {
		return "", fmt.Errorf("registry: repository %s: %w", repo, err)
	}
	if len(body) > maxManifestSize {
		return "", fmt.Errorf("registry: manifest of %d bytes: %w", len(body), ErrManifestInvalid)
	}
	if mediaType == "" {
		m, err := parseManifest(body)
		if err != nil {
			return "", fmt.Errorf("registry: %v: %w", err, ErrManifestInvalid)
		}
		mediaType = m.mediaType()
	}
	man, desc, err := distribution.UnmarshalManifest(mediaType, body)
	if err != nil {
		return "", fmt.Errorf("registry: %v: %w", err, ErrManifestInvalid)
	}
	if tag != "" && settings.ImmutableTags {
		unlock := r.lockTag(repo, tag)
		defer unlock()
		if err := r.checkImmutable(ctx, repo, tag, desc.Digest); err != nil {
			return "", err
		}
	}
	r.manifestMu.RLock()
	defer r.manifestMu.RUnlock()
	rep, err := r.repository(ctx, repo)
	if err != nil {
		return "", err
	}
	ms, err := rep.Manifests(ctx)
	if err != nil {
		return "", fmt.Errorf("registry: manifests of %s: %w", repo, err)
	}
	if _, err := ms.Put(ctx, man); err != nil {
		var ve distribution.ErrManifestVerification
		if errors.As(err, &ve) {
			for _, e := range ve {
				var bu distribution.ErrManifestBlobUnknown
				if errors.As(e, &bu) {
					return "", fmt.Errorf("registry: %v: %w", err, ErrLayersNotFound)
				}
			}
			return "", fmt.Errorf("registry: %v: %w", err, ErrManifestInvalid)
		}
		return "", fmt.Errorf("registry: put manifest %s@%s: %w", repo, desc.Digest, err)
	}
	r.noteManifest(ctx, repo, desc.Digest, body)
	if tag != "" {
		if err := rep.Tags(ctx).Tag(ctx, tag, desc); err != nil {
			return "", fmt.Errorf("registry: tag %s:%s: %w", repo, tag, err)
		}
	}
	return desc.Digest.String(), nil
}

// Untag removes tag from repo and returns the digest it named
// (ErrImageNotFound if none). The manifest stays, untagged, as in ECR.
func (r *Registry) Untag(ctx context.Context, repo, tag string) (string, error) {
	if err := validName(repo); err != nil {
		return "", fmt.Errorf("registry: %s: %w", err, ErrImageNotFound)
	}
	r.manifestMu.RLock()
	defer r.manifestMu.RUnlock()
	d, err := r.tagDigest(ctx, repo, tag)
	if err != nil {
		return "", err
	}
	rep, err := r.repository(ctx, repo)
	if err != nil {
		return "", err
	}
	if err := rep.Tags(ctx).Untag(ctx, tag); err != nil {
		var tu distribution.ErrTagUnknown
		if errors.As(err, &tu) || isNotFound(err) {
			return "", fmt.Errorf("registry: tag %s:%s: %w", repo, tag, ErrImageNotFound)
		}
		return "", fmt.Errorf("registry: untag %s:%s: %w", repo, tag, err)
	}
	return d.String(), nil
}

// DeleteManifest removes the manifest dgst from repo and every tag naming
// it (ErrImageNotFound if repo does not hold it). Its blobs are left to
// CollectGarbage.
func (r *Registry) DeleteManifest(ctx context.Context, repo, dgst string) error {
	if err := validName(repo); err != nil {
		return fmt.Errorf("registry: %s: %w", err, ErrImageNotFound)
	}
	d, err := digest.Parse(dgst)
	if err != nil {
		return fmt.Errorf("registry: digest %q: %w", dgst, ErrImageNotFound)
	}
	r.manifestMu.RLock()
	defer r.manifestMu.RUnlock()
	rep, err := r.repository(ctx, repo)
	if err != nil {
		return err
	}
	ms, err := rep.Manifests(ctx)
	if err != nil {
		return fmt.Errorf("registry: manifests of %s: %w", repo, err)
	}
	if err := ms.Delete(ctx, d); err != nil {
		if errors.Is(err, distribution.ErrBlobUnknown) || isNotFound(err) {
			return fmt.Errorf("registry: manifest %s@%s: %w", repo, d, ErrImageNotFound)
		}
		return fmt.Errorf("registry: delete manifest %s@%s: %w", repo, d, err)
	}
	r.noteManifest(ctx, repo, d, nil)
	tags, err := r.tagsByDigest(ctx, repo)
	if err != nil {
		return err
	}
	ts := rep.Tags(ctx)
	for _, tag := range tags[d] {
		if err := ts.Untag(ctx, tag); err != nil && !isNotFound(err) {
			var tu distribution.ErrTagUnknown
			if !errors.As(err, &tu) {
				return fmt.Errorf("registry: untag %s:%s: %w", repo, tag, err)
			}
		}
	}
	if err := r.driver.Delete(ctx, lastPullPath(repo, d)); err != nil && !isNotFound(err) {
		r.log.Warn("registry: delete pull record", "repository", repo, "digest", d, "err", err)
	}
	r.forgetPulls(repo, d)
	return nil
}

// DeleteRepository removes everything repo holds: manifests, tags, blob
// links, uploads in progress and pull records. The blobs themselves are
// left to CollectGarbage. A repository holding nothing is not an error.
func (r *Registry) DeleteRepository(ctx context.Context, repo string) error {
	if err := validName(repo); err != nil {
		return err
	}
	r.manifestMu.RLock()
	defer r.manifestMu.RUnlock()
	if err := storage.NewVacuum(ctx, r.driver).RemoveRepository(repo); err != nil {
		return fmt.Errorf("registry: delete repository %s: %w", repo, err)
	}
	if err := r.driver.Delete(ctx, path.Join(berthRepos, repo, lastPullDir)); err != nil && !isNotFound(err) {
		return fmt.Errorf("registry: delete pull records of %s: %w", repo, err)
	}
	r.forgetPulls(repo, "")
	r.forgetReferrers(repo)
	r.repos.forget(repo)
	return nil
}

// manifestDoc is what the registry reads of any manifest or index.
type manifestDoc struct {
	MediaType string          `json:"mediaType"`
	Config    *descriptorDoc  `json:"config"`
	Layers    []descriptorDoc `json:"layers"`
	Manifests []descriptorDoc `json:"manifests"`
	Subject   *descriptorDoc  `json:"subject"`
}

type descriptorDoc struct {
	MediaType string   `json:"mediaType"`
	Digest    string   `json:"digest"`
	Size      int64    `json:"size"`
	URLs      []string `json:"urls"` // a foreign layer's: not stored here
}

func parseManifest(b []byte) (*manifestDoc, error) {
	var m manifestDoc
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parse manifest: %w", err)
	}
	return &m, nil
}

// mediaType is the declared media type, or the OCI one its shape implies
// (as distribution decides for manifests without one).
func (m *manifestDoc) mediaType() string {
	switch {
	case m.MediaType != "":
		return m.MediaType
	case m.Manifests != nil:
		return v1.MediaTypeImageIndex
	default:
		return v1.MediaTypeImageManifest
	}
}

func (m *manifestDoc) isIndex() bool {
	mt := m.mediaType()
	return mt == v1.MediaTypeImageIndex || mt == manifestlist.MediaTypeManifestList
}

// layerBytes is the size of the layers stored here (ECR's
// imageSizeInBytes leaves foreign layers out).
func (m *manifestDoc) layerBytes() int64 {
	var n int64
	for _, l := range m.Layers {
		if len(l.URLs) == 0 {
			n += l.Size
		}
	}
	return n
}

// references lists every descriptor the manifest names.
func (m *manifestDoc) references() []descriptorDoc {
	refs := make([]descriptorDoc, 0, len(m.Layers)+len(m.Manifests)+2)
	if m.Config != nil {
		refs = append(refs, *m.Config)
	}
	refs = append(refs, m.Layers...)
	refs = append(refs, m.Manifests...)
	if m.Subject != nil {
		refs = append(refs, *m.Subject)
	}
	return refs
}
