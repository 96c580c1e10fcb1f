package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"

	"github.com/distribution/distribution/v3/registry/api/errcode"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// The referrers API of the OCI distribution spec v1.1, which the
// distribution library lacks: GET /v2/<name>/referrers/<digest> lists the
// manifests of <name> whose subject is <digest>, and a manifest PUT with a
// subject answers OCI-Subject.
//
// The answers come from an in-memory index per repository (subject →
// referrer descriptors), built on the repository's first referrers query
// by reading each of its manifests once, then kept current by every
// manifest write the registry makes: HTTP PUT and DELETE, PutManifest,
// DeleteManifest, DeleteRepository. (The collector never removes a
// manifest.) A write does not update the index blindly: after its storage
// operation it reconciles the manifest's entry with storage (is the
// revision link there?) under the repository's index lock, so that of
// two racing writes of one manifest the later reconciliation, which runs
// after both storage operations, sets the final state. Repositories never
// queried cost nothing; a write to one is a map lookup.

// maxIndexedRepos bounds the repositories indexed at once; past it the
// whole index is dropped and rebuilt lazily.
const maxIndexedRepos = 1024

// Headers of the referrers API.
const (
	headerOCISubject     = "OCI-Subject"
	headerFiltersApplied = "OCI-Filters-Applied"
)

// referrerIndex is the registry's index of referrers, per repository.
type referrerIndex struct {
	mu    sync.Mutex
	repos map[string]*repoReferrers
}

// repoReferrers indexes one repository. mu is held while it is built and
// while an entry is reconciled.
type repoReferrers struct {
	mu        sync.Mutex
	built     bool
	bySubject map[digest.Digest]map[digest.Digest]v1.Descriptor
	subjectOf map[digest.Digest]digest.Digest // referrer → its subject
}

// lookup returns repo's index, creating an empty (unbuilt) one if create
// is set; nil if there is none and create is not set.
func (x *referrerIndex) lookup(repo string, create bool) *repoReferrers {
	x.mu.Lock()
	defer x.mu.Unlock()
	if rr, ok := x.repos[repo]; ok || !create {
		return rr
	}
	if x.repos == nil || len(x.repos) >= maxIndexedRepos {
		x.repos = make(map[string]*repoReferrers)
	}
	rr := &repoReferrers{}
	x.repos[repo] = rr
	return rr
}

// drop forgets repo's index (rebuilt on its next query).
func (x *referrerIndex) drop(repo string, rr *repoReferrers) {
	x.mu.Lock()
	if rr == nil || x.repos[repo] == rr {
		delete(x.repos, repo)
	}
	x.mu.Unlock()
}

// set records d as a referrer of subj (replacing what d was before). The
// caller holds rr.mu.
func (rr *repoReferrers) set(d, subj digest.Digest, desc v1.Descriptor) {
	rr.remove(d)
	m := rr.bySubject[subj]
	if m == nil {
		m = make(map[digest.Digest]v1.Descriptor)
		rr.bySubject[subj] = m
	}
	m[d] = desc
	rr.subjectOf[d] = subj
}

// remove forgets referrer d. The caller holds rr.mu.
func (rr *repoReferrers) remove(d digest.Digest) {
	subj, ok := rr.subjectOf[d]
	if !ok {
		return
	}
	delete(rr.subjectOf, d)
	delete(rr.bySubject[subj], d)
	if len(rr.bySubject[subj]) == 0 {
		delete(rr.bySubject, subj)
	}
}

// referrerDoc is what the index reads of a manifest beyond manifestDoc.
type referrerDoc struct {
	manifestDoc
	ArtifactType string            `json:"artifactType"`
	Annotations  map[string]string `json:"annotations"`
}

// referrerOf returns the descriptor listing manifest body (of digest d)
// among the referrers of its subject, and that subject; ok is false when
// the manifest has no (valid) subject.
func referrerOf(d digest.Digest, body []byte) (desc v1.Descriptor, subj digest.Digest, ok bool) {
	var m referrerDoc
	if json.Unmarshal(body, &m) != nil || m.Subject == nil {
		return v1.Descriptor{}, "", false
	}
	subj, err := digest.Parse(m.Subject.Digest)
	if err != nil {
		return v1.Descriptor{}, "", false
	}
	at := m.ArtifactType
	if at == "" && !m.isIndex() && m.Config != nil {
		at = m.Config.MediaType // an image manifest without artifactType
	}
	desc = v1.Descriptor{
		MediaType:    m.mediaType(),
		Digest:       d,
		Size:         int64(len(body)),
		ArtifactType: at,
	}
	if len(m.Annotations) > 0 {
		desc.Annotations = m.Annotations
	}
	return desc, subj, true
}

// subjectOfBody returns the subject digest a manifest body names, or "".
func subjectOfBody(body []byte) string {
	if _, subj, ok := referrerOf("", body); ok {
		return subj.String()
	}
	return ""
}

// build reads every manifest of repo into rr. The caller holds rr.mu.
func (r *Registry) buildReferrers(ctx context.Context, repo string, rr *repoReferrers) error {
	var revs []digest.Digest
	err := r.driver.Walk(ctx, revisionsDir(repo), func(fi storagedriver.FileInfo) error {
		if !fi.IsDir() {
			if d, ok := linkDigest(fi.Path()); ok {
				revs = append(revs, d)
			}
		}
		return nil
	})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("registry: list manifests of %s: %w", repo, err)
	}
	rr.bySubject = make(map[digest.Digest]map[digest.Digest]v1.Descriptor)
	rr.subjectOf = make(map[digest.Digest]digest.Digest)
	for _, d := range revs {
		body, err := r.driver.GetContent(ctx, blobDataPath(d))
		if err != nil {
			if isNotFound(err) {
				continue // deleted and collected underneath us
			}
			return fmt.Errorf("registry: read manifest %s@%s: %w", repo, d, err)
		}
		if desc, subj, ok := referrerOf(d, body); ok {
			rr.set(d, subj, desc)
		}
	}
	rr.built = true
	return nil
}

// referrers returns the descriptors of the manifests of repo whose
// subject is subj, sorted by digest; artifactType, when not empty, keeps
// only those of that artifact type.
func (r *Registry) referrers(ctx context.Context, repo string, subj digest.Digest, artifactType string) ([]v1.Descriptor, error) {
	rr := r.referrerIdx.lookup(repo, true)
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if !rr.built {
		if err := r.buildReferrers(ctx, repo, rr); err != nil {
			return nil, err
		}
	}
	out := make([]v1.Descriptor, 0, len(rr.bySubject[subj]))
	for _, desc := range rr.bySubject[subj] {
		if artifactType == "" || desc.ArtifactType == artifactType {
			out = append(out, desc)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Digest < out[j].Digest })
	return out, nil
}

// noteManifest brings the index entry of manifest d of repo in line with
// storage after a write or delete of it. body, when not nil, is the
// manifest's content (saves reading it). Nothing is done for a
// repository not indexed; on a storage error the repository's index is
// dropped, to be rebuilt by its next query.
func (r *Registry) noteManifest(ctx context.Context, repo string, d digest.Digest, body []byte) {
	rr := r.referrerIdx.lookup(repo, false)
	if rr == nil {
		return
	}
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if !rr.built {
		return // its build, to come, reads storage as it is now
	}
	_, err := r.driver.Stat(ctx, revisionLinkPath(repo, d))
	switch {
	case isNotFound(err):
		rr.remove(d)
		return
	case err != nil:
		r.log.Warn("registry: referrers index: stat manifest", "repository", repo, "digest", d, "err", err)
		r.referrerIdx.drop(repo, rr)
		return
	}
	if body == nil {
		if body, err = r.driver.GetContent(ctx, blobDataPath(d)); err != nil {
			r.log.Warn("registry: referrers index: read manifest", "repository", repo, "digest", d, "err", err)
			r.referrerIdx.drop(repo, rr)
			return
		}
	}
	if desc, subj, ok := referrerOf(d, body); ok {
		rr.set(d, subj, desc)
	} else {
		rr.remove(d)
	}
}

// forgetReferrers drops repo's index after the repository was deleted.
func (r *Registry) forgetReferrers(repo string) { r.referrerIdx.drop(repo, nil) }

// serveReferrers answers GET (or HEAD) /v2/<name>/referrers/<digest>
// with an OCI image index of the referrers: 200 even when there are none
// or the digest is unknown, 400 DIGEST_INVALID for a malformed digest.
// An artifactType query parameter filters, and OCI-Filters-Applied says
// so. The answer is not paginated.
func (r *Registry) serveReferrers(w http.ResponseWriter, req *http.Request, rt route) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, errcode.ErrorCodeUnsupported.WithMessage("The operation is unsupported.").
			WithDetail("referrers are read with GET"))
		return
	}
	subj, err := digest.Parse(rt.ref)
	if err != nil {
		writeError(w, errcode.ErrorCodeDigestInvalid.WithDetail(err.Error()))
		return
	}
	artifactType := req.URL.Query().Get("artifactType")
	descs, err := r.referrers(req.Context(), rt.name, subj, artifactType)
	if err != nil {
		r.log.Error("registry: referrers", "repository", rt.name, "subject", subj, "err", err)
		writeError(w, errcode.ErrorCodeUnknown.WithDetail("listing referrers failed"))
		return
	}
	body, err := json.Marshal(v1.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageIndex,
		Manifests: descs,
	})
	if err != nil {
		writeError(w, errcode.ErrorCodeUnknown.WithDetail("encoding referrers failed"))
		return
	}
	h := w.Header()
	h.Set("Docker-Distribution-API-Version", "registry/2.0")
	h.Set("Content-Type", v1.MediaTypeImageIndex)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if artifactType != "" {
		h.Set(headerFiltersApplied, "artifactType")
	}
	w.WriteHeader(http.StatusOK)
	if req.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}

// subjectWriter adds OCI-Subject to a successful manifest PUT's answer.
type subjectWriter struct {
	statusRecorder
	subject string
}

func (s *subjectWriter) WriteHeader(code int) {
	if s.status == 0 && code == http.StatusCreated && s.subject != "" {
		s.Header().Set(headerOCISubject, s.subject)
	}
	s.statusRecorder.WriteHeader(code)
}
