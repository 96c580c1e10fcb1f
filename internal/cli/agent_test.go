package cli

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/berth/berth/internal/agent"
)

func parseAgentFlags(t *testing.T, args []string, env map[string]string) (agent.Config, error) {
	t.Helper()
	cfg := agent.NewConfig()
	var attrs []string
	var level string
	fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
	agentFlags(fs, &cfg, &attrs, &level)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	err := completeAgentConfig(&cfg, attrs, fs, func(k string) string { return env[k] })
	return cfg, err
}

func TestAgentFlags(t *testing.T) {
	cfg, err := parseAgentFlags(t, []string{
		"--server", "https://berth:8443", "--cluster", "prod", "--attribute", "stack=blue", "--attribute", "gpu",
		"--reserved-ports", "22,8080", "--reserved-memory", "256", "--introspection-port", "0", "--awsvpc-subnet", "10.9.0.0/16",
	}, map[string]string{"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "eu-west-1", "AWS_PROFILE": "p"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ServerURL != "https://berth:8443" || cfg.Cluster != "prod" || cfg.Region != "eu-west-1" || cfg.Profile != "p" {
		t.Errorf("config = %+v", cfg)
	}
	if cfg.AccessKeyID != "AKID" || cfg.SecretAccessKey != "secret" {
		t.Errorf("keys from the environment not used: %q", cfg.AccessKeyID)
	}
	if cfg.Attributes["stack"] != "blue" || cfg.Attributes["gpu"] != "" || len(cfg.Attributes) != 2 {
		t.Errorf("attributes = %v", cfg.Attributes)
	}
	if len(cfg.ReservedPorts) != 2 || cfg.ReservedMemory != 256 || cfg.IntrospectionPort != 0 || cfg.Network.VPCSubnet != "10.9.0.0/16" {
		t.Errorf("config = %+v", cfg)
	}
	if cfg.Version != Version {
		t.Errorf("version = %q, want %q", cfg.Version, Version)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate = %v", err)
	}

	// Flags win over the environment.
	cfg, _ = parseAgentFlags(t, []string{"--region", "ap-south-1", "--profile", "mine"}, map[string]string{"AWS_REGION": "eu-west-1", "AWS_PROFILE": "p"})
	if cfg.Region != "ap-south-1" || cfg.Profile != "mine" {
		t.Errorf("region/profile = %s/%s, want the flags'", cfg.Region, cfg.Profile)
	}
	if _, err := parseAgentFlags(t, []string{"--attribute", "=x"}, nil); err == nil {
		t.Error("attribute without a name accepted")
	}
	if _, err := parseAgentFlags(t, []string{"--attribute", "a=1", "--attribute", "a=2"}, nil); err == nil {
		t.Error("attribute given twice accepted")
	}
}

func TestAgentCommandNeedsServer(t *testing.T) {
	code, out, errs := run("agent", "--data-dir", t.TempDir())
	if code != 1 || !strings.Contains(out+errs, "server URL is required") {
		t.Fatalf("exit %d, output %q %q", code, out, errs)
	}
}
