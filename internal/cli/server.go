package cli

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/berth/berth/internal/server"
)

const defaultDataDir = "/var/lib/berth"

// serverFlags binds the flags shared by `berth server` and `berth dev`.
func serverFlags(fs *pflag.FlagSet, cfg *server.Config, logLevel *string) {
	fs.StringVar(&cfg.DataDir, "data-dir", defaultDataDir, "directory for Berth's state and the credentials file")
	fs.StringVar(&cfg.Listen, "listen", server.DefaultListen, "HOST:PORT the ECS API listens on")
	fs.StringVar(&cfg.Region, "region", server.DefaultRegion, "region name used in ARNs and SigV4 scopes")
	fs.StringVar(&cfg.Account, "account", server.DefaultAccount, "12-digit account id used in ARNs")
	fs.StringVar(&cfg.Store, "store", server.StoreEmbedded, "state backend: embedded (in --data-dir) or etcd")
	fs.StringSliceVar(&cfg.EtcdEndpoints, "etcd-endpoints", nil, "etcd client URLs for --store=etcd")
	fs.StringVar(&cfg.EtcdPrefix, "etcd-prefix", "/berth/", "key prefix under which Berth keeps its state in etcd")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert", "", "PEM certificate: serve the API over HTTPS (with --tls-key)")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key", "", "PEM private key for --tls-cert")
	fs.DurationVar(&cfg.InstanceLostAfter, "instance-lost-after", cfg.InstanceLostAfter, "how long an instance's agent may go unheard before its service tasks are replaced elsewhere")
	fs.StringVar(&cfg.RegistryDir, "registry-dir", "", "directory holding the registry's images (default: <data-dir>/registry; several servers may share one)")
	fs.DurationVar(&cfg.RegistryGCInterval, "registry-gc-interval", 0, "how often blobs no image references are removed (default hourly; negative: never — with several servers on one --registry-dir, let one collect)")
	fs.StringVar(&cfg.RegistryHost, "registry-host", "", "HOST:PORT clients and agents reach the image registry (/v2/ on --listen) at, as repositoryUri shows it (default: the --listen address)")
	fs.BoolVar(&cfg.InsecureNoAuth, "insecure-no-auth", false, "DANGEROUS: accept unsigned requests from anyone who can reach --listen")
	fs.StringVar(logLevel, "log-level", "info", "debug, info, warn or error")
}

func serverCmd(stdout, stderr io.Writer) *cobra.Command {
	return controlPlaneCmd("server", "Run the Berth control plane (the ECS API)", stderr,
		func(s *server.Server, _ server.Config) {
			fmt.Fprintf(stdout, "berth server: ECS API at %s\n", s.Endpoint())
		})
}

// controlPlaneCmd builds a command that runs the server with the shared
// flags and calls started once it serves.
func controlPlaneCmd(use, short string, stderr io.Writer, started func(*server.Server, server.Config)) *cobra.Command {
	cfg := server.NewConfig()
	var logLevel, cpuProfile string
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(stderr, logLevel)
			if err != nil {
				return err
			}
			cfg.Logger = log
			stop, err := startCPUProfile(cpuProfile)
			if err != nil {
				return err
			}
			defer stop()
			return runServer(cmd, cfg, func(s *server.Server) { started(s, cfg) })
		},
	}
	serverFlags(cmd.Flags(), &cfg, &logLevel)
	cmd.Flags().StringVar(&cpuProfile, "cpu-profile", "", "write a Go CPU profile of the whole run to this file (for performance work)")
	cmd.Flags().MarkHidden("cpu-profile")
	return cmd
}

// runServer starts the server, calls started once it is ready, and serves
// until the command's context ends (SIGINT, SIGTERM).
func runServer(cmd *cobra.Command, cfg server.Config, started func(*server.Server)) error {
	ctx := cmd.Context()
	s, err := server.New(cfg)
	if err != nil {
		return err
	}
	if err := s.Start(ctx); err != nil {
		s.Close()
		return err
	}
	started(s)
	<-ctx.Done()
	return s.Close()
}

// startCPUProfile writes a CPU profile to path until stop is called, and
// then the allocations profile to path+".allocs"; an empty path profiles
// nothing.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		if a, err := os.Create(path + ".allocs"); err == nil {
			_ = pprof.Lookup("allocs").WriteTo(a, 0)
			a.Close()
		}
	}, nil
}
