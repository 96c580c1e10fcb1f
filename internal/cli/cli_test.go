package cli

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth/berth/internal/credential"
	"github.com/berth/berth/internal/servertest"
)

func run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestMainArguments(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		contains string // in stdout+stderr
	}{
		{"version", []string{"version"}, 0, "berth " + Version},
		{"unknown command", []string{"fly"}, 1, "unknown command"},
		{"bad listen", []string{"server", "--data-dir", "/tmp/x", "--listen", "nocolon"}, 1, "listen"},
		{"bad account", []string{"dev", "--data-dir", "/tmp/x", "--account", "12"}, 1, "12 digits"},
		{"bad log level", []string{"server", "--log-level", "loud"}, 1, "--log-level"},
		{"create without name", []string{"credentials", "create"}, 1, "name"},
		{"credentials without file", []string{"credentials", "list", "--data-dir", "/nonexistent"}, 1, "credential"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := run(tt.args...)
			if code != tt.code || !strings.Contains(out+errs, tt.contains) {
				t.Fatalf("exit %d, output %q %q; want exit %d mentioning %q", code, out, errs, tt.code, tt.contains)
			}
		})
	}
}

// `berth credentials` manages a running server's credentials with the
// administrator credential from the data dir.
func TestCredentialsCommands(t *testing.T) {
	srv := servertest.Start(t)
	common := []string{"--endpoint", srv.Endpoint(), "--data-dir", srv.Config.DataDir}
	file := filepath.Join(t.TempDir(), "ci-credentials")
	code, out, errs := run(append([]string{"credentials", "create", "--name", "ci", "--write", file}, common...)...)
	if code != 0 {
		t.Fatalf("create: %d %s %s", code, out, errs)
	}
	c, err := credential.ReadSharedFile(file, "default")
	if err != nil || c.AccessKeyID == "" {
		t.Fatalf("written credential: %+v %v", c, err)
	}
	code, out, _ = run(append([]string{"credentials", "list"}, common...)...)
	if code != 0 || !strings.Contains(out, c.AccessKeyID) || !strings.Contains(out, "ci") || strings.Contains(out, c.SecretAccessKey) {
		t.Fatalf("list: %d %q", code, out)
	}
	code, out, _ = run(append([]string{"credentials", "delete", c.AccessKeyID}, common...)...)
	if code != 0 || !strings.Contains(out, "deleted") {
		t.Fatalf("delete: %d %q", code, out)
	}
	code, _, errs = run(append([]string{"credentials", "delete", c.AccessKeyID}, common...)...)
	if code != 1 || !strings.Contains(errs, "ResourceNotFoundException") {
		t.Fatalf("second delete: %d %q", code, errs)
	}
}
