package cli

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/berth/berth/internal/agent"
)

// agentCmd runs the container agent: it joins a cluster of a Berth server
// and runs the tasks the server places on this machine.
func agentCmd(stderr io.Writer) *cobra.Command {
	cfg := agent.NewConfig()
	var attributes []string
	var logLevel string
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the container agent: join a cluster and run its tasks on this machine (containerd)",
		Long: `Run the container agent: register this machine as a container instance of a
cluster of the Berth server at --server, hold its agent channel, and run the
tasks placed on it with containerd.

Credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or else the
--profile of a shared credentials file (--credentials-file, else
AWS_SHARED_CREDENTIALS_FILE, else DATA_DIR/credentials). Give the agent a
credential of its own (berth credentials create --name NAME --write FILE):
the credential that registers the instance is the only one that may act
for it afterwards.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(stderr, logLevel)
			if err != nil {
				return err
			}
			if err := completeAgentConfig(&cfg, attributes, cmd.Flags(), os.Getenv); err != nil {
				return err
			}
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("agent configuration: %w", err)
			}
			return agent.Run(cmd.Context(), cfg, log)
		},
	}
	agentFlags(cmd.Flags(), &cfg, &attributes, &logLevel)
	return cmd
}

// agentFlags binds the agent's flags to cfg.
func agentFlags(fs *pflag.FlagSet, cfg *agent.Config, attributes *[]string, logLevel *string) {
	fs.StringVar(&cfg.ServerURL, "server", "", "URL of the Berth server's ECS API (required), e.g. http://10.0.0.5:8080")
	fs.StringVar(&cfg.Cluster, "cluster", cfg.Cluster, "cluster to join (a missing cluster \"default\" is created, as ECS does)")
	fs.StringVar(&cfg.Region, "region", cfg.Region, "region the server runs as (SigV4 scope); AWS_REGION by default")
	fs.StringVar(&cfg.CredentialsFile, "credentials-file", "", "shared credentials file (default AWS_SHARED_CREDENTIALS_FILE or DATA_DIR/credentials)")
	fs.StringVar(&cfg.Profile, "profile", cfg.Profile, "profile of the credentials file; AWS_PROFILE by default")
	fs.StringVar(&cfg.CAFile, "ca-file", "", "PEM certificate(s) to trust for an https --server")
	fs.StringVar(&cfg.RegistryAuthFile, "registry-auth-file", "", `JSON file (mode 0600) of private registry credentials: {"host:port": {"username": "...", "password": "..."}}`)
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for the agent's state")
	fs.StringVar(&cfg.InstanceID, "instance-id", "", "instance id to register (default derived from /etc/machine-id)")
	fs.StringVar(&cfg.AvailabilityZone, "availability-zone", "", "availability zone to register (attribute ecs.availability-zone)")
	fs.StringArrayVar(attributes, "attribute", nil, "custom attribute NAME=VALUE (or NAME) to register; repeatable")
	fs.Int64Var(&cfg.ReservedMemory, "reserved-memory", 0, "MiB of memory left out of the registered MEMORY")
	fs.IntSliceVar(&cfg.ReservedPorts, "reserved-ports", cfg.ReservedPorts, "TCP host ports no task may map")
	fs.IntSliceVar(&cfg.ReservedPortsUDP, "reserved-ports-udp", nil, "UDP host ports no task may map")
	fs.StringVar(&cfg.ContainerdAddress, "containerd-address", cfg.ContainerdAddress, "containerd socket")
	fs.StringVar(&cfg.ContainerdNamespace, "containerd-namespace", cfg.ContainerdNamespace, "containerd namespace for the agent's images and containers")
	fs.StringSliceVar(&cfg.Network.PluginDirs, "cni-plugin-dir", nil, "directories holding the CNI plugins bridge, host-local and portmap (default /usr/lib/cni)")
	fs.StringVar(&cfg.Network.BridgeSubnet, "bridge-subnet", "", "subnet of the bridge network mode's bridge (default 10.213.0.0/17)")
	fs.StringVar(&cfg.Network.VPCSubnet, "awsvpc-subnet", "", "subnet of the awsvpc network mode's bridge, registered as berth.awsvpc-cidr (default 10.213.128.0/17)")
	fs.IntVar(&cfg.Network.MTU, "mtu", 0, "MTU of task interfaces (0: the plugin default)")
	fs.IntVar(&cfg.MetadataPort, "metadata-port", cfg.MetadataPort, "port of the task metadata and credentials endpoints")
	fs.IntVar(&cfg.IntrospectionPort, "introspection-port", cfg.IntrospectionPort, "port of the introspection API on 127.0.0.1 (0: off)")
	fs.DurationVar(&cfg.TaskCleanupWait, "task-cleanup-wait", cfg.TaskCleanupWait, "how long a stopped task's containers are kept")
	fs.DurationVar(&cfg.ContainerStopTimeout, "container-stop-timeout", cfg.ContainerStopTimeout, "SIGTERM to SIGKILL grace for containers without a stopTimeout")
	fs.StringVar(logLevel, "log-level", "info", "debug, info, warn or error")
}

// completeAgentConfig fills what flags leave to the environment (the AWS
// variables, as the real agent reads them) and the build's identity.
func completeAgentConfig(cfg *agent.Config, attributes []string, fs *pflag.FlagSet, getenv func(string) string) error {
	if len(attributes) > 0 {
		cfg.Attributes = map[string]string{}
		for _, a := range attributes {
			name, value, _ := strings.Cut(a, "=")
			if name == "" {
				return fmt.Errorf("--attribute %q: want NAME=VALUE", a)
			}
			if _, dup := cfg.Attributes[name]; dup {
				return fmt.Errorf("--attribute %s given twice", name)
			}
			cfg.Attributes[name] = value
		}
	}
	if cfg.AccessKeyID == "" {
		cfg.AccessKeyID, cfg.SecretAccessKey = getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	}
	if !fs.Changed("credentials-file") && getenv("AWS_SHARED_CREDENTIALS_FILE") != "" {
		cfg.CredentialsFile = getenv("AWS_SHARED_CREDENTIALS_FILE")
	}
	if !fs.Changed("profile") && getenv("AWS_PROFILE") != "" {
		cfg.Profile = getenv("AWS_PROFILE")
	}
	if !fs.Changed("region") {
		for _, v := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
			if r := getenv(v); r != "" {
				cfg.Region = r
				break
			}
		}
	}
	cfg.Version = Version
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 8 {
				cfg.Hash = s.Value[:8]
			}
		}
	}
	return nil
}
