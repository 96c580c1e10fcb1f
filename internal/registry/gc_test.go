package registry

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func withRealClock() envOption {
	return func(e *env) { e.clock = nil }
}

// blobStatus HEADs a blob in repo.
func (e *env) blobStatus(repo string, h v1.Hash) int {
	e.t.Helper()
	return e.do(http.MethodHead, "/v2/"+repo+"/blobs/"+h.String(), e.password, nil, nil).StatusCode
}

// blobOnDisk reports whether the blob's data is in the blob store.
func (e *env) blobOnDisk(h v1.Hash) bool {
	_, err := os.Stat(filepath.Join(e.root, "docker/registry/v2/blobs/sha256", h.Hex[:2], h.Hex, "data"))
	return err == nil
}

func (e *env) gc() GCStats {
	e.t.Helper()
	st, err := e.reg.CollectGarbage(e.t.Context())
	if err != nil {
		e.t.Fatalf("CollectGarbage: %v", err)
	}
	return st
}

// uniqueBlobs are an image's manifest, config and the given layers.
func uniqueBlobs(t *testing.T, img v1.Image, layers ...v1.Layer) (hs []v1.Hash, size int64) {
	t.Helper()
	md, _ := img.Digest()
	ms, _ := img.Size()
	cd, _ := img.ConfigName()
	raw, _ := img.RawConfigFile()
	hs = append(hs, md, cd)
	size = ms + int64(len(raw))
	for _, l := range layers {
		d, _ := l.Digest()
		s, _ := l.Size()
		hs = append(hs, d)
		size += s
	}
	return hs, size
}

func TestGCUniqueAndSharedBlobs(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	shared := randomLayer(t, 4096)
	u1, u2 := randomLayer(t, 1000), randomLayer(t, 1000)
	img1, img2 := imageOf(t, shared, u1), imageOf(t, shared, u2)
	d1 := e.mustPush("app", "one", img1)
	e.mustPush("other", "two", img2)
	untagged := randomImage(t, 1)
	e.mustPush("app", digestOf(t, untagged), untagged)

	if st := e.gc(); st.BlobsRemoved != 0 {
		t.Fatalf("GC with everything referenced: %+v", st)
	}
	if err := e.reg.DeleteManifest(ctx, "app", d1); err != nil {
		t.Fatal(err)
	}
	gone, goneBytes := uniqueBlobs(t, img1, u1)

	// Within the grace period nothing goes.
	if st := e.gc(); st.BlobsRemoved != 0 || st.BlobsInGrace != len(gone) {
		t.Fatalf("GC within grace: %+v, want %d in grace", st, len(gone))
	}
	e.clock.advance(2 * time.Minute)
	st := e.gc()
	if st.BlobsRemoved != len(gone) || st.BytesRemoved != goneBytes {
		t.Fatalf("GC: %+v, want %d blobs, %d bytes removed", st, len(gone), goneBytes)
	}
	for _, h := range gone {
		if e.blobOnDisk(h) {
			t.Errorf("blob %s still stored", h)
		}
	}
	u1d, _ := u1.Digest()
	if s := e.blobStatus("app", u1d); s != http.StatusNotFound {
		t.Errorf("HEAD collected blob: %d", s)
	}
	sd, _ := shared.Digest()
	for _, repo := range []string{"app", "other"} {
		if s := e.blobStatus(repo, sd); s != http.StatusOK {
			t.Errorf("HEAD shared blob in %s: %d", repo, s)
		}
	}
	if err := e.pullValid("other", "two"); err != nil {
		t.Fatalf("image sharing a layer: %v", err)
	}
	if err := e.pullValid("app", digestOf(t, untagged)); err != nil {
		t.Fatalf("untagged image: %v", err)
	}
	if st := e.gc(); st.BlobsRemoved != 0 {
		t.Fatalf("second GC: %+v", st)
	}
}

func TestGCTouchedBlobKept(t *testing.T) {
	e := newEnv(t)
	l := randomLayer(t, 1000)
	img := imageOf(t, l)
	d := e.mustPush("app", "v1", img)
	if err := e.reg.DeleteManifest(t.Context(), "app", d); err != nil {
		t.Fatal(err)
	}
	e.clock.advance(2 * time.Minute)
	ld, _ := l.Digest()
	// A push checking for the layer (HEAD answers 200) protects it.
	if s := e.blobStatus("app", ld); s != http.StatusOK {
		t.Fatalf("HEAD: %d", s)
	}
	if st := e.gc(); st.BlobsRemoved != 2 || st.BlobsInGrace != 1 {
		t.Fatalf("GC after HEAD: %+v, want manifest and config removed, layer kept", st)
	}
	if !e.blobOnDisk(ld) {
		t.Fatal("touched layer removed")
	}
	e.clock.advance(2 * time.Minute)
	if st := e.gc(); st.BlobsRemoved != 1 {
		t.Fatalf("GC after the grace: %+v", st)
	}
	if e.blobOnDisk(ld) {
		t.Fatal("layer kept past its grace")
	}
}

func TestGCRecentPullKeepsDeletedImage(t *testing.T) {
	e := newEnv(t)
	img := randomImage(t, 2)
	d := e.mustPush("app", "v1", img)
	e.clock.advance(2 * time.Minute)
	// A pull reads the manifest; before it fetches the layers the image is
	// deleted and the collector runs.
	if resp := e.do(http.MethodGet, "/v2/app/manifests/v1", e.password, nil,
		map[string]string{"Accept": "application/vnd.docker.distribution.manifest.v2+json"}); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET manifest: %d", resp.StatusCode)
	}
	if err := e.reg.DeleteManifest(t.Context(), "app", d); err != nil {
		t.Fatal(err)
	}
	if st := e.gc(); st.BlobsRemoved != 0 {
		t.Fatalf("GC during the pull: %+v", st)
	}
	layers, _ := img.Layers()
	for _, l := range layers {
		ld, _ := l.Digest()
		if s := e.blobStatus("app", ld); s != http.StatusOK {
			t.Fatalf("layer of the pulled image: %d", s)
		}
	}
	e.clock.advance(2 * time.Minute)
	if st := e.gc(); st.BlobsRemoved != 4 {
		t.Fatalf("GC after the grace: %+v, want 4 removed", st)
	}
}

func TestGCAfterDeleteRepository(t *testing.T) {
	e := newEnv(t)
	img := randomImage(t, 2)
	e.mustPush("app", "v1", img)
	e.mustPush("other", "v1", img)
	if err := e.reg.DeleteRepository(t.Context(), "app"); err != nil {
		t.Fatal(err)
	}
	e.clock.advance(2 * time.Minute)
	if st := e.gc(); st.BlobsRemoved != 0 {
		t.Fatalf("GC with the image still in other: %+v", st)
	}
	if err := e.reg.DeleteRepository(t.Context(), "other"); err != nil {
		t.Fatal(err)
	}
	if st := e.gc(); st.BlobsRemoved != 4 {
		t.Fatalf("GC after deleting both: %+v", st)
	}
	if _, err := os.Stat(filepath.Join(e.root, "docker/registry/v2/repositories/other/_layers")); !os.IsNotExist(err) {
		t.Fatalf("links of other remain: %v", err)
	}
}

// TestGCConcurrentPushes runs the collector in a loop while several
// goroutines push, pull back and delete images sharing base layers. Each
// round's images are deleted in the next round and the clock moves past
// the grace period between rounds, so the collector removes blobs while
// pushes that need other blobs run. Every push must succeed and every
// image must pull back complete.
func TestGCConcurrentPushes(t *testing.T) {
	e := newEnv(t)
	bases := []v1.Layer{randomLayer(t, 2048), randomLayer(t, 2048), randomLayer(t, 2048)}
	const rounds, workers, perWorker = 4, 4, 2
	type pushed struct{ repo, digest string }
	var (
		mu      sync.Mutex
		live    []pushed
		removed int
		stop    = make(chan struct{})
		gcDone  = make(chan struct{})
	)
	go func() {
		defer close(gcDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			st, err := e.reg.CollectGarbage(t.Context())
			if err != nil {
				t.Errorf("CollectGarbage: %v", err)
				return
			}
			mu.Lock()
			removed += st.BlobsRemoved
			mu.Unlock()
		}
	}()
	var previous [workers][]pushed
	for round := range rounds {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				repo := []string{"app", "other"}[w%2]
				var mine []pushed
				for k := range perWorker {
					img := imageOf(t, bases[rand.IntN(len(bases))], randomLayer(t, 512))
					tag := fmt.Sprintf("r%d-w%d-%d", round, w, k)
					if err := e.push(repo, tag, img); err != nil {
						t.Errorf("push %s:%s: %v", repo, tag, err)
						return
					}
					d := digestOf(t, img)
					if err := e.pullValid(repo, d); err != nil {
						t.Errorf("pull %s@%s: %v", repo, d, err)
					}
					mine = append(mine, pushed{repo, d})
				}
				// Delete one image of the previous round: garbage.
				if prev := previous[w]; len(prev) > 0 {
					if err := e.reg.DeleteManifest(t.Context(), prev[0].repo, prev[0].digest); err != nil {
						t.Errorf("DeleteManifest: %v", err)
					}
					mu.Lock()
					live = append(live, prev[1:]...)
					mu.Unlock()
				}
				previous[w] = mine
			}()
		}
		wg.Wait()
		if t.Failed() {
			break
		}
		e.clock.advance(2 * time.Minute)
	}
	close(stop)
	<-gcDone
	for _, prev := range previous {
		live = append(live, prev...)
	}
	e.clock.advance(time.Hour)
	removed += e.gc().BlobsRemoved
	for _, p := range live {
		if err := e.pullValid(p.repo, p.digest); err != nil {
			t.Errorf("after GC, %s@%s: %v", p.repo, p.digest, err)
		}
	}
	if removed == 0 {
		t.Fatal("the collector removed nothing")
	}
	t.Logf("%d images live, %d blobs collected", len(live), removed)
}

// TestGCNoGraceNeverBreaksImages runs the collector without any grace, in
// a loop, against concurrent pushes: pushes may then fail (a blob they
// uploaded is collected before their manifest arrives), but only with
// MANIFEST_BLOB_UNKNOWN — the lock between manifest writes and mark/sweep
// must never let a manifest be stored whose blobs are then removed.
func TestGCNoGraceNeverBreaksImages(t *testing.T) {
	e := newEnv(t, withGrace(-1), withRealClock())
	stop := make(chan struct{})
	gcDone := make(chan struct{})
	go func() {
		defer close(gcDone)
		// Paced, so that some pushes get through between collections.
		tick := time.NewTicker(60 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := e.reg.CollectGarbage(t.Context()); err != nil {
				t.Errorf("CollectGarbage: %v", err)
				return
			}
		}
	}()
	type pushed struct{ repo, digest string }
	var (
		mu     sync.Mutex
		ok     []pushed
		failed int
		wg     sync.WaitGroup
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			repo := []string{"app", "other"}[w%2]
			for k := range 6 {
				img := randomImage(t, 2)
				err := e.push(repo, fmt.Sprintf("w%d-%d", w, k), img)
				mu.Lock()
				switch {
				case err == nil:
					ok = append(ok, pushed{repo, digestOf(t, img)})
				case strings.Contains(err.Error(), "BLOB_UNKNOWN"):
					failed++
				default:
					t.Errorf("push: %v", err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-gcDone
	e.gc()
	for _, p := range ok {
		if err := e.pullValid(p.repo, p.digest); err != nil {
			t.Errorf("%s@%s pushed successfully but is broken: %v", p.repo, p.digest, err)
		}
	}
	t.Logf("%d pushes succeeded, %d refused for collected blobs", len(ok), failed)
}
