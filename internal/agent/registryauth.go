package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/berth/berth/internal/agent/runtime"
)

// RegistryAuths are the agent's credentials for private registries, by
// registry host ("registry.example.com", "127.0.0.1:5000"), as the ECS
// agent takes them with ECS_ENGINE_AUTH_TYPE=docker and ECS_ENGINE_AUTH_DATA:
//
//	{"127.0.0.1:5000": {"username": "ci", "password": "secret"}}
//
// They are used for images whose task payload carries no credentials of its
// own.
type RegistryAuths map[string]runtime.RegistryAuth

// LoadRegistryAuths reads a RegistryAuths file. The file holds secrets, so
// it must not be readable by group or others.
func LoadRegistryAuths(path string) (RegistryAuths, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("registry auth file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("registry auth file %s is mode %o: it holds passwords, make it 0600", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("registry auth file: %w", err)
	}
	var raw map[string]struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("registry auth file %s: %w", path, err)
	}
	out := RegistryAuths{}
	for host, a := range raw {
		if host == "" || strings.Contains(host, "/") || a.Username == "" {
			return nil, fmt.Errorf("registry auth file %s: entry %q needs a registry host (no path) and a username", path, host)
		}
		out[host] = runtime.RegistryAuth{Username: a.Username, Password: a.Password}
	}
	return out, nil
}

// For returns the credentials for image ref's registry, or nil.
func (ra RegistryAuths) For(ref string) *runtime.RegistryAuth {
	host, _, found := strings.Cut(ref, "/")
	// A first component without '.' or ':' (and not localhost) is a Docker
	// Hub path ("library/busybox"), not a host.
	if !found || (!strings.ContainsAny(host, ".:") && host != "localhost") {
		host = "docker.io"
	}
	if a, ok := ra[host]; ok {
		return &a
	}
	return nil
}
