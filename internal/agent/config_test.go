package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth/berth/internal/credential"
)

func TestConfigValidate(t *testing.T) {
	valid := func() Config {
		c := NewConfig()
		c.ServerURL = "http://127.0.0.1:8080"
		return c
	}
	tests := []struct {
		name    string
		change  func(*Config)
		wantErr string
	}{
		{"defaults with a server", func(*Config) {}, ""},
		{"https", func(c *Config) { c.ServerURL = "https://berth.example:8443" }, ""},
		{"no server", func(c *Config) { c.ServerURL = "" }, "server URL is required"},
		{"bad scheme", func(c *Config) { c.ServerURL = "ftp://x" }, "must be http"},
		{"no host", func(c *Config) { c.ServerURL = "http://" }, "must be http"},
		{"no cluster", func(c *Config) { c.Cluster = "" }, "cluster is required"},
		{"half a key pair", func(c *Config) { c.AccessKeyID = "AKID" }, "secret access key"},
		{"key pair", func(c *Config) { c.AccessKeyID, c.SecretAccessKey = "AKID", "s" }, ""},
		{"custom attribute", func(c *Config) { c.Attributes = map[string]string{"stack": "blue"} }, ""},
		{"reserved attribute prefix", func(c *Config) { c.Attributes = map[string]string{"ecs.os-type": "x"} }, "sets attributes with prefix"},
		{"berth attribute prefix", func(c *Config) { c.Attributes = map[string]string{"berth.awsvpc-cidr": "x"} }, "sets attributes with prefix"},
		{"bad attribute value", func(c *Config) { c.Attributes = map[string]string{"k": "a$b"} }, "attribute k"},
		{"too many attributes", func(c *Config) {
			c.Attributes = map[string]string{}
			for _, k := range strings.Split("a b c d e f g h i j k", " ") {
				c.Attributes[k] = "v"
			}
		}, "11 custom attributes"},
		{"negative reserved memory", func(c *Config) { c.ReservedMemory = -1 }, "negative"},
		{"bad reserved port", func(c *Config) { c.ReservedPorts = []int{0} }, "reserved port 0"},
		{"introspection off", func(c *Config) { c.IntrospectionPort = 0 }, ""},
		{"bad metadata port", func(c *Config) { c.MetadataPort = 0 }, "metadata port"},
		{"zero stop timeout", func(c *Config) { c.ContainerStopTimeout = 0 }, "stop timeout"},
		{"zero timer", func(c *Config) { c.Timing.MetricsInterval = 0 }, "metrics interval"},
		{"bad instance id", func(c *Config) { c.InstanceID = "abc" }, "must start with i-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.change(&c)
			err := c.Validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestConfigCredentials(t *testing.T) {
	path := filepath.Join(t.TempDir(), "credentials")
	if err := credential.WriteSharedFile(path, "agent", credential.Credential{AccessKeyID: "BKIAFILEAAAAAAAAAAAA", SecretAccessKey: "fileSecret/0123456789abcdefghijklmnopqrs"}); err != nil {
		t.Fatal(err)
	}
	c := NewConfig()
	c.CredentialsFile, c.Profile = path, "agent"
	cr, err := c.credentials()
	if err != nil || cr.AccessKeyID != "BKIAFILEAAAAAAAAAAAA" {
		t.Fatalf("from file: %+v %v", cr, err)
	}
	c.AccessKeyID, c.SecretAccessKey = "BKIAFLAGAAAAAAAAAAAA", "x"
	if cr, _ := c.credentials(); cr.AccessKeyID != "BKIAFLAGAAAAAAAAAAAA" {
		t.Errorf("explicit keys not preferred: %+v", cr)
	}
	// Without a file, the data dir's credentials file is read.
	d := NewConfig()
	d.DataDir, d.Profile = filepath.Dir(path), "agent"
	if cr, err := d.credentials(); err != nil || cr.AccessKeyID != "BKIAFILEAAAAAAAAAAAA" {
		t.Errorf("default file: %+v %v", cr, err)
	}
	c.AccessKeyID, c.SecretAccessKey, c.Profile = "", "", "missing"
	if _, err := c.credentials(); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing profile: %v", err)
	}
}

func TestInstanceID(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "machine-id")
	os.WriteFile(p, []byte("0123456789abcdef0123456789abcdef\n"), 0o644)
	id, err := instanceIDFrom(p)
	if err != nil || len(id) != 18 || !strings.HasPrefix(id, "i-") || strings.Contains(id, "0123456789abcdef") {
		t.Fatalf("instance id = %q, %v; want i- and 16 hex digits not exposing the machine id", id, err)
	}
	again, _ := instanceIDFrom(p)
	if again != id {
		t.Errorf("instance id not stable: %s then %s", id, again)
	}
	if _, err := instanceIDFrom(filepath.Join(dir, "none")); err == nil {
		t.Error("missing machine id accepted")
	}
}

func TestIntrospection(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	md := introspectionMetadata{Cluster: "c1", ContainerInstanceArn: testInstance, Version: "Berth Agent - v1.0.0 (abc)"}
	addr, done, err := serveIntrospection(ctx, 0, md, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Errorf("listens on %s, want loopback only", addr)
	}
	resp, err := http.Get("http://" + addr + "/v1/metadata")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	want := map[string]string{"Cluster": "c1", "ContainerInstanceArn": testInstance, "Version": "Berth Agent - v1.0.0 (abc)"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("introspection server did not stop")
	}
}
