package server

import (
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/berth/berth/internal/api"
)

// DefaultListen is where the API listens unless told otherwise.
const DefaultListen = "127.0.0.1:8830"

// Defaults for the identity Berth presents in ARNs.
const (
	DefaultRegion  = "us-east-1"
	DefaultAccount = "000000000000"
)

// Store backends.
const (
	StoreEmbedded = "embedded"
	StoreEtcd     = "etcd"
)

// Config configures a Server. Build it with NewConfig and change fields.
type Config struct {
	DataDir string // holds the embedded store and the credentials file
	Listen  string // host:port of the ECS API
	Region  string
	Account string // 12 digits
	// InsecureNoAuth turns SigV4 verification off. Every request is then
	// served as an administrator; the server logs a warning at start.
	InsecureNoAuth bool
	// TLSCertFile and TLSKeyFile (PEM) make the API serve HTTPS. Without
	// them it serves plain HTTP, which is fine on loopback; elsewhere the
	// answers (CreateCredential's new secret among them) cross the network
	// in clear.
	TLSCertFile string
	TLSKeyFile  string
	// Store selects the backend: "embedded" (bbolt in DataDir) or "etcd".
	Store         string
	EtcdEndpoints []string
	EtcdPrefix    string
	// WriteCredentials writes DataDir/credentials (and DataDir/config) with
	// the first administrator credential when Berth creates it.
	WriteCredentials bool
	// ShutdownTimeout bounds how long Close waits for requests in flight.
	ShutdownTimeout time.Duration
	// HeartbeatInterval and ManifestInterval pace the agent channel
	// (ECS: 30 s and 60 s; tests shorten them).
	HeartbeatInterval time.Duration
	ManifestInterval  time.Duration
	// TaskRetention is how long STOPPED tasks stay describable (ECS: about
	// an hour); SweepInterval how often they are looked for.
	TaskRetention time.Duration
	SweepInterval time.Duration
	// ServiceControllerInterval is how often the service controller runs
	// (0: every second; negative: never, for tests that drive it).
	ServiceControllerInterval time.Duration
	// InstanceLostAfter is how long an instance's agent may go unheard
	// before the service controller replaces its service tasks elsewhere.
	InstanceLostAfter time.Duration
	// RegistryDir holds the registry's images (default DataDir/registry).
	RegistryDir string
	// RegistryHost is the host:port that clients and agents reach the
	// registry at (/v2/ on the API's listener), as repositoryUri shows it;
	// default: the address the API listens on.
	RegistryHost string
	// RegistryGCInterval is how often blobs no image references are
	// removed, LifecycleInterval how often lifecycle policies are applied
	// (0: hourly; negative: never).
	RegistryGCInterval time.Duration
	LifecycleInterval  time.Duration
	Logger             *slog.Logger
	Now                func() time.Time
}

// NewConfig returns a Config with defaults.
func NewConfig() Config {
	return Config{
		Listen:                    DefaultListen,
		Region:                    DefaultRegion,
		Account:                   DefaultAccount,
		Store:                     StoreEmbedded,
		EtcdPrefix:                "/berth/",
		WriteCredentials:          true,
		ShutdownTimeout:           5 * time.Second,
		TaskRetention:             time.Hour,
		SweepInterval:             time.Minute,
		ServiceControllerInterval: time.Second,
		InstanceLostAfter:         api.DefaultInstanceLostAfter,
		Logger:                    slog.Default(),
		Now:                       time.Now,
	}
}

var (
	accountRE = regexp.MustCompile(`^[0-9]{12}$`)
	regionRE  = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)
)

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return fmt.Errorf("data dir is required")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen address %q: %w", c.Listen, err)
	}
	if !accountRE.MatchString(c.Account) {
		return fmt.Errorf("account id %q must be 12 digits", c.Account)
	}
	if !regionRE.MatchString(c.Region) {
		return fmt.Errorf("region %q is not a valid region name", c.Region)
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return fmt.Errorf("TLS needs both a certificate and a key file")
	}
	switch c.Store {
	case StoreEmbedded:
	case StoreEtcd:
		if len(c.EtcdEndpoints) == 0 {
			return fmt.Errorf("the etcd store needs at least one endpoint")
		}
		if !strings.HasSuffix(c.EtcdPrefix, "/") {
			// "/berth" would also match the keys of a neighbour at "/berth2".
			c.EtcdPrefix += "/"
		}
	default:
		return fmt.Errorf("unknown store %q (embedded or etcd)", c.Store)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.InstanceLostAfter < 0 {
		return fmt.Errorf("instance lost-after %s must not be negative", c.InstanceLostAfter)
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 5 * time.Second
	}
	if c.RegistryDir == "" {
		c.RegistryDir = filepath.Join(c.DataDir, "registry")
	}
	if c.RegistryHost != "" {
		if _, _, err := net.SplitHostPort(c.RegistryHost); err != nil || strings.Contains(c.RegistryHost, "/") {
			return fmt.Errorf("registry host %q must be HOST:PORT", c.RegistryHost)
		}
	}
	return nil
}
