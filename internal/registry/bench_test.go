package registry

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
)

// BenchmarkBlobPushPull pushes (POST, one PATCH, PUT) and pulls a blob
// through Berth's registry and through the bare distribution application
// configured the same way, to show the cost of the middleware.
func BenchmarkBlobPushPull(b *testing.B) {
	for _, size := range []int{1 << 20, 100 << 20} {
		data := make([]byte, size)
		if _, err := rand.Read(data); err != nil {
			b.Fatal(err)
		}
		sum := sha256.Sum256(data)
		dgst := "sha256:" + hex.EncodeToString(sum[:])
		for _, kind := range []string{"distribution", "berth"} {
			b.Run(fmt.Sprintf("%s/%dMiB", kind, size>>20), func(b *testing.B) {
				var h http.Handler
				password := ""
				if kind == "berth" {
					reg, pw := benchRegistry(b)
					h, password = reg, pw
				} else {
					h = benchPlainApp(b)
				}
				srv := httptest.NewServer(h)
				defer srv.Close()
				client := srv.Client()
				b.SetBytes(int64(2 * size))
				b.ResetTimer()
				for range b.N {
					pushPullBlob(b, client, srv.URL, password, data, dgst)
				}
			})
		}
	}
}

func benchRegistry(b *testing.B) (*Registry, string) {
	b.Helper()
	tokens := NewTokens([]byte("0123456789abcdef0123456789abcdef"), testAccount)
	reg, err := New(context.Background(), Config{
		RootDir: b.TempDir(),
		Repos:   newFakeRepos("app"),
		Tokens:  tokens,
		Account: testAccount,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = reg.Close() })
	pw, _ := tokens.Mint(reg.now())
	return reg, pw
}

// benchPlainApp is the distribution application as New configures it,
// without Berth's middleware.
func benchPlainApp(b *testing.B) http.Handler {
	b.Helper()
	routeLogrus(slog.New(slog.NewTextHandler(io.Discard, nil))) // the same logging as New sets up
	conf := &configuration.Configuration{}
	conf.Log.Level = "warn"
	conf.Storage = configuration.Storage{
		"filesystem": configuration.Parameters{"rootdirectory": b.TempDir()},
		"delete":     configuration.Parameters{"enabled": true},
		"redirect":   configuration.Parameters{"disable": true},
	}
	conf.HTTP.Secret = "benchmark-secret"
	conf.HTTP.RelativeURLs = true
	conf.Catalog.MaxEntries = 1000
	conf.Tags.MaxTags = 1000
	app := handlers.NewApp(context.Background(), conf)
	b.Cleanup(func() { _ = app.Shutdown() })
	return app
}

func pushPullBlob(b *testing.B, c *http.Client, base, password string, data []byte, dgst string) {
	do := func(method, u string, body io.Reader, want int) *http.Response {
		req, err := http.NewRequest(method, u, body)
		if err != nil {
			b.Fatal(err)
		}
		if password != "" {
			req.SetBasicAuth("AWS", password)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/octet-stream")
		}
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		if resp.StatusCode != want {
			b.Fatalf("%s %s: %d, want %d", method, u, resp.StatusCode, want)
		}
		return resp
	}
	resolve := func(loc string) string {
		bu, _ := url.Parse(base)
		lu, err := url.Parse(loc)
		if err != nil {
			b.Fatal(err)
		}
		return bu.ResolveReference(lu).String()
	}
	resp := do(http.MethodPost, base+"/v2/app/blobs/uploads/", nil, http.StatusAccepted)
	resp.Body.Close()
	resp = do(http.MethodPatch, resolve(resp.Header.Get("Location")), bytes.NewReader(data), http.StatusAccepted)
	resp.Body.Close()
	u, _ := url.Parse(resolve(resp.Header.Get("Location")))
	q := u.Query()
	q.Set("digest", dgst)
	u.RawQuery = q.Encode()
	resp = do(http.MethodPut, u.String(), nil, http.StatusCreated)
	resp.Body.Close()
	resp = do(http.MethodGet, base+"/v2/app/blobs/"+dgst, nil, http.StatusOK)
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != int64(len(data)) {
		b.Fatalf("pulled %d bytes: %v", n, err)
	}
}
