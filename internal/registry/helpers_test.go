package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

const testAccount = "123456789012"

// nonce makes each imageOf image distinct.
var nonce atomic.Int64

// fakeRepos is a hand-written Repositories.
type fakeRepos struct {
	mu sync.Mutex
	m  map[string]RepoSettings
}

func newFakeRepos(names ...string) *fakeRepos {
	f := &fakeRepos{m: make(map[string]RepoSettings)}
	for _, n := range names {
		f.m[n] = RepoSettings{}
	}
	return f
}

func (f *fakeRepos) set(name string, s RepoSettings) {
	f.mu.Lock()
	f.m[name] = s
	f.mu.Unlock()
}

func (f *fakeRepos) Repository(_ context.Context, name string) (RepoSettings, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.m[name]
	if !ok {
		return RepoSettings{}, fmt.Errorf("fake: %s: %w", name, ErrRepositoryNotFound)
	}
	return s, nil
}

// testClock is a clock the test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a registry served on 127.0.0.1 with a token for the "AWS" user.
type env struct {
	t        *testing.T
	root     string
	reg      *Registry
	srv      *httptest.Server
	host     string
	repos    *fakeRepos
	clock    *testClock
	tokens   *Tokens
	password string
	grace    time.Duration
}

type envOption func(*env)

func withGrace(d time.Duration) envOption { return func(e *env) { e.grace = d } }

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	e := &env{
		t:      t,
		root:   t.TempDir(),
		repos:  newFakeRepos("app", "base", "other", "nested/app"),
		clock:  &testClock{t: time.Now()},
		tokens: NewTokens([]byte("0123456789abcdef0123456789abcdef"), testAccount),
		grace:  time.Minute,
	}
	for _, o := range opts {
		o(e)
	}
	e.start()
	e.password, _ = e.tokens.Mint(e.now())
	return e
}

// now is the test clock, or the real one.
func (e *env) now() time.Time {
	if e.clock == nil {
		return time.Now()
	}
	return e.clock.now()
}

// start (re)opens the registry over e.root and serves it.
func (e *env) start() {
	e.t.Helper()
	reg, err := New(context.Background(), Config{
		RootDir: e.root,
		Repos:   e.repos,
		Tokens:  e.tokens,
		Account: testAccount,
		Realm:   "https://" + testAccount + ".dkr.ecr.local/",
		GCGrace: e.grace,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:     e.now,
	})
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v2/", reg)
	srv := httptest.NewServer(mux)
	e.reg, e.srv = reg, srv
	e.host = strings.TrimPrefix(srv.URL, "http://")
	e.t.Cleanup(func() {
		srv.Close()
		_ = reg.Close()
	})
}

// restart stops the registry and opens a new one over the same storage.
func (e *env) restart() {
	e.srv.Close()
	_ = e.reg.Close()
	e.start()
}

func (e *env) opts() []remote.Option {
	return []remote.Option{
		remote.WithAuth(&authn.Basic{Username: "AWS", Password: e.password}),
		remote.WithRetryBackoff(remote.Backoff{Steps: 1}),
	}
}

func (e *env) ref(repo, tagOrDigest string) name.Reference {
	e.t.Helper()
	sep := ":"
	if strings.HasPrefix(tagOrDigest, "sha256:") {
		sep = "@"
	}
	ref, err := name.ParseReference(e.host+"/"+repo+sep+tagOrDigest, name.Insecure)
	if err != nil {
		e.t.Fatalf("parse reference: %v", err)
	}
	return ref
}

func (e *env) push(repo, tag string, img v1.Image) error {
	return remote.Write(e.ref(repo, tag), img, e.opts()...)
}

func (e *env) mustPush(repo, tag string, img v1.Image) string {
	e.t.Helper()
	if err := e.push(repo, tag, img); err != nil {
		e.t.Fatalf("push %s:%s: %v", repo, tag, err)
	}
	return digestOf(e.t, img)
}

// pullValid pulls repo@ref and checks every blob against its digest.
func (e *env) pullValid(repo, ref string) error {
	img, err := remote.Image(e.ref(repo, ref), e.opts()...)
	if err != nil {
		return err
	}
	return validate.Image(img)
}

// do sends a request with the token unless auth is "".
func (e *env) do(method, path, auth string, body io.Reader, hdr map[string]string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if auth != "" {
		req.SetBasicAuth("AWS", auth)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// errorBody is the registry's error JSON.
type errorBody struct {
	Errors []struct {
		Code    string          `json:"code"`
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail"`
	} `json:"errors"`
}

func readError(t *testing.T, resp *http.Response) errorBody {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var eb errorBody
	if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil {
		t.Fatalf("decode error body: %v", err)
	}
	if len(eb.Errors) == 0 {
		t.Fatalf("error body has no errors")
	}
	return eb
}

func digestOf(t *testing.T, img interface{ Digest() (v1.Hash, error) }) string {
	t.Helper()
	h, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func randomImage(t *testing.T, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(1024, layers)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func randomLayer(t *testing.T, size int64) v1.Layer {
	t.Helper()
	l, err := random.Layer(size, types.DockerLayer)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// imageOf builds an image of the given layers on an empty base, with a
// config that differs per call (so equal layers still give a new image).
func imageOf(t *testing.T, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config.Labels = map[string]string{"nonce": fmt.Sprint(nonce.Add(1))}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// layerBytes sums an image's layer sizes from its manifest.
func layerBytes(t *testing.T, img v1.Image) int64 {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, l := range m.Layers {
		n += l.Size
	}
	return n
}
