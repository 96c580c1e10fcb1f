package registry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/opencontainers/go-digest"
)

// PullRecordInterval is how often a manifest's pull time is rewritten in
// storage at most. ECR documents lastRecordedPullTime as refreshed about
// once a day; Berth records hourly, so the figure is fresher than ECR's and
// costs one small file write per image per hour. Between writes the
// newest pull time is kept in memory and reported by Images.
const PullRecordInterval = time.Hour

// pullLog remembers manifest pulls: the newest pull time of each image,
// when it was last written to storage, and (for the garbage collector,
// surviving the image's deletion) the newest pull of each digest.
type pullLog struct {
	mu      sync.Mutex
	last    map[pullKey]time.Time
	written map[pullKey]time.Time
	recent  map[digest.Digest]time.Time
}

type pullKey struct {
	repo   string
	digest digest.Digest
}

func (p *pullLog) init() {
	p.last = make(map[pullKey]time.Time)
	p.written = make(map[pullKey]time.Time)
	p.recent = make(map[digest.Digest]time.Time)
}

// RecordPull notes that the manifest digest of repo was pulled now, as a
// successful GET of the manifest over /v2/ does. The ECR API calls it for
// BatchGetImage if it counts those as pulls.
func (r *Registry) RecordPull(ctx context.Context, repo, dgst string) error {
	d, err := digest.Parse(dgst)
	if err != nil {
		return fmt.Errorf("registry: digest %q: %w", dgst, ErrImageNotFound)
	}
	if err := validName(repo); err != nil {
		return err
	}
	return r.recordPull(ctx, repo, d)
}

func (r *Registry) recordPull(ctx context.Context, repo string, d digest.Digest) error {
	now := r.now()
	k := pullKey{repo, d}
	r.pulls.mu.Lock()
	if now.After(r.pulls.last[k]) {
		r.pulls.last[k] = now
	}
	if now.After(r.pulls.recent[d]) {
		r.pulls.recent[d] = now
	}
	w, ok := r.pulls.written[k]
	if ok && now.Sub(w) < PullRecordInterval {
		r.pulls.mu.Unlock()
		return nil
	}
	r.pulls.written[k] = now
	r.pulls.mu.Unlock()
	err := r.driver.PutContent(ctx, lastPullPath(repo, d), []byte(now.UTC().Format(time.RFC3339Nano)))
	if err != nil {
		r.pulls.mu.Lock()
		if r.pulls.written[k].Equal(now) {
			delete(r.pulls.written, k)
		}
		r.pulls.mu.Unlock()
		r.log.Warn("registry: record pull", "repository", repo, "digest", d, "err", err)
		return fmt.Errorf("registry: record pull of %s@%s: %w", repo, d, err)
	}
	return nil
}

// lastPulled returns the newest known pull time of repo@d: the stored
// record or a newer one still in memory.
func (r *Registry) lastPulled(ctx context.Context, repo string, d digest.Digest) (time.Time, error) {
	var t time.Time
	b, err := r.driver.GetContent(ctx, lastPullPath(repo, d))
	switch {
	case err == nil:
		t, _ = time.Parse(time.RFC3339Nano, string(b)) // a torn write reads as never
	case !isNotFound(err):
		return time.Time{}, fmt.Errorf("registry: read pull time: %w", err)
	}
	r.pulls.mu.Lock()
	if m := r.pulls.last[pullKey{repo, d}]; m.After(t) {
		t = m
	}
	r.pulls.mu.Unlock()
	return t, nil
}

// recentPulls returns the manifests pulled after cutoff, deleted or not
// (for the garbage collector: a pull of them may still be fetching
// blobs), and forgets older pulls.
func (r *Registry) recentPulls(cutoff time.Time) []digest.Digest {
	r.pulls.mu.Lock()
	defer r.pulls.mu.Unlock()
	pruneBefore(r.pulls.recent, cutoff)
	out := make([]digest.Digest, 0, len(r.pulls.recent))
	for d := range r.pulls.recent {
		out = append(out, d)
	}
	return out
}

// forgetPulls drops what is remembered of repo's pulls for LastPulledAt:
// of one digest, or of all (d == ""). What the collector needs stays.
func (r *Registry) forgetPulls(repo string, d digest.Digest) {
	r.pulls.mu.Lock()
	defer r.pulls.mu.Unlock()
	for _, m := range []map[pullKey]time.Time{r.pulls.last, r.pulls.written} {
		for k := range m {
			if k.repo == repo && (d == "" || k.digest == d) {
				delete(m, k)
			}
		}
	}
}

// isNotFound reports whether err is the storage driver's "no such path".
func isNotFound(err error) bool {
	var nf storagedriver.PathNotFoundError
	if errors.As(err, &nf) {
		return true
	}
	// Walk wraps what its callback returns in a driver Error.
	var de storagedriver.Error
	return errors.As(err, &de) && de.Detail != nil && isNotFound(de.Detail)
}
