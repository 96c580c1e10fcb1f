package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRegistryAuths(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", `{"127.0.0.1:5000":{"username":"ci","password":"pw"},"docker.io":{"username":"hub","password":"x"},"localhost":{"username":"l","password":"y"}}`, 0o600)
	ra, err := LoadRegistryAuths(good)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ ref, user string }{
		{"127.0.0.1:5000/web:1", "ci"},
		{"127.0.0.1:5001/web:1", ""},
		{"busybox", "hub"},
		{"library/busybox:latest", "hub"},
		{"docker.io/library/busybox", "hub"},
		{"localhost/app", "l"},
		{"registry.example.com/app", ""},
	} {
		got := ra.For(tt.ref)
		switch {
		case tt.user == "" && got != nil:
			t.Errorf("%s: got credentials for %s", tt.ref, got.Username)
		case tt.user != "" && (got == nil || got.Username != tt.user):
			t.Errorf("%s: got %v, want user %s", tt.ref, got, tt.user)
		}
	}
	for _, tt := range []struct {
		name, body string
		mode       os.FileMode
		want       string
	}{
		{"open.json", `{}`, 0o644, "make it 0600"},
		{"bad.json", `{`, 0o600, "unexpected end"},
		{"path.json", `{"host/x":{"username":"u"}}`, 0o600, "no path"},
		{"nouser.json", `{"host":{"password":"p"}}`, 0o600, "username"},
	} {
		_, err := LoadRegistryAuths(write(tt.name, tt.body, tt.mode))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want it to mention %q", tt.name, err, tt.want)
		}
	}
	if _, err := LoadRegistryAuths(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("a missing file must be an error")
	}
}
