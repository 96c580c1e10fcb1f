package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth/berth/internal/credential"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   string // "" = valid
	}{
		{"defaults", func(c *Config) {}, ""},
		{"no data dir", func(c *Config) { c.DataDir = "" }, "data dir"},
		{"bad listen", func(c *Config) { c.Listen = "nocolon" }, "listen"},
		{"short account", func(c *Config) { c.Account = "123" }, "12 digits"},
		{"bad region", func(c *Config) { c.Region = "US East" }, "region"},
		{"unknown store", func(c *Config) { c.Store = "sqlite" }, "unknown store"},
		{"etcd without endpoints", func(c *Config) { c.Store = StoreEtcd }, "endpoint"},
		{"etcd with endpoints", func(c *Config) { c.Store = StoreEtcd; c.EtcdEndpoints = []string{"http://127.0.0.1:2379"} }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewConfig()
			c.DataDir = "/tmp/x"
			tt.mutate(&c)
			err := c.Validate()
			if tt.want == "" && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func startTest(t *testing.T, dir string) *Server {
	t.Helper()
	cfg := NewConfig()
	cfg.DataDir = dir
	cfg.Listen = "127.0.0.1:0"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// The first start creates an administrator credential and writes it, mode
// 0600; later starts keep using it and do not write a new one.
func TestCredentialBootstrap(t *testing.T) {
	dir := t.TempDir()
	s := startTest(t, dir)
	path := filepath.Join(dir, "credentials")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file mode %v, want 0600", fi.Mode().Perm())
	}
	c1, err := credential.ReadSharedFile(path, "default")
	if err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile(filepath.Join(dir, "config"))
	if err != nil || !strings.Contains(string(conf), "region = us-east-1") || !strings.Contains(string(conf), "endpoint_url = "+s.Endpoint()) {
		t.Fatalf("config file: %q %v", conf, err)
	}
	resp, err := http.Get(s.Endpoint() + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := startTest(t, dir)
	defer s2.Close()
	c2, err := credential.ReadSharedFile(path, "default")
	if err != nil || c2.AccessKeyID != c1.AccessKeyID {
		t.Fatalf("credential changed across restarts: %v %v", c2.AccessKeyID, err)
	}
	list, err := s2.creds.List(context.Background())
	if err != nil || len(list) != 1 || !list[0].Admin {
		t.Fatalf("credentials after restart: %+v %v", list, err)
	}
}
