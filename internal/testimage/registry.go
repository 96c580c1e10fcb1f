package testimage

import (
	"context"
	"crypto/subtle"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// ServeRegistry starts an in-memory OCI registry on 127.0.0.1 for the life
// of t and returns its host:port. With a non-empty username every request
// must carry those HTTP basic credentials (401 with a Basic challenge
// otherwise).
func ServeRegistry(t testing.TB, username, password string) string {
	t.Helper()
	host, stop, err := StartRegistry(username, password)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return host
}

// StartRegistry is ServeRegistry for callers without a testing.TB (a
// package-wide harness): it returns the host:port and the function that
// stops the registry.
func StartRegistry(username, password string) (host string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen: %w", err)
	}
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if username != "" {
		h = basicAuth(h, username, password)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), func() { _ = srv.Close() }, nil
}

func basicAuth(next http.Handler, username, password string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(username)) != 1 ||
			subtle.ConstantTimeCompare([]byte(p), []byte(password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="berth-test"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Push uploads the image built with opts (WithAuth for credentials) to
// host/repo:tag over plain HTTP and returns its manifest digest.
func Push(ctx context.Context, host, repo, tag string, opts ...Option) (string, error) {
	o := collect(opts)
	img, err := build(o)
	if err != nil {
		return "", err
	}
	ref, err := name.NewTag(host+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		return "", fmt.Errorf("parse reference: %w", err)
	}
	auth := authn.Anonymous
	if o.username != "" {
		auth = &authn.Basic{Username: o.username, Password: o.password}
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx), remote.WithAuth(auth)); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return d.String(), nil
}
