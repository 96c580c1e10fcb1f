package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	sbomType      = "application/vnd.example.sbom.v1"
	sigConfigType = "application/vnd.example.signature.config.v1+json"
)

// emptyConfig is the OCI empty descriptor's content.
var emptyConfig = []byte("{}")

// uploadBlob uploads b into repo and returns its descriptor.
func (e *env) uploadBlob(repo string, b []byte, mediaType string) ocispec.Descriptor {
	e.t.Helper()
	r := e.ref(repo, "x").Context()
	if err := remote.WriteLayer(r, static.NewLayer(b, types.MediaType(mediaType)), e.opts()...); err != nil {
		e.t.Fatalf("upload blob: %v", err)
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
}

// descriptorOf is img's descriptor (as a subject).
func descriptorOf(t *testing.T, img v1.Image) ocispec.Descriptor {
	t.Helper()
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	mt, err := img.MediaType()
	if err != nil {
		t.Fatal(err)
	}
	return ocispec.Descriptor{MediaType: string(mt), Digest: digest.FromBytes(raw), Size: int64(len(raw))}
}

// artifact is a manifest to push and the descriptor a referrers answer
// should list it by.
type artifact struct {
	mediaType string
	body      []byte
	want      ocispec.Descriptor
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// artifactManifest builds an image manifest with the given subject,
// artifactType (may be empty), config and layers.
func artifactManifest(t *testing.T, subject *ocispec.Descriptor, artifactType string, config ocispec.Descriptor,
	layers []ocispec.Descriptor, annotations map[string]string) artifact {
	t.Helper()
	if layers == nil {
		layers = []ocispec.Descriptor{}
	}
	b := mustJSON(t, ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       config,
		Layers:       layers,
		Subject:      subject,
		Annotations:  annotations,
	})
	at := artifactType
	if at == "" {
		at = config.MediaType
	}
	return artifact{ocispec.MediaTypeImageManifest, b, ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(b), Size: int64(len(b)),
		ArtifactType: at, Annotations: annotations,
	}}
}

// indexManifest builds an empty image index with the given subject and
// no artifactType.
func indexManifest(t *testing.T, subject *ocispec.Descriptor, annotations map[string]string) artifact {
	t.Helper()
	b := mustJSON(t, ocispec.Index{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   ocispec.MediaTypeImageIndex,
		Manifests:   []ocispec.Descriptor{},
		Subject:     subject,
		Annotations: annotations,
	})
	return artifact{ocispec.MediaTypeImageIndex, b, ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(b), Size: int64(len(b)),
		Annotations: annotations,
	}}
}

// putManifest PUTs a over HTTP into repo under ref (its digest if "").
func (e *env) putManifest(repo, ref string, a artifact) *http.Response {
	e.t.Helper()
	if ref == "" {
		ref = a.want.Digest.String()
	}
	return e.do(http.MethodPut, "/v2/"+repo+"/manifests/"+ref, e.password, bytes.NewReader(a.body),
		map[string]string{"Content-Type": a.mediaType})
}

func (e *env) mustPutManifest(repo, ref string, a artifact) {
	e.t.Helper()
	if resp := e.putManifest(repo, ref, a); resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("PUT manifest %s: %d %s", a.want.Digest, resp.StatusCode, b)
	}
}

// referrersOf queries the referrers API and checks the answer's form.
func (e *env) referrersOf(repo, subject, artifactType string) (descs []ocispec.Descriptor, filtered string) {
	e.t.Helper()
	p := "/v2/" + repo + "/referrers/" + subject
	if artifactType != "" {
		p += "?artifactType=" + url.QueryEscape(artifactType)
	}
	resp := e.do(http.MethodGet, p, e.password, nil, nil)
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", p, resp.StatusCode, raw)
	}
	if ct := resp.Header.Get("Content-Type"); ct != ocispec.MediaTypeImageIndex {
		e.t.Errorf("GET %s: Content-Type %q", p, ct)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		e.t.Fatalf("GET %s: %v: %s", p, err, raw)
	}
	if idx.SchemaVersion != 2 || idx.MediaType != ocispec.MediaTypeImageIndex || idx.Manifests == nil {
		e.t.Errorf("GET %s: not an OCI index with a manifests list: %s", p, raw)
	}
	return idx.Manifests, resp.Header.Get("OCI-Filters-Applied")
}

func sortedDescs(ds ...ocispec.Descriptor) []ocispec.Descriptor {
	out := append([]ocispec.Descriptor{}, ds...)
	sort.Slice(out, func(i, j int) bool { return out[i].Digest < out[j].Digest })
	return out
}

func digestsOf(ds []ocispec.Descriptor) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Digest.String()
	}
	return out
}

// referrersFixture pushes an image to app and, with it as subject, an
// SBOM (artifactType, a layer, annotations), a signature (no
// artifactType: listed by its config media type) and an index; plus an
// artifact of another subject, and one of the same subject in "other".
type referrersFixture struct {
	subject        ocispec.Descriptor
	sbom, sig, idx artifact
	unrelated      artifact
}

func newReferrersFixture(e *env) referrersFixture {
	t := e.t
	t.Helper()
	img := randomImage(t, 1)
	e.mustPush("app", "v1", img)
	subj := descriptorOf(t, img)
	cfg := e.uploadBlob("app", emptyConfig, ocispec.MediaTypeEmptyJSON)
	sigCfg := e.uploadBlob("app", []byte(`{"sig":1}`), sigConfigType)
	layer := e.uploadBlob("app", []byte(`{"spdx":"2.3"}`), "application/spdx+json")
	f := referrersFixture{
		subject:   subj,
		sbom:      artifactManifest(t, &subj, sbomType, cfg, []ocispec.Descriptor{layer}, map[string]string{"org.example.kind": "sbom"}),
		sig:       artifactManifest(t, &subj, "", sigCfg, nil, nil),
		idx:       indexManifest(t, &subj, map[string]string{"org.example.kind": "bundle"}),
		unrelated: artifactManifest(t, &ocispec.Descriptor{MediaType: subj.MediaType, Digest: digest.FromString("elsewhere"), Size: 1}, sbomType, cfg, nil, nil),
	}
	e.mustPutManifest("app", "", f.sbom)
	e.mustPutManifest("app", "sig", f.sig) // by tag
	e.mustPutManifest("app", "", f.idx)
	e.mustPutManifest("app", "", f.unrelated)
	e.uploadBlob("other", emptyConfig, ocispec.MediaTypeEmptyJSON)
	e.mustPutManifest("other", "", artifactManifest(t, &subj, sbomType, cfg, nil, map[string]string{"repo": "other"}))
	return f
}

func TestReferrers(t *testing.T) {
	e := newEnv(t)
	f := newReferrersFixture(e)
	tests := []struct {
		name         string
		subject      string
		artifactType string
		want         []ocispec.Descriptor
	}{
		{"all", f.subject.Digest.String(), "", sortedDescs(f.sbom.want, f.sig.want, f.idx.want)},
		{"by artifactType", f.subject.Digest.String(), sbomType, []ocispec.Descriptor{f.sbom.want}},
		{"by config media type", f.subject.Digest.String(), sigConfigType, []ocispec.Descriptor{f.sig.want}},
		{"no match for the filter", f.subject.Digest.String(), "application/vnd.example.none", []ocispec.Descriptor{}},
		{"no referrers", f.sbom.want.Digest.String(), "", []ocispec.Descriptor{}},
		{"unknown digest", digest.FromString("nothing").String(), "", []ocispec.Descriptor{}},
		{"other subject", f.unrelated.want.Digest.String(), "", []ocispec.Descriptor{}},
		{"the unrelated artifact's subject", digest.FromString("elsewhere").String(), "", []ocispec.Descriptor{f.unrelated.want}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, filtered := e.referrersOf("app", tt.subject, tt.artifactType)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("referrers = %+v\nwant %+v", got, tt.want)
			}
			wantFiltered := ""
			if tt.artifactType != "" {
				wantFiltered = "artifactType"
			}
			if filtered != wantFiltered {
				t.Errorf("OCI-Filters-Applied = %q, want %q", filtered, wantFiltered)
			}
		})
	}

	// The empty list is [] on the wire, not null.
	resp := e.do(http.MethodGet, "/v2/app/referrers/"+digest.FromString("nothing").String(), e.password, nil, nil)
	if raw, _ := io.ReadAll(resp.Body); !bytes.Contains(raw, []byte(`"manifests":[]`)) {
		t.Errorf("empty answer = %s", raw)
	}

	// A client reads the same through the API (no tag-schema fallback).
	d, err := name.NewDigest(e.host+"/app@"+f.subject.Digest.String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Referrers(d, e.opts()...)
	if err != nil {
		t.Fatalf("remote.Referrers: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range im.Manifests {
		got = append(got, m.Digest.String())
	}
	if want := digestsOf(sortedDescs(f.sbom.want, f.sig.want, f.idx.want)); !reflect.DeepEqual(got, want) {
		t.Errorf("remote.Referrers digests = %v, want %v", got, want)
	}
}

func TestSubjectHeader(t *testing.T) {
	e := newEnv(t)
	img := randomImage(t, 1)
	e.mustPush("app", "v1", img)
	subj := descriptorOf(t, img)
	cfg := e.uploadBlob("app", emptyConfig, ocispec.MediaTypeEmptyJSON)
	missing := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromString("missing"), Size: 7}
	absentSubject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("not pushed"), Size: 3}
	tests := []struct {
		name        string
		ref         string
		a           artifact
		wantStatus  int
		wantSubject string
	}{
		{"by digest", "", artifactManifest(t, &subj, sbomType, cfg, nil, nil), http.StatusCreated, subj.Digest.String()},
		{"by tag", "sbom", artifactManifest(t, &subj, "application/vnd.example.other", cfg, nil, nil), http.StatusCreated, subj.Digest.String()},
		{"index", "", indexManifest(t, &subj, nil), http.StatusCreated, subj.Digest.String()},
		{"subject not pushed", "", artifactManifest(t, &absentSubject, sbomType, cfg, nil, nil), http.StatusCreated, absentSubject.Digest.String()},
		{"no subject", "plain", artifactManifest(t, nil, sbomType, cfg, nil, nil), http.StatusCreated, ""},
		{"rejected", "", artifactManifest(t, &subj, sbomType, cfg, []ocispec.Descriptor{missing}, nil), http.StatusBadRequest, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.putManifest("app", tt.ref, tt.a)
			if resp.StatusCode != tt.wantStatus {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tt.wantStatus, b)
			}
			if got := resp.Header.Get("OCI-Subject"); got != tt.wantSubject {
				t.Errorf("OCI-Subject = %q, want %q", got, tt.wantSubject)
			}
		})
	}
	// The API's own put lists the referrer too.
	a := artifactManifest(t, &subj, "application/vnd.example.api", cfg, nil, nil)
	if _, err := e.reg.PutManifest(t.Context(), "app", "", "", a.body); err != nil {
		t.Fatal(err)
	}
	got, _ := e.referrersOf("app", subj.Digest.String(), "application/vnd.example.api")
	if !reflect.DeepEqual(got, []ocispec.Descriptor{a.want}) {
		t.Errorf("referrers after PutManifest = %+v", got)
	}
}

// TestReferrersMaintained checks the index through writes made after it
// was built, against a fresh registry that builds it from storage.
func TestReferrersMaintained(t *testing.T) {
	e := newEnv(t)
	f := newReferrersFixture(e)
	subj := f.subject.Digest.String()
	check := func(step string, want ...ocispec.Descriptor) {
		t.Helper()
		want = sortedDescs(want...)
		if got, _ := e.referrersOf("app", subj, ""); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: referrers = %v, want %v", step, digestsOf(got), digestsOf(want))
		}
	}
	check("built", f.sbom.want, f.sig.want, f.idx.want)

	cfg := ocispec.Descriptor{MediaType: ocispec.MediaTypeEmptyJSON, Digest: digest.FromBytes(emptyConfig), Size: 2}
	late := artifactManifest(t, &f.subject, "application/vnd.example.late", cfg, nil, nil)
	e.mustPutManifest("app", "late", late)
	check("after an HTTP PUT", f.sbom.want, f.sig.want, f.idx.want, late.want)

	// Deleting by tag only untags: the referrer stays.
	if resp := e.do(http.MethodDelete, "/v2/app/manifests/late", e.password, nil, nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("DELETE by tag: %d", resp.StatusCode)
	}
	check("after an untag", f.sbom.want, f.sig.want, f.idx.want, late.want)

	if resp := e.do(http.MethodDelete, "/v2/app/manifests/"+f.sig.want.Digest.String(), e.password, nil, nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("DELETE by digest: %d", resp.StatusCode)
	}
	check("after an HTTP DELETE", f.sbom.want, f.idx.want, late.want)

	if err := e.reg.DeleteManifest(t.Context(), "app", f.sbom.want.Digest.String()); err != nil {
		t.Fatal(err)
	}
	check("after DeleteManifest", f.idx.want, late.want)

	// Deleting the subject leaves its referrers listed (the spec allows
	// either; nothing is cascaded).
	if err := e.reg.DeleteManifest(t.Context(), "app", subj); err != nil {
		t.Fatal(err)
	}
	check("after deleting the subject", f.idx.want, late.want)

	// Pushing a deleted referrer again lists it again.
	e.mustPutManifest("app", "", f.sig)
	check("after re-pushing", f.sig.want, f.idx.want, late.want)

	e.restart()
	check("rebuilt from storage", f.sig.want, f.idx.want, late.want)

	if err := e.reg.DeleteRepository(t.Context(), "app"); err != nil {
		t.Fatal(err)
	}
	check("after DeleteRepository")
	// The other repository's referrer was never app's and is still there.
	if got, _ := e.referrersOf("other", subj, ""); len(got) != 1 {
		t.Errorf("other's referrers = %v", got)
	}
}

// TestReferrersConcurrentWrites races pushes, deletes and queries; the
// maintained index must end equal to what storage holds.
func TestReferrersConcurrentWrites(t *testing.T) {
	e := newEnv(t)
	img := randomImage(t, 1)
	e.mustPush("app", "v1", img)
	subj := descriptorOf(t, img)
	cfg := e.uploadBlob("app", emptyConfig, ocispec.MediaTypeEmptyJSON)
	e.referrersOf("app", subj.Digest.String(), "") // build the index first

	const n = 16
	arts := make([]artifact, n)
	for i := range arts {
		arts[i] = artifactManifest(t, &subj, fmt.Sprintf("application/vnd.example.n%d", i), cfg, nil, nil)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	client := e.srv.Client()
	send := func(method, p string, body []byte, mt string) (int, error) {
		req, err := http.NewRequest(method, e.srv.URL+p, bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.SetBasicAuth("AWS", e.password)
		if mt != "" {
			req.Header.Set("Content-Type", mt)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	for i, a := range arts {
		wg.Go(func() {
			p := "/v2/app/manifests/" + a.want.Digest.String()
			if code, err := send(http.MethodPut, p, a.body, a.mediaType); err != nil || code != http.StatusCreated {
				errs <- fmt.Errorf("PUT %d: %d %v", i, code, err)
				return
			}
			if i%2 == 1 {
				if code, err := send(http.MethodDelete, p, nil, ""); err != nil || code != http.StatusAccepted {
					errs <- fmt.Errorf("DELETE %d: %d %v", i, code, err)
				}
			}
		})
		wg.Go(func() {
			if code, err := send(http.MethodGet, "/v2/app/referrers/"+subj.Digest.String(), nil, ""); err != nil || code != http.StatusOK {
				errs <- fmt.Errorf("GET referrers: %d %v", code, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var want []ocispec.Descriptor
	for i, a := range arts {
		if i%2 == 0 {
			want = append(want, a.want)
		}
	}
	want = sortedDescs(want...)
	if got, _ := e.referrersOf("app", subj.Digest.String(), ""); !reflect.DeepEqual(got, want) {
		t.Errorf("maintained referrers = %v\nwant %v", digestsOf(got), digestsOf(want))
	}
	e.restart()
	if got, _ := e.referrersOf("app", subj.Digest.String(), ""); !reflect.DeepEqual(got, want) {
		t.Errorf("rebuilt referrers = %v\nwant %v", digestsOf(got), digestsOf(want))
	}
}

func TestReferrersAccess(t *testing.T) {
	e := newEnv(t)
	good := "/v2/app/referrers/" + digest.FromString("x").String()
	tests := []struct {
		name       string
		method     string
		path       string
		auth       string
		wantStatus int
		wantCode   string
	}{
		{"no credentials", http.MethodGet, good, "", http.StatusUnauthorized, "UNAUTHORIZED"},
		{"bad token", http.MethodGet, good, "not-a-token", http.StatusUnauthorized, "UNAUTHORIZED"},
		{"no repository record", http.MethodGet, "/v2/ghost/referrers/" + digest.FromString("x").String(), e.password, http.StatusNotFound, "NAME_UNKNOWN"},
		{"malformed digest", http.MethodGet, "/v2/app/referrers/sha256:nothex", e.password, http.StatusBadRequest, "DIGEST_INVALID"},
		{"unknown algorithm", http.MethodGet, "/v2/app/referrers/md5:" + strings.Repeat("0", 32), e.password, http.StatusBadRequest, "DIGEST_INVALID"},
		{"wrong method", http.MethodDelete, good, e.password, http.StatusMethodNotAllowed, "UNSUPPORTED"},
		{"nested name", http.MethodGet, "/v2/nested/app/referrers/" + digest.FromString("x").String(), e.password, http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do(tt.method, tt.path, tt.auth, nil, nil)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantCode == "" {
				return
			}
			if eb := readError(t, resp); eb.Errors[0].Code != tt.wantCode {
				t.Errorf("error = %+v, want %s", eb.Errors[0], tt.wantCode)
			}
		})
	}
}

// BenchmarkReferrers lists the referrers of one subject in a repository
// of 1000 manifests, 100 of them referrers of it: "build" reads every
// manifest (a repository's first query), "indexed" answers from the
// index.
func BenchmarkReferrers(b *testing.B) {
	reg, password := benchRegistry(b)
	srv := httptest.NewServer(reg)
	defer srv.Close()
	pushPullBlob(b, srv.Client(), srv.URL, password, emptyConfig, digest.FromBytes(emptyConfig).String())
	ctx := b.Context()
	cfg := ocispec.Descriptor{MediaType: ocispec.MediaTypeEmptyJSON, Digest: digest.FromBytes(emptyConfig), Size: 2}
	subj := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("subject"), Size: 1}
	other := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("other"), Size: 1}
	for i := range 1000 {
		s := &other
		if i%10 == 0 {
			s = &subj
		}
		body, err := json.Marshal(ocispec.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
			ArtifactType: fmt.Sprintf("application/vnd.example.n%d", i), Config: cfg,
			Layers: []ocispec.Descriptor{}, Subject: s,
		})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := reg.PutManifest(ctx, "app", "", "", body); err != nil {
			b.Fatal(err)
		}
	}
	for _, mode := range []string{"build", "indexed"} {
		b.Run(mode, func(b *testing.B) {
			for b.Loop() {
				if mode == "build" {
					reg.forgetReferrers("app")
				}
				descs, err := reg.referrers(ctx, "app", subj.Digest, "")
				if err != nil || len(descs) != 100 {
					b.Fatalf("referrers = %d, %v", len(descs), err)
				}
			}
		})
	}
}
