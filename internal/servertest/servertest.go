// Package servertest starts a real Berth server in-process for tests: on
// 127.0.0.1 with a random port, an embedded store in a temporary data dir,
// SigV4 on, and returns clients built with the real aws-sdk-go-v2.
package servertest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/berth/berth/internal/credential"
	"github.com/berth/berth/internal/server"
)

// Server is a running test server.
type Server struct {
	*server.Server
	Config server.Config
	// Admin is the administrator credential the server created at start.
	Admin credential.Credential
}

// Start runs a server until the test ends. opts may change the config
// before it starts (Listen, DataDir and Logger are already set).
func Start(t testing.TB, opts ...func(*server.Config)) *Server {
	t.Helper()
	cfg := server.NewConfig()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.ShutdownTimeout = 100 * time.Millisecond
	for _, o := range opts {
		o(&cfg)
	}
	s, err := server.New(cfg)
	if err != nil {
		t.Fatalf("servertest: new server: %v", err)
	}
	if err := s.Start(context.Background()); err != nil {
		s.Close()
		t.Fatalf("servertest: start server: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	ts := &Server{Server: s, Config: cfg}
	if cfg.WriteCredentials && !cfg.InsecureNoAuth {
		c, err := credential.ReadSharedFile(filepath.Join(cfg.DataDir, "credentials"), "default")
		if err != nil {
			t.Fatalf("servertest: read admin credential: %v", err)
		}
		ts.Admin = c
	}
	return ts
}

// ECS returns an SDK client for the server signed with the admin credential.
func (s *Server) ECS(t testing.TB) *sdkecs.Client {
	return s.ECSWith(s.Admin.AccessKeyID, s.Admin.SecretAccessKey)
}

// ECSWith returns an SDK client signed with the given keys. SDK retries
// are off so that tests see each answer as the server gave it.
func (s *Server) ECSWith(accessKeyID, secret string) *sdkecs.Client {
	var httpClient sdkecs.HTTPClient
	if s.Config.TLSCertFile != "" {
		pem, err := os.ReadFile(s.Config.TLSCertFile)
		if err != nil {
			panic(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		httpClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	}
	return sdkecs.New(sdkecs.Options{
		HTTPClient:       httpClient,
		Region:           s.Config.Region,
		BaseEndpoint:     aws.String(s.Endpoint()),
		Credentials:      credentials.NewStaticCredentialsProvider(accessKeyID, secret, ""),
		RetryMaxAttempts: 1,
	})
}
