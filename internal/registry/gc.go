package registry

import (
	"context"
	"fmt"
	"hash/fnv"
	"path"
	"strings"
	"sync"
	"time"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// GCStats reports one garbage collection.
type GCStats struct {
	BlobsKept    int   // blobs still referenced, or protected by the grace period
	BlobsInGrace int   // of BlobsKept, those unreferenced but recently written or used
	BlobsRemoved int   // blobs deleted
	BytesRemoved int64 // their size
}

// maxTouchesPerStripe bounds a touch stripe between collections.
const maxTouchesPerStripe = 4096

// touchStripe is one of the stripes of blob-use times; its mutex also
// orders a request's touch against the sweep of that blob.
type touchStripe struct {
	mu sync.Mutex
	m  map[digest.Digest]time.Time
}

func (r *Registry) stripe(d digest.Digest) *touchStripe {
	h := fnv.New32a()
	_, _ = h.Write([]byte(d))
	return &r.touches[h.Sum32()%uint32(len(r.touches))]
}

// touch records that a request is about to use blob d: a HEAD or GET of
// it, a mount of it, or the commit of an upload of it.
func (r *Registry) touch(d digest.Digest) {
	now := r.now()
	s := r.stripe(d)
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[digest.Digest]time.Time)
	}
	s.m[d] = now
	if len(s.m) > maxTouchesPerStripe {
		pruneBefore(s.m, now.Add(-r.grace))
	}
	s.mu.Unlock()
}

func pruneBefore(m map[digest.Digest]time.Time, cutoff time.Time) {
	for d, t := range m {
		if !t.After(cutoff) {
			delete(m, d)
		}
	}
}

// CollectGarbage deletes the blobs that no manifest of any repository
// references. Manifests are never collected: ECR keeps untagged images,
// so every stored manifest (tagged or not) is a root, and so is every
// manifest an index names and every manifest pulled within the grace
// period (a pull of it may still be fetching blobs even if it was deleted
// meanwhile). Blob links in repositories (_layers) go with their blob.
//
// Why a blob a push or pull still needs is never removed:
//
//  1. The collection holds manifestMu exclusively from the start of mark
//     to the end of sweep, and every manifest PUT or DELETE (HTTP or
//     PutManifest, Untag, DeleteManifest, DeleteRepository) holds it
//     shared for its whole verify-and-write. So a manifest write is
//     either wholly before the mark (its blobs are marked) or wholly
//     after the sweep (distribution verifies that its blobs exist, so a
//     manifest can never be stored naming a blob the sweep removed — the
//     push fails with MANIFEST_BLOB_UNKNOWN instead of leaving a broken
//     image). This alone makes the collector safe; the rest keeps pushes
//     from failing.
//  2. A push first makes its blobs present (HEAD answering 200, a mount,
//     or an upload's final PUT), then writes the manifest. Each of these
//     requests records a touch of the digest before the distribution app
//     handles it, under the digest's stripe lock; the sweep checks the
//     touch and deletes under the same lock. Either the touch comes first
//     and the blob is kept for the grace period, or the delete comes first
//     and the request sees no blob (404, or an upload that stores it
//     afresh). Blobs whose data file or any repository link is younger
//     than the grace are kept too, which covers uploads finished before a
//     restart and other servers' uploads on shared storage. A push whose
//     manifest follows its blobs within the grace therefore never fails.
//  3. A pull reads a manifest and then its blobs. While the manifest is
//     stored its blobs are marked; if it is deleted mid-pull, its recorded
//     pull (within the grace) still marks them, and every blob GET touches
//     its blob. (On the filesystem driver a blob already being streamed
//     survives deletion anyway: the open file stays readable.)
//
// Touches and recorded pulls are per process: on storage shared by several
// servers, run the collector on one of them, with a grace longer than any
// push.
func (r *Registry) CollectGarbage(ctx context.Context) (GCStats, error) {
	r.gcMu.Lock()
	defer r.gcMu.Unlock()
	r.manifestMu.Lock()
	defer r.manifestMu.Unlock()

	cutoff := r.now().Add(-r.grace)
	c := &collector{
		r:         r,
		marked:    make(map[digest.Digest]struct{}),
		links:     make(map[digest.Digest][]string),
		linkTimes: make(map[digest.Digest]time.Time),
	}
	if err := c.scanRepositories(ctx); err != nil {
		return GCStats{}, err
	}
	for _, d := range c.roots {
		if err := c.mark(ctx, d, true); err != nil {
			return GCStats{}, err
		}
	}
	for _, d := range r.recentPulls(cutoff) {
		if err := c.mark(ctx, d, false); err != nil {
			return GCStats{}, err
		}
	}
	stats, err := c.sweep(ctx, cutoff)
	for i := range r.touches {
		s := &r.touches[i]
		s.mu.Lock()
		pruneBefore(s.m, cutoff)
		s.mu.Unlock()
	}
	if stats.BlobsRemoved > 0 {
		r.log.Info("registry: garbage collected", "blobs_removed", stats.BlobsRemoved,
			"bytes_removed", stats.BytesRemoved, "blobs_kept", stats.BlobsKept)
	}
	return stats, err
}

// collector is one collection's state.
type collector struct {
	r         *Registry
	roots     []digest.Digest             // every stored manifest revision
	marked    map[digest.Digest]struct{}  // referenced blobs
	links     map[digest.Digest][]string  // repository link directories per blob
	linkTimes map[digest.Digest]time.Time // newest repository link per blob
}

// scanRepositories walks every repository's revision and blob links
// (skipping tags, which name revisions, and uploads in progress).
func (c *collector) scanRepositories(ctx context.Context) error {
	err := c.r.driver.Walk(ctx, reposRoot, func(fi storagedriver.FileInfo) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := fi.Path()
		if fi.IsDir() {
			dir, base := path.Split(p)
			if base == uploadsDir || (base == "tags" && path.Base(dir) == manifestsDir) {
				return storagedriver.ErrSkipDir
			}
			return nil
		}
		d, ok := linkDigest(p)
		if !ok {
			return nil
		}
		switch {
		case strings.Contains(p, "/"+manifestsDir+"/revisions/"):
			c.roots = append(c.roots, d)
		case strings.Contains(p, "/"+layersDir+"/"):
			c.links[d] = append(c.links[d], path.Dir(p))
			if t := fi.ModTime(); t.After(c.linkTimes[d]) {
				c.linkTimes[d] = t
			}
		}
		return nil
	})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("registry: gc: scan repositories: %w", err)
	}
	return nil
}

// mark marks d and, if d is a stored manifest, everything it references.
// A root's manifest must parse; a referenced manifest that does not is
// only marked itself.
func (c *collector) mark(ctx context.Context, d digest.Digest, root bool) error {
	if _, ok := c.marked[d]; ok {
		return nil
	}
	c.marked[d] = struct{}{}
	b, err := c.r.driver.GetContent(ctx, blobDataPath(d))
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return fmt.Errorf("registry: gc: read manifest %s: %w", d, err)
	}
	m, err := parseManifest(b)
	if err != nil {
		if root {
			return fmt.Errorf("registry: gc: manifest %s: %w", d, err)
		}
		return nil
	}
	for _, ref := range m.references() {
		rd, err := digest.Parse(ref.Digest)
		if err != nil {
			continue
		}
		if isManifestType(ref.MediaType) && ref.Size <= maxManifestSize {
			if err := c.mark(ctx, rd, false); err != nil {
				return err
			}
			continue
		}
		c.marked[rd] = struct{}{}
	}
	return nil
}

func isManifestType(mt string) bool {
	switch mt {
	case v1.MediaTypeImageManifest, v1.MediaTypeImageIndex,
		"application/vnd.docker.distribution.manifest.v2+json",
		"application/vnd.docker.distribution.manifest.list.v2+json":
		return true
	}
	return false
}

// sweep deletes every unmarked blob not protected by the grace period.
func (c *collector) sweep(ctx context.Context, cutoff time.Time) (GCStats, error) {
	var st GCStats
	drv := c.r.driver
	algs, err := drv.List(ctx, blobsRoot)
	if err != nil {
		if isNotFound(err) {
			return st, nil
		}
		return st, fmt.Errorf("registry: gc: list blobs: %w", err)
	}
	for _, algDir := range algs {
		prefixes, err := drv.List(ctx, algDir)
		if err != nil && !isNotFound(err) {
			return st, fmt.Errorf("registry: gc: list blobs: %w", err)
		}
		for _, prefixDir := range prefixes {
			blobDirs, err := drv.List(ctx, prefixDir)
			if err != nil && !isNotFound(err) {
				return st, fmt.Errorf("registry: gc: list blobs: %w", err)
			}
			for _, dir := range blobDirs {
				if err := ctx.Err(); err != nil {
					return st, fmt.Errorf("registry: gc: %w", err)
				}
				d := digest.NewDigestFromEncoded(digest.Algorithm(path.Base(algDir)), path.Base(dir))
				if d.Validate() != nil {
					continue
				}
				if _, ok := c.marked[d]; ok {
					st.BlobsKept++
					continue
				}
				outcome, size, err := c.sweepOne(ctx, d, cutoff)
				if err != nil {
					return st, err
				}
				switch outcome {
				case sweptRemoved:
					st.BlobsRemoved++
					st.BytesRemoved += size
				case sweptInGrace:
					st.BlobsKept++
					st.BlobsInGrace++
				}
			}
		}
	}
	return st, nil
}

// sweep outcomes of one unreferenced blob.
type sweepOutcome int

const (
	sweptNoData  sweepOutcome = iota // no data file: skipped
	sweptInGrace                     // kept by the grace period
	sweptRemoved                     // deleted
)

// sweepOne deletes unreferenced blob d unless it was written, linked or
// touched after cutoff. The check and the delete hold d's touch stripe.
func (c *collector) sweepOne(ctx context.Context, d digest.Digest, cutoff time.Time) (sweepOutcome, int64, error) {
	drv := c.r.driver
	fi, err := drv.Stat(ctx, blobDataPath(d))
	if err != nil {
		if isNotFound(err) {
			// No data: an upload is moving it in right now (or an empty
			// directory was left behind); either way nothing to collect.
			return sweptNoData, 0, nil
		}
		return sweptNoData, 0, fmt.Errorf("registry: gc: stat blob %s: %w", d, err)
	}
	size, mod := fi.Size(), fi.ModTime()
	s := c.r.stripe(d)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[d].After(cutoff) || mod.After(cutoff) || c.linkTimes[d].After(cutoff) {
		return sweptInGrace, 0, nil
	}
	if err := drv.Delete(ctx, blobDir(d)); err != nil && !isNotFound(err) {
		return sweptNoData, 0, fmt.Errorf("registry: gc: delete blob %s: %w", d, err)
	}
	for _, link := range c.links[d] {
		if err := drv.Delete(ctx, link); err != nil && !isNotFound(err) {
			return sweptRemoved, size, fmt.Errorf("registry: gc: delete blob link %s: %w", link, err)
		}
	}
	return sweptRemoved, size, nil
}
