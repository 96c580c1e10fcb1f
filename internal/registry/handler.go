package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/distribution/distribution/v3/registry/api/errcode"
	"github.com/opencontainers/go-digest"
)

// ECR's messages.
const (
	msgNotAuthorized = "Not Authorized"
	msgTokenExpired  = "Your authorization token has expired. Reauthenticate and try again."
)

// maxManifestSize is the largest manifest accepted (as distribution).
const maxManifestSize = 4 << 20

// repoCacheTTL is how long a positive Repos answer is reused. Negative
// answers are not cached, so a repository is pushable as soon as it is
// created; a deleted repository (or a changed tag mutability) may be
// served by its old answer for up to this long.
const repoCacheTTL = 2 * time.Second

// ServeHTTP serves the OCI distribution API under /v2/. In front of the
// distribution application it checks, in this order:
//
//   - authentication, on every request including GET /v2/: Basic auth
//     with user "AWS" and a password from Tokens. Every failure is 401
//     UNAUTHORIZED with a Basic challenge (so clients retry through their
//     credential helper); an expired token says so in ECR's words.
//     ECR itself answers some of these 403 DENIED; Berth keeps 401 so
//     that a client's ping/login flow always sees the challenge.
//   - the repository of /v2/<name>/... must have a record (404
//     NAME_UNKNOWN with ECR's message otherwise); /v2/ and /v2/_catalog
//     name no repository.
//   - a manifest PUT by tag into an immutable repository must not move an
//     existing tag (400 TAG_INVALID); re-putting the same digest is allowed.
//
// It serves the OCI referrers API itself (referrers.go): GET
// /v2/<name>/referrers/<digest>, and OCI-Subject on a manifest PUT.
//
// It also records blob use for the garbage collector and manifest pulls
// for LastPulledAt. Blob bodies stream straight through.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if msg, detail, ok := r.authenticate(req); !ok {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Basic realm=%q,service="ecr.amazonaws.com"`, r.cfg.Realm))
		writeError(w, errcode.ErrorCodeUnauthorized.WithMessage(msg).WithDetail(detail))
		return
	}
	rt := parseRoute(req.URL.Path)
	if rt.kind == routeOther {
		r.app.ServeHTTP(w, req)
		return
	}
	settings, err := r.repos.get(req.Context(), rt.name)
	if err != nil {
		if errors.Is(err, ErrRepositoryNotFound) {
			writeError(w, errcode.ErrorCodeNameUnknown.WithMessage(fmt.Sprintf(
				"The repository with name '%s' does not exist in the registry with id '%s'", rt.name, r.cfg.Account)))
			return
		}
		r.log.Error("registry: repository lookup", "repository", rt.name, "err", err)
		writeError(w, errcode.ErrorCodeUnknown.WithDetail("repository lookup failed"))
		return
	}
	switch rt.kind {
	case routeBlob:
		if d, err := digest.Parse(rt.ref); err == nil {
			r.touch(d)
		}
	case routeUpload:
		if req.Method == http.MethodPost || req.Method == http.MethodPut {
			q := req.URL.Query()
			for _, k := range [...]string{"digest", "mount"} {
				if d, err := digest.Parse(q.Get(k)); err == nil {
					r.touch(d)
				}
			}
		}
	case routeManifest:
		switch req.Method {
		case http.MethodGet:
			rec := &statusRecorder{ResponseWriter: w}
			r.app.ServeHTTP(rec, req)
			if rec.status == http.StatusOK {
				if d, err := digest.Parse(rec.Header().Get("Docker-Content-Digest")); err == nil {
					r.recordPull(req.Context(), rt.name, d)
				}
			}
			return
		case http.MethodPut:
			r.putManifest(w, req, rt, settings)
			return
		case http.MethodDelete:
			r.manifestMu.RLock()
			defer r.manifestMu.RUnlock()
			r.app.ServeHTTP(w, req)
			if d, err := digest.Parse(rt.ref); err == nil {
				r.noteManifest(req.Context(), rt.name, d, nil)
			}
			return
		}
	case routeReferrers:
		r.serveReferrers(w, req, rt)
		return
	}
	r.app.ServeHTTP(w, req)
}

// authenticate checks the Basic credentials; on failure it returns the
// message and detail to answer with.
func (r *Registry) authenticate(req *http.Request) (msg, detail string, ok bool) {
	user, pass, ok := req.BasicAuth()
	switch {
	case !ok:
		return msgNotAuthorized, "basic credentials required", false
	case user != "AWS":
		return msgNotAuthorized, "user must be AWS", false
	}
	if err := r.cfg.Tokens.Verify(pass, r.now()); err != nil {
		if errors.Is(err, ErrTokenExpired) {
			return msgTokenExpired, "token expired", false
		}
		return msgNotAuthorized, "invalid token", false
	}
	return "", "", true
}

// writeError answers with the registry's standard error JSON.
func writeError(w http.ResponseWriter, err errcode.Error) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	_ = errcode.ServeJSON(w, err)
}

// putManifest handles PUT /v2/<name>/manifests/<reference>: the body is
// read first (manifests are small), then the immutability check and the
// put run under the tag's lock, and the put under the GC lock.
func (r *Registry) putManifest(w http.ResponseWriter, req *http.Request, rt route, settings RepoSettings) {
	body, err := io.ReadAll(io.LimitReader(req.Body, maxManifestSize+1))
	if err != nil {
		writeError(w, errcode.ErrorCodeManifestInvalid.WithDetail("reading body: "+err.Error()))
		return
	}
	if len(body) > maxManifestSize {
		writeError(w, errcode.ErrorCodeManifestInvalid.WithDetail("manifest larger than 4 MiB"))
		return
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	if _, err := digest.Parse(rt.ref); err != nil && settings.ImmutableTags {
		unlock := r.lockTag(rt.name, rt.ref)
		defer unlock()
		if err := r.checkImmutable(req.Context(), rt.name, rt.ref, digest.FromBytes(body)); err != nil {
			if errors.Is(err, ErrTagImmutable) {
				writeError(w, errcode.ErrorCodeTagInvalid.WithMessage(immutableMessage(rt.ref, rt.name)))
				return
			}
			r.log.Error("registry: immutability check", "repository", rt.name, "tag", rt.ref, "err", err)
			writeError(w, errcode.ErrorCodeUnknown.WithDetail("tag lookup failed"))
			return
		}
	}
	r.manifestMu.RLock()
	defer r.manifestMu.RUnlock()
	sw := &subjectWriter{statusRecorder: statusRecorder{ResponseWriter: w}, subject: subjectOfBody(body)}
	r.app.ServeHTTP(sw, req)
	if sw.status == http.StatusCreated {
		d, err := digest.Parse(sw.Header().Get("Docker-Content-Digest"))
		if err != nil {
			d = digest.FromBytes(body)
		}
		r.noteManifest(req.Context(), rt.name, d, body)
	}
}

func immutableMessage(tag, repo string) string {
	return fmt.Sprintf("The image tag '%s' already exists in the '%s' repository and cannot be overwritten because the repository is immutable.", tag, repo)
}

// lockTag serializes manifest puts of one repository and tag.
func (r *Registry) lockTag(repo, tag string) (unlock func()) {
	h := fnv.New32a()
	_, _ = io.WriteString(h, repo)
	_, _ = h.Write([]byte{0})
	_, _ = io.WriteString(h, tag)
	mu := &r.tagLocks[h.Sum32()%uint32(len(r.tagLocks))]
	mu.Lock()
	return mu.Unlock
}

// checkImmutable returns ErrTagImmutable if tag exists in repo and names a
// manifest other than d. The caller holds the tag's lock.
func (r *Registry) checkImmutable(ctx context.Context, repo, tag string, d digest.Digest) error {
	cur, err := r.tagDigest(ctx, repo, tag)
	switch {
	case errors.Is(err, ErrImageNotFound):
		return nil
	case err != nil:
		return err
	case cur != d:
		return fmt.Errorf("registry: tag %s of %s names %s: %w", tag, repo, cur, ErrTagImmutable)
	}
	return nil
}

// statusRecorder remembers the status a handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

type routeKind int

const (
	routeOther     routeKind = iota // /v2/, /v2/_catalog, anything unknown
	routeManifest                   // /v2/<name>/manifests/<reference>
	routeTags                       // /v2/<name>/tags/list
	routeBlob                       // /v2/<name>/blobs/<digest>
	routeUpload                     // /v2/<name>/blobs/uploads/[<uuid>]
	routeReferrers                  // /v2/<name>/referrers/<digest>
)

// route is what the middleware needs of a /v2/ path.
type route struct {
	kind routeKind
	name string
	ref  string // manifest reference, blob digest or upload id
}

// parseRoute classifies p as distribution's router does. Repository
// names may contain slashes, references and digests cannot, so the path
// is read from its end.
func parseRoute(p string) route {
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return route{}
	}
	head, last := splitLast(rest)
	head, second := splitLast(head)
	switch {
	case head == "":
		return route{} // fewer than three segments: /v2/, /v2/_catalog
	case second == "manifests":
		return route{routeManifest, head, last}
	case second == "tags" && last == "list":
		return route{routeTags, head, ""}
	case second == "uploads":
		if name, third := splitLast(head); third == "blobs" && name != "" {
			return route{routeUpload, name, last}
		}
	case second == "blobs":
		return route{routeBlob, head, last}
	case second == "referrers":
		return route{routeReferrers, head, last}
	}
	return route{}
}

// splitLast splits s at its last slash ("" and s when there is none).
func splitLast(s string) (string, string) {
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return "", s
	}
	return s[:i], s[i+1:]
}

// repoCache answers Repos lookups, reusing positive answers for
// repoCacheTTL.
type repoCache struct {
	repos Repositories
	mu    sync.Mutex
	m     map[string]repoEntry
}

type repoEntry struct {
	settings RepoSettings
	until    time.Time
}

func (c *repoCache) init(repos Repositories) {
	c.repos = repos
	c.m = make(map[string]repoEntry)
}

func (c *repoCache) get(ctx context.Context, name string) (RepoSettings, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.m[name]
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.settings, nil
	}
	s, err := c.repos.Repository(ctx, name)
	if err != nil {
		c.forget(name)
		return RepoSettings{}, err
	}
	c.mu.Lock()
	if len(c.m) >= 4096 {
		clear(c.m)
	}
	c.m[name] = repoEntry{settings: s, until: now.Add(repoCacheTTL)}
	c.mu.Unlock()
	return s, nil
}

func (c *repoCache) forget(name string) {
	c.mu.Lock()
	delete(c.m, name)
	c.mu.Unlock()
}
