package agent

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth/berth/internal/agent/network"
	"github.com/berth/berth/internal/credential"
	"github.com/berth/berth/internal/ecs"
)

// Defaults of NewConfig.
const (
	DefaultCluster              = "default"
	DefaultRegion               = "us-east-1"
	DefaultDataDir              = "/var/lib/berth/agent"
	DefaultProfile              = "default"
	DefaultContainerdAddress    = "/run/containerd/containerd.sock"
	DefaultContainerdNamespace  = "berth"
	DefaultMetadataPort         = 51679
	DefaultIntrospectionPort    = 51678
	DefaultTaskCleanupWait      = time.Hour
	DefaultContainerStopTimeout = 30 * time.Second
)

// DefaultReservedPorts are the host ports the real ECS agent registers as
// reserved: SSH, the Docker daemon and the agent's own ports.
var DefaultReservedPorts = []int{22, 2375, 2376, 51678, 51679}

// Timing holds the agent's protocol timers. The defaults are the real ECS
// agent's; tests shrink them.
type Timing struct {
	// IdleTimeout closes a websocket that heard nothing from the server for
	// IdleTimeout plus a random jitter of up to IdleJitter (1 min + 1 min).
	IdleTimeout, IdleJitter time.Duration
	// ConnectionLifetime closes and reopens a websocket after this long
	// plus up to LifetimeJitter (30 min + 5 min).
	ConnectionLifetime, LifetimeJitter time.Duration
	// ACSBackoffMin/Max bound the ACS reconnect backoff (250 ms ×1.5 ±20 %, 2 min).
	ACSBackoffMin, ACSBackoffMax time.Duration
	// TCSBackoffMin/Max bound the TCS reconnect backoff (1 s, 1 min).
	TCSBackoffMin, TCSBackoffMax time.Duration
	// MetricsInterval is how often TCS metrics are published (20 s).
	MetricsInterval time.Duration
	// ReportBackoffMin/Max bound the retries of state-change reports (30 ms, 5 min).
	ReportBackoffMin, ReportBackoffMax time.Duration
	// RegisterBackoffMin/Max bound the retries of registration and
	// DiscoverPollEndpoint on transient failures (250 ms, 1 min).
	RegisterBackoffMin, RegisterBackoffMax time.Duration
	// EndpointCacheTTL is how long a DiscoverPollEndpoint answer is reused (12 h).
	EndpointCacheTTL time.Duration
}

// DefaultTiming returns the real ECS agent's timers.
func DefaultTiming() Timing {
	return Timing{
		IdleTimeout:        time.Minute,
		IdleJitter:         time.Minute,
		ConnectionLifetime: 30 * time.Minute,
		LifetimeJitter:     5 * time.Minute,
		ACSBackoffMin:      250 * time.Millisecond,
		ACSBackoffMax:      2 * time.Minute,
		TCSBackoffMin:      time.Second,
		TCSBackoffMax:      time.Minute,
		MetricsInterval:    20 * time.Second,
		ReportBackoffMin:   30 * time.Millisecond,
		ReportBackoffMax:   5 * time.Minute,
		RegisterBackoffMin: 250 * time.Millisecond,
		RegisterBackoffMax: time.Minute,
		EndpointCacheTTL:   12 * time.Hour,
	}
}

// Config configures the agent. Build it with NewConfig, change fields, and
// check it with Validate (Run does).
type Config struct {
	// ServerURL is the Berth API (ECS endpoint), http:// or https://.
	ServerURL string
	// Cluster is the cluster name to join.
	Cluster string
	// Region is the SigV4 signing region (the server's --region).
	Region string

	// AccessKeyID and SecretAccessKey sign every call. When empty, the
	// key pair is read from CredentialsFile's Profile.
	AccessKeyID, SecretAccessKey string
	// CredentialsFile is an AWS shared credentials file; empty means
	// DataDir/credentials (where `berth dev` puts its agent's credential).
	CredentialsFile string
	// Profile is the section of CredentialsFile to use.
	Profile string
	// CAFile holds PEM certificates to trust for an https ServerURL.
	CAFile string
	// RegistryAuthFile holds credentials for private registries (see
	// RegistryAuths); empty means none.
	RegistryAuthFile string

	// DataDir holds the agent's state (its statedb, network state).
	DataDir string
	// InstanceID overrides the EC2-style instance id derived from
	// /etc/machine-id ("i-" + 16 hex digits).
	InstanceID string
	// AvailabilityZone is registered as the attribute ecs.availability-zone.
	AvailabilityZone string
	// Attributes are custom attributes registered with the instance.
	Attributes map[string]string
	// ReservedMemory (MiB) is left out of the registered MEMORY.
	ReservedMemory int64
	// ReservedPorts and ReservedPortsUDP are registered as PORTS and
	// PORTS_UDP: no task may map them.
	ReservedPorts, ReservedPortsUDP []int

	// ContainerdAddress and ContainerdNamespace locate containerd.
	ContainerdAddress, ContainerdNamespace string
	// Network configures task networking (CNI); zero fields take the
	// network package's defaults, StateDir defaults to DataDir/network.
	Network network.Config

	// MetadataPort serves the task metadata and credentials endpoints.
	MetadataPort int
	// IntrospectionPort serves GET /v1/metadata on 127.0.0.1; 0 = off.
	IntrospectionPort int

	// TaskCleanupWait is how long a stopped task's containers are kept.
	TaskCleanupWait time.Duration
	// ContainerStopTimeout is the SIGTERM→SIGKILL grace of containers
	// whose definition gives no stopTimeout.
	ContainerStopTimeout time.Duration

	// Version and Hash identify the agent build (versionInfo, ACS query,
	// introspection).
	Version, Hash string

	// Timing holds protocol timers.
	Timing Timing
}

// NewConfig returns a Config with the defaults filled in.
func NewConfig() Config {
	return Config{
		Cluster:              DefaultCluster,
		Region:               DefaultRegion,
		Profile:              DefaultProfile,
		DataDir:              DefaultDataDir,
		ReservedPorts:        slices.Clone(DefaultReservedPorts),
		ContainerdAddress:    DefaultContainerdAddress,
		ContainerdNamespace:  DefaultContainerdNamespace,
		MetadataPort:         DefaultMetadataPort,
		IntrospectionPort:    DefaultIntrospectionPort,
		TaskCleanupWait:      DefaultTaskCleanupWait,
		ContainerStopTimeout: DefaultContainerStopTimeout,
		Version:              "0.0.0-dev",
		Timing:               DefaultTiming(),
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.ServerURL == "" {
		bad("server URL is required")
	} else if u, err := url.Parse(c.ServerURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("server URL %q must be http://HOST[:PORT] or https://HOST[:PORT]", c.ServerURL)
	}
	if c.Cluster == "" {
		bad("cluster is required")
	}
	if c.Region == "" {
		bad("region is required")
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		bad("an access key id needs its secret access key, and the reverse")
	}
	if c.AccessKeyID == "" && c.Profile == "" {
		bad("profile is required when no access key is given")
	}
	if c.DataDir == "" {
		bad("data dir is required")
	}
	if c.InstanceID != "" && !strings.HasPrefix(c.InstanceID, "i-") {
		bad("instance id %q must start with i-", c.InstanceID)
	}
	custom := 0
	for name, value := range c.Attributes {
		a := ecs.Attribute{Name: name, Value: value}
		if err := ecs.ValidateAttribute(a); err != nil {
			bad("attribute %s: %w", name, err)
		}
		if isReservedAttribute(name) {
			bad("attribute %s: the agent sets attributes with prefix ecs., com.amazonaws.ecs. and berth. itself", name)
		}
		custom++
	}
	if custom > ecs.MaxCustomAttributes {
		bad("%d custom attributes: at most %d are allowed", custom, ecs.MaxCustomAttributes)
	}
	if c.ReservedMemory < 0 {
		bad("reserved memory %d MiB is negative", c.ReservedMemory)
	}
	for _, p := range append(slices.Clone(c.ReservedPorts), c.ReservedPortsUDP...) {
		if p < 1 || p > 65535 {
			bad("reserved port %d is not in 1-65535", p)
		}
	}
	if c.ContainerdAddress == "" || c.ContainerdNamespace == "" {
		bad("containerd address and namespace are required")
	}
	if c.MetadataPort < 1 || c.MetadataPort > 65535 {
		bad("metadata port %d is not in 1-65535", c.MetadataPort)
	}
	if c.IntrospectionPort < 0 || c.IntrospectionPort > 65535 {
		bad("introspection port %d is not in 0-65535", c.IntrospectionPort)
	}
	if c.TaskCleanupWait <= 0 {
		bad("task cleanup wait must be positive")
	}
	if c.ContainerStopTimeout <= 0 {
		bad("container stop timeout must be positive")
	}
	t := c.Timing
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"idle timeout", t.IdleTimeout}, {"connection lifetime", t.ConnectionLifetime},
		{"ACS backoff min", t.ACSBackoffMin}, {"ACS backoff max", t.ACSBackoffMax},
		{"TCS backoff min", t.TCSBackoffMin}, {"TCS backoff max", t.TCSBackoffMax},
		{"metrics interval", t.MetricsInterval},
		{"report backoff min", t.ReportBackoffMin}, {"report backoff max", t.ReportBackoffMax},
		{"register backoff min", t.RegisterBackoffMin}, {"register backoff max", t.RegisterBackoffMax},
		{"endpoint cache TTL", t.EndpointCacheTTL},
	} {
		if d.v <= 0 {
			bad("%s must be positive", d.name)
		}
	}
	if t.IdleJitter < 0 || t.LifetimeJitter < 0 {
		bad("jitters must not be negative")
	}
	return errors.Join(errs...)
}

// isReservedAttribute reports whether name belongs to the agent's own
// attribute namespaces.
func isReservedAttribute(name string) bool {
	return ecs.IsBuiltInAttribute(name) || strings.HasPrefix(name, berthAttributePrefix)
}

// credentials returns the key pair to sign with: the configured one, or
// the credentials file's profile.
func (c *Config) credentials() (aws.Credentials, error) {
	if c.AccessKeyID != "" {
		return aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, Source: "berth-agent-config"}, nil
	}
	path := c.CredentialsFile
	if path == "" {
		path = filepath.Join(c.DataDir, "credentials")
	}
	cr, err := credential.ReadSharedFile(path, c.Profile)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("agent credentials: %w", err)
	}
	return aws.Credentials{AccessKeyID: cr.AccessKeyID, SecretAccessKey: cr.SecretAccessKey, Source: path}, nil
}
