package cli

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"

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
	cmd.Flags().StringVar(&cpuProfile, "cpu-profile", "", "write a Go CPU profile to this file (for performance work); each SIGUSR1 starts the next file, FILE.1, FILE.2, …")
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
// nothing. Each SIGUSR1 ends the current file (with its ".allocs", which
// counts from the start of the process) and starts path.1, path.2, …, so
// that a benchmark can profile one phase of a run.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	var (
		mu  sync.Mutex
		cur string
		f   *os.File
	)
	start := func(p string) error {
		nf, err := os.Create(p)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(nf); err != nil {
			nf.Close()
			return err
		}
		cur, f = p, nf
		return nil
	}
	end := func() {
		pprof.StopCPUProfile()
		f.Close()
		// The allocations profile is as of the collection before the last
		// one: two bring it up to now.
		runtime.GC()
		runtime.GC()
		if a, err := os.Create(cur + ".allocs"); err == nil {
			_ = pprof.Lookup("allocs").WriteTo(a, 0)
			a.Close()
		}
	}
	if err := start(path); err != nil {
		return nil, err
	}
	sig := make(chan os.Signal, 1)
	if len(profileSignals) > 0 {
		signal.Notify(sig, profileSignals...)
	}
	done := make(chan struct{})
	go func() {
		for n := 1; ; n++ {
			select {
			case <-sig:
			case <-done:
				return
			}
			mu.Lock()
			end()
			_ = start(path + "." + strconv.Itoa(n))
			mu.Unlock()
		}
	}()
	return func() {
		signal.Stop(sig)
		close(done)
		mu.Lock()
		defer mu.Unlock()
		end()
	}, nil
}
