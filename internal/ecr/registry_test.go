package ecr

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/berth/berth/internal/registry"
)

// What the real registry provides is what the API uses.
var (
	_ Images                = (*registry.Registry)(nil)
	_ TokenMinter           = (*registry.Tokens)(nil)
	_ registry.Repositories = (*Handler)(nil)
	_ registry.Repositories = Records{}
)

// realEnv is an env whose images live in a real registry served on
// 127.0.0.1.
type realEnv struct {
	*env
	reg *registry.Registry
	url string
}

func newRealEnv(t *testing.T) *realEnv {
	t.Helper()
	e := newEnv(t)
	// Wired as a server wires them: the registry over Records, then the
	// Handler over the registry.
	tokens := registry.NewTokens([]byte("test-key-0123456789abcdef0123456"), testAccount)
	reg, err := registry.New(context.Background(), registry.Config{RootDir: t.TempDir(), Repos: Records{Store: e.h.store},
		Tokens: tokens, Account: testAccount, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	// The registry stamps pushes with the real clock.
	e.h = New(Config{Store: e.h.store, Images: reg, Pulls: reg, Tokens: tokens, Region: testRegion, Account: testAccount,
		RegistryHost: func() string { return "127.0.0.1:8830" }, Logger: slog.New(slog.DiscardHandler)})
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	return &realEnv{env: e, reg: reg, url: srv.URL}
}

// password logs in as docker does: GetAuthorizationToken, decoded.
func (e *realEnv) password(t *testing.T) string {
	t.Helper()
	tok := e.ok(t, "GetAuthorizationToken", `{}`)["authorizationData"].([]any)[0].(map[string]any)["authorizationToken"].(string)
	raw, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		t.Fatal(err)
	}
	_, pw, _ := strings.Cut(string(raw), ":")
	return pw
}

// uploadBlob pushes content into repo over the distribution API and
// returns its descriptor.
func (e *realEnv) uploadBlob(t *testing.T, repo, mediaType string, content []byte) map[string]any {
	t.Helper()
	pw := e.password(t)
	do := func(method, u string, body []byte) *http.Response {
		req, err := http.NewRequest(method, u, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("AWS", pw)
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := do(http.MethodPost, e.url+"/v2/"+repo+"/blobs/uploads/", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start upload: %s", resp.Status)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	d := digestOf(content)
	q := loc.Query()
	q.Set("digest", d)
	loc.RawQuery = q.Encode()
	resp = do(http.MethodPut, e.url+loc.String(), content)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("finish upload: %s %s", resp.Status, b)
	}
	return map[string]any{"mediaType": mediaType, "digest": d, "size": len(content)}
}

// realManifest uploads a config and one layer and returns the manifest.
func (e *realEnv) realManifest(t *testing.T, repo, seed string) (string, int) {
	t.Helper()
	cfg := e.uploadBlob(t, repo, "application/vnd.oci.image.config.v1+json",
		[]byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"comment":"`+seed+`"}`))
	layerBytes := []byte(strings.Repeat(seed, 100))
	layer := e.uploadBlob(t, repo, "application/vnd.oci.image.layer.v1.tar+gzip", layerBytes)
	m, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mediaOCIManifest, "config": cfg, "layers": []any{layer}})
	return string(m), len(layerBytes)
}

func TestWithRealRegistry(t *testing.T) {
	e := newRealEnv(t)
	e.createRepo(t, "app")
	m1, size1 := e.realManifest(t, "app", "one")
	m2, _ := e.realManifest(t, "app", "two")

	// PutImage and the registry's answers.
	put := e.ok(t, "PutImage", fmt.Sprintf(`{"repositoryName":"app","imageTag":"v1","imageManifest":%q}`, m1))
	d1 := put["image"].(map[string]any)["imageId"].(map[string]any)["imageDigest"].(string)
	if d1 != digestOf([]byte(m1)) {
		t.Fatalf("digest %s", d1)
	}
	e.fails(t, "PutImage", fmt.Sprintf(`{"repositoryName":"app","imageTag":"v1","imageManifest":%q}`, m1), "ImageAlreadyExistsException", d1)
	// A manifest whose layer was never uploaded.
	missing := strings.Replace(m2, digestOf([]byte(strings.Repeat("two", 100))), "sha256:"+strings.Repeat("ab", 32), 1)
	e.fails(t, "PutImage", fmt.Sprintf(`{"repositoryName":"app","imageTag":"v9","imageManifest":%q}`, missing), "LayersNotFoundException", "app")
	e.fails(t, "PutImage", fmt.Sprintf(`{"repositoryName":"app","imageTag":"bad tag","imageManifest":%q}`, m2), "InvalidParameterException", "imageTag")
	e.ok(t, "PutImage", fmt.Sprintf(`{"repositoryName":"app","imageManifest":%q}`, m2)) // untagged

	details := e.ok(t, "DescribeImages", `{"repositoryName":"app","imageIds":[{"imageTag":"v1"}]}`)["imageDetails"].([]any)
	d := details[0].(map[string]any)
	if d["imageSizeInBytes"] != float64(size1) || fmt.Sprint(d["imageTags"]) != "[v1]" ||
		d["artifactMediaType"] != "application/vnd.oci.image.config.v1+json" || d["imagePushedAt"] == nil {
		t.Fatalf("detail %v", d)
	}
	if d["lastRecordedPullTime"] != nil {
		t.Fatalf("pulled before any pull: %v", d)
	}
	got := e.ok(t, "BatchGetImage", `{"repositoryName":"app","imageIds":[{"imageTag":"v1"}]}`)["images"].([]any)
	if len(got) != 1 || got[0].(map[string]any)["imageManifest"] != m1 {
		t.Fatalf("BatchGetImage %v", got)
	}
	// BatchGetImage counts as a pull, as in ECR.
	details = e.ok(t, "DescribeImages", `{"repositoryName":"app","imageIds":[{"imageTag":"v1"}]}`)["imageDetails"].([]any)
	if details[0].(map[string]any)["lastRecordedPullTime"] == nil {
		t.Fatalf("no lastRecordedPullTime after BatchGetImage: %v", details[0])
	}

	// Immutable tags hold through the API.
	e.ok(t, "PutImageTagMutability", `{"repositoryName":"app","imageTagMutability":"IMMUTABLE"}`)
	e.fails(t, "PutImage", fmt.Sprintf(`{"repositoryName":"app","imageTag":"v1","imageManifest":%q}`, m2), "ImageTagAlreadyExistsException", "immutable")

	// Lifecycle: the untagged image ages out.
	e.ok(t, "PutLifecyclePolicy", fmt.Sprintf(`{"repositoryName":"app","lifecyclePolicyText":%q}`, untaggedPolicy(1)))
	n, err := e.h.ApplyLifecyclePolicies(context.Background(), time.Now().Add(50*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("ApplyLifecyclePolicies = %d, %v", n, err)
	}
	if ids := ids(e.ok(t, "ListImages", `{"repositoryName":"app"}`)["imageIds"]); ids != short(d1)+":v1" {
		t.Fatalf("after lifecycle: %s", ids)
	}

	// Deleting the last tag deletes the image.
	out := e.ok(t, "BatchDeleteImage", `{"repositoryName":"app","imageIds":[{"imageTag":"v1"}]}`)
	if len(out["imageIds"].([]any)) != 1 || len(out["failures"].([]any)) != 0 {
		t.Fatalf("BatchDeleteImage %v", out)
	}
	imgs, err := e.reg.Images(context.Background(), "app")
	if err != nil || len(imgs) != 0 {
		t.Fatalf("registry still holds %v %v", imgs, err)
	}

	// A forced delete empties the registry's repository; a new one of the
	// same name starts empty.
	m3, _ := e.realManifest(t, "app", "three")
	e.ok(t, "PutImage", fmt.Sprintf(`{"repositoryName":"app","imageTag":"v3","imageManifest":%q}`, m3))
	e.fails(t, "DeleteRepository", `{"repositoryName":"app"}`, "RepositoryNotEmptyException", "app")
	e.ok(t, "DeleteRepository", `{"repositoryName":"app","force":true}`)
	e.createRepo(t, "app")
	if l := e.ok(t, "ListImages", `{"repositoryName":"app"}`)["imageIds"].([]any); len(l) != 0 {
		t.Fatalf("recreated repository lists %v", l)
	}
	if _, err := e.reg.Images(context.Background(), "app"); err != nil {
		t.Fatal(err)
	}
}
