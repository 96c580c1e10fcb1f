package registry

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/stream"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

func TestParseRoute(t *testing.T) {
	tests := []struct {
		path string
		want route
	}{
		{"/v2/", route{}},
		{"/v2", route{}},
		{"/v2/_catalog", route{}},
		{"/v2/app/manifests/latest", route{routeManifest, "app", "latest"}},
		{"/v2/a/b/c/manifests/sha256:abc", route{routeManifest, "a/b/c", "sha256:abc"}},
		{"/v2/app/tags/list", route{routeTags, "app", ""}},
		{"/v2/app/blobs/sha256:abc", route{routeBlob, "app", "sha256:abc"}},
		{"/v2/app/blobs/uploads/", route{routeUpload, "app", ""}},
		{"/v2/x/y/blobs/uploads/some-uuid", route{routeUpload, "x/y", "some-uuid"}},
		{"/v2/blobs/blobs/uploads/", route{routeUpload, "blobs", ""}},
		{"/v2/a/blobs/manifests/v1", route{routeManifest, "a/blobs", "v1"}},
		{"/v2/manifests/latest", route{}},
		{"/v2/app/referrers/sha256:abc", route{routeReferrers, "app", "sha256:abc"}},
		{"/v2/a/b/referrers/sha256:abc", route{routeReferrers, "a/b", "sha256:abc"}},
		{"/v2/referrers/sha256:abc", route{}},
		{"/v2/app/unknown/x", route{}},
		{"/other", route{}},
	}
	for _, tt := range tests {
		if got := parseRoute(tt.path); got != tt.want {
			t.Errorf("parseRoute(%q) = %+v, want %+v", tt.path, got, tt.want)
		}
	}
}

func TestAuth(t *testing.T) {
	e := newEnv(t)
	expired, _ := e.tokens.Mint(e.clock.now().Add(-13 * time.Hour))
	other, _ := NewTokens([]byte("0123456789abcdef0123456789abcdef"), "999999999999").Mint(e.clock.now())
	tampered := "A" + e.password[1:]
	if tampered == e.password {
		tampered = "B" + e.password[1:]
	}
	tests := []struct {
		name       string
		path       string
		user, pass string
		noAuth     bool
		wantStatus int
		wantMsg    string
	}{
		{"valid base", "/v2/", "AWS", e.password, false, http.StatusOK, ""},
		{"valid catalog", "/v2/_catalog", "AWS", e.password, false, http.StatusOK, ""},
		{"missing", "/v2/", "", "", true, http.StatusUnauthorized, msgNotAuthorized},
		{"missing on blob", "/v2/app/blobs/sha256:" + strings.Repeat("a", 64), "", "", true, http.StatusUnauthorized, msgNotAuthorized},
		{"wrong user", "/v2/", "admin", e.password, false, http.StatusUnauthorized, msgNotAuthorized},
		{"tampered", "/v2/", "AWS", tampered, false, http.StatusUnauthorized, msgNotAuthorized},
		{"other account", "/v2/", "AWS", other, false, http.StatusUnauthorized, msgNotAuthorized},
		{"garbage", "/v2/app/tags/list", "AWS", "not-a-token", false, http.StatusUnauthorized, msgNotAuthorized},
		{"expired", "/v2/", "AWS", expired, false, http.StatusUnauthorized, msgTokenExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, e.srv.URL+tt.path, nil)
			if !tt.noAuth {
				req.SetBasicAuth(tt.user, tt.pass)
			}
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus == http.StatusOK {
				return
			}
			want := `Basic realm="https://` + testAccount + `.dkr.ecr.local/",service="ecr.amazonaws.com"`
			if got := resp.Header.Get("WWW-Authenticate"); got != want {
				t.Errorf("WWW-Authenticate = %q, want %q", got, want)
			}
			eb := readError(t, resp)
			if eb.Errors[0].Code != "UNAUTHORIZED" || eb.Errors[0].Message != tt.wantMsg {
				t.Errorf("error = %+v, want UNAUTHORIZED %q", eb.Errors[0], tt.wantMsg)
			}
		})
	}
	// A client with bad credentials cannot push.
	e.password = tampered
	if err := e.push("app", "v1", randomImage(t, 1)); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("push with a tampered token: %v", err)
	}
}

func TestPushPull(t *testing.T) {
	e := newEnv(t)
	img := randomImage(t, 3)
	dgst := e.mustPush("app", "v1", img)
	if err := e.pullValid("app", "v1"); err != nil {
		t.Fatalf("pull by tag: %v", err)
	}
	if err := e.pullValid("app", dgst); err != nil {
		t.Fatalf("pull by digest: %v", err)
	}
	// An OCI image in a nested repository.
	oci := mutate.MediaType(randomImage(t, 2), types.OCIManifestSchema1)
	oci = mutate.ConfigMediaType(oci, types.OCIConfigJSON)
	e.mustPush("nested/app", "oci", oci)
	if err := e.pullValid("nested/app", "oci"); err != nil {
		t.Fatalf("pull OCI image: %v", err)
	}
	// An image index.
	idx, err := random.Index(512, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(e.ref("app", "multi"), idx, e.opts()...); err != nil {
		t.Fatalf("push index: %v", err)
	}
	got, err := remote.Index(e.ref("app", "multi"), e.opts()...)
	if err != nil {
		t.Fatalf("pull index: %v", err)
	}
	if err := validate.Index(got); err != nil {
		t.Fatalf("pulled index: %v", err)
	}
	if digestOf(t, got) != digestOf(t, idx) {
		t.Fatalf("index digest %s, pushed %s", digestOf(t, got), digestOf(t, idx))
	}
	// The catalog lists what storage holds.
	resp := e.do(http.MethodGet, "/v2/_catalog", e.password, nil, nil)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"app"`) || !strings.Contains(string(body), `"nested/app"`) {
		t.Fatalf("catalog: %d %s", resp.StatusCode, body)
	}
}

// TestStreamingPush pushes a layer of unknown digest, which go-containerregistry
// streams in one chunked-encoding PATCH.
func TestStreamingPush(t *testing.T) {
	e := newEnv(t)
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	if err := tw.WriteHeader(&tar.Header{Name: "big", Size: 3 << 20, Mode: 0o644, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(tw, rand.Reader, 3<<20); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	sl := stream.NewLayer(io.NopCloser(&tarball))
	img, err := mutate.AppendLayers(randomImage(t, 1), sl)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(e.ref("app", "streamed"), img, e.opts()...); err != nil {
		t.Fatalf("push: %v", err)
	}
	if err := e.pullValid("app", "streamed"); err != nil {
		t.Fatalf("pull: %v", err)
	}
}

func TestChunkedUploadByHand(t *testing.T) {
	e := newEnv(t)
	data := make([]byte, 1<<20+123)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	dgst := "sha256:" + hex.EncodeToString(sum[:])

	resp := e.do(http.MethodPost, "/v2/app/blobs/uploads/", e.password, nil, nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start upload: %d", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	half := len(data) / 2
	for i, chunk := range [][]byte{data[:half], data[half:]} {
		start := i * half
		resp = e.do(http.MethodPatch, pathOf(t, loc), e.password, bytes.NewReader(chunk), map[string]string{
			"Content-Type":  "application/octet-stream",
			"Content-Range": fmt.Sprintf("%d-%d", start, start+len(chunk)-1),
		})
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("PATCH chunk %d: %d", i, resp.StatusCode)
		}
		if got, want := resp.Header.Get("Range"), fmt.Sprintf("0-%d", start+len(chunk)-1); got != want {
			t.Fatalf("Range after chunk %d = %q, want %q", i, got, want)
		}
		loc = resp.Header.Get("Location")
	}
	u := pathOf(t, loc)
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	resp = e.do(http.MethodPut, u+sep+"digest="+dgst, e.password, nil, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("commit: %d", resp.StatusCode)
	}
	resp = e.do(http.MethodGet, "/v2/app/blobs/"+dgst, e.password, nil, nil)
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
		t.Fatalf("GET blob: %d, %d bytes", resp.StatusCode, len(got))
	}
}

func pathOf(t *testing.T, loc string) string {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}

func TestCrossRepositoryMount(t *testing.T) {
	e := newEnv(t)
	img := randomImage(t, 2)
	e.mustPush("base", "v1", img)
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()

	resp := e.do(http.MethodPost, "/v2/app/blobs/uploads/?mount="+ld.String()+"&from=base", e.password, nil, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("mount: %d", resp.StatusCode)
	}
	resp = e.do(http.MethodHead, "/v2/app/blobs/"+ld.String(), e.password, nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD mounted blob: %d", resp.StatusCode)
	}
	// go-containerregistry mounts the layers of an image it pulled from
	// the same registry.
	pulled, err := remote.Image(e.ref("base", "v1"), e.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	e.mustPush("other", "copy", pulled)
	if err := e.pullValid("other", "copy"); err != nil {
		t.Fatalf("pull mounted image: %v", err)
	}
}

func TestRepositoryMustExist(t *testing.T) {
	e := newEnv(t)
	want := "The repository with name 'ghost' does not exist in the registry with id '" + testAccount + "'"
	for _, rq := range []struct{ method, path string }{
		{http.MethodPost, "/v2/ghost/blobs/uploads/"},
		{http.MethodGet, "/v2/ghost/manifests/latest"},
		{http.MethodHead, "/v2/ghost/blobs/sha256:" + strings.Repeat("0", 64)},
		{http.MethodGet, "/v2/ghost/tags/list"},
		{http.MethodGet, "/v2/ghost/referrers/sha256:" + strings.Repeat("0", 64)},
	} {
		resp := e.do(rq.method, rq.path, e.password, nil, nil)
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s %s: status %d", rq.method, rq.path, resp.StatusCode)
		}
		if rq.method == http.MethodHead {
			continue
		}
		eb := readError(t, resp)
		if eb.Errors[0].Code != "NAME_UNKNOWN" || eb.Errors[0].Message != want {
			t.Fatalf("%s %s: %+v", rq.method, rq.path, eb.Errors[0])
		}
	}
	if err := e.push("ghost", "v1", randomImage(t, 1)); err == nil || !strings.Contains(err.Error(), "NAME_UNKNOWN") {
		t.Fatalf("push to ghost: %v", err)
	}
	// Once the repository has a record, the push goes through.
	e.repos.set("ghost", RepoSettings{})
	e.mustPush("ghost", "v1", randomImage(t, 1))
}

func TestImmutableTags(t *testing.T) {
	tests := []struct {
		name      string
		immutable bool
		sameAgain bool // push the first image again instead of a new one
		wantOK    bool
	}{
		{"mutable overwrite", false, false, true},
		{"immutable overwrite", true, false, false},
		{"immutable same digest", true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.repos.set("app", RepoSettings{ImmutableTags: tt.immutable})
			first := randomImage(t, 1)
			e.mustPush("app", "v1", first)
			second := first
			if !tt.sameAgain {
				second = randomImage(t, 1)
				// Its blobs, pushed by digest (no tag involved).
				e.mustPush("app", digestOf(t, second), second)
			}
			raw, _ := second.RawManifest()
			mt, _ := second.MediaType()
			resp := e.do(http.MethodPut, "/v2/app/manifests/v1", e.password, bytes.NewReader(raw),
				map[string]string{"Content-Type": string(mt)})
			if tt.wantOK {
				if resp.StatusCode != http.StatusCreated {
					t.Fatalf("PUT: %d", resp.StatusCode)
				}
			} else {
				if resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("PUT: %d, want 400", resp.StatusCode)
				}
				eb := readError(t, resp)
				want := "The image tag 'v1' already exists in the 'app' repository and cannot be overwritten because the repository is immutable."
				if eb.Errors[0].Code != "TAG_INVALID" || eb.Errors[0].Message != want {
					t.Fatalf("error = %+v", eb.Errors[0])
				}
			}
			_, _, d, err := e.reg.Manifest(t.Context(), "app", "v1")
			if err != nil {
				t.Fatal(err)
			}
			wantDigest := digestOf(t, first)
			if tt.wantOK {
				wantDigest = digestOf(t, second)
			}
			if d != wantDigest {
				t.Fatalf("v1 = %s, want %s", d, wantDigest)
			}
		})
	}
}

// TestImmutableConcurrentPuts races several different manifests for one
// tag of an immutable repository: exactly one wins.
func TestImmutableConcurrentPuts(t *testing.T) {
	e := newEnv(t)
	e.repos.set("app", RepoSettings{ImmutableTags: true})
	const n = 6
	bodies := make([][]byte, n)
	var mt string
	for i := range n {
		img := randomImage(t, 1)
		e.mustPush("app", digestOf(t, img), img)
		bodies[i], _ = img.RawManifest()
		m, _ := img.MediaType()
		mt = string(m)
	}
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPut, e.srv.URL+"/v2/app/manifests/race", bytes.NewReader(bodies[i]))
			req.SetBasicAuth("AWS", e.password)
			req.Header.Set("Content-Type", mt)
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	var created, refused int
	for _, c := range codes {
		switch c {
		case http.StatusCreated:
			created++
		case http.StatusBadRequest:
			refused++
		}
	}
	if created != 1 || refused != n-1 {
		t.Fatalf("statuses %v: want one 201 and %d 400s", codes, n-1)
	}
}

func TestPullRecorded(t *testing.T) {
	e := newEnv(t)
	dgst := e.mustPush("app", "v1", randomImage(t, 1))
	lastPulled := func() time.Time {
		t.Helper()
		imgs, err := e.reg.Images(t.Context(), "app")
		if err != nil || len(imgs) != 1 {
			t.Fatalf("Images = %v, %v", imgs, err)
		}
		return imgs[0].LastPulledAt
	}
	if got := lastPulled(); !got.IsZero() {
		t.Fatalf("LastPulledAt before any pull = %v", got)
	}
	// A HEAD is not a pull.
	e.do(http.MethodHead, "/v2/app/manifests/v1", e.password, nil, nil)
	if got := lastPulled(); !got.IsZero() {
		t.Fatalf("LastPulledAt after HEAD = %v", got)
	}
	t1 := e.clock.now()
	if err := e.pullValid("app", "v1"); err != nil {
		t.Fatal(err)
	}
	if got := lastPulled(); !got.Equal(t1) {
		t.Fatalf("LastPulledAt = %v, want %v", got, t1)
	}
	// Within the hour a pull is remembered in memory, not rewritten.
	e.clock.advance(10 * time.Minute)
	t2 := e.clock.now()
	if err := e.pullValid("app", dgst); err != nil {
		t.Fatal(err)
	}
	if got := lastPulled(); !got.Equal(t2) {
		t.Fatalf("LastPulledAt = %v, want %v", got, t2)
	}
	e.restart()
	if got := lastPulled(); !got.Equal(t1) {
		t.Fatalf("LastPulledAt after restart = %v, want the stored %v", got, t1)
	}
	e.clock.advance(2 * time.Hour)
	t3 := e.clock.now()
	if err := e.pullValid("app", "v1"); err != nil {
		t.Fatal(err)
	}
	e.restart()
	if got := lastPulled(); !got.Equal(t3) {
		t.Fatalf("LastPulledAt = %v, want %v", got, t3)
	}
}
