package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth/berth/internal/bench"
	"github.com/berth/berth/internal/credential"
	"github.com/berth/berth/internal/server"
)

// benchCmd groups load generators.
func benchCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure Berth under load",
	}
	cmd.AddCommand(benchAPICmd(stdout, stderr), benchTasksCmd(stdout, stderr), benchScaleCmd(stdout, stderr), benchRegistryCmd(stdout, stderr))
	return cmd
}

// benchAPICmd runs the task-definition load generator against a running
// server or one it starts in-process.
func benchAPICmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		cfg                              bench.Config
		endpoint, dataDir, file, profile string
		ops, cpuProfile, client          string
		inProcess                        bool
	)
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Load the ECS API with concurrent Register/Describe/ListTaskDefinitions calls and print latencies",
		Long: `Registers a data set of task definitions, then sends RegisterTaskDefinition,
DescribeTaskDefinition (family and family:revision) and ListTaskDefinitions from
--concurrency clients at once for --duration (or --requests), over HTTP, SigV4
signed, no retries. Prints per operation the request count, errors, throughput
and p50/p90/p99/max latency, and the CPU used per request. Every answer is
checked; any failed request fails the run.

--client sdk (the default) sends with the AWS SDK for Go v2, as real callers do;
--client raw sends the same operations as hand-built AWS JSON 1.1 requests
(bodies marshalled once, one shared SigV4 signer, answers checked with a
targeted scan), which costs several times less CPU per request and so leaves
more of the machine to a server on the same cores. --server-pid PID also
measures the CPU time of a separate server process (Linux).

It targets a running server (--endpoint, signing with the administrator credential
in --data-dir/credentials) or, with --in-process, a server it starts itself on
127.0.0.1 with a temporary data dir. Only loopback endpoints are accepted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := bench.ParseClientKind(client)
			if err != nil {
				return fmt.Errorf("--client: %w", err)
			}
			cfg.Client = k
			for _, s := range strings.Split(ops, ",") {
				o, err := bench.ParseOp(strings.TrimSpace(s))
				if err != nil {
					return fmt.Errorf("--ops: %w", err)
				}
				cfg.Ops = append(cfg.Ops, o)
			}
			if inProcess {
				if cmd.Flags().Changed("endpoint") || cmd.Flags().Changed("data-dir") || file != "" || cfg.ServerPID != 0 {
					return fmt.Errorf("--in-process starts its own server: drop --endpoint, --data-dir, --credentials-file and --server-pid")
				}
				dir, err := os.MkdirTemp("", "berth-bench-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				scfg := server.NewConfig()
				scfg.DataDir = dir
				scfg.Listen = "127.0.0.1:0"
				scfg.Region = cfg.Region
				scfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
				s, err := server.New(scfg)
				if err != nil {
					return err
				}
				defer s.Close()
				if err := s.Start(cmd.Context()); err != nil {
					return err
				}
				endpoint, file = s.Endpoint(), filepath.Join(dir, "credentials")
				fmt.Fprintf(stdout, "in-process server at %s (the load generator and the server share this process)\n", endpoint)
			}
			if file == "" {
				file = filepath.Join(dataDir, "credentials")
			}
			c, err := credential.ReadSharedFile(file, profile)
			if err != nil {
				return fmt.Errorf("read credential: %w", err)
			}
			cfg.Endpoint, cfg.AccessKeyID, cfg.Secret = endpoint, c.AccessKeyID, c.SecretAccessKey
			stop, err := startCPUProfile(cpuProfile)
			if err != nil {
				return err
			}
			defer stop()
			rep, runErr := bench.Run(cmd.Context(), cfg)
			if len(rep.Ops) > 0 {
				if err := rep.WriteTable(stdout); err != nil {
					return err
				}
			}
			return runErr
		},
	}
	f := cmd.Flags()
	f.StringVar(&endpoint, "endpoint", "http://"+server.DefaultListen, "URL of the Berth API (a loopback address)")
	f.StringVar(&dataDir, "data-dir", defaultDataDir, "data dir whose credentials file holds the credential to sign with")
	f.StringVar(&file, "credentials-file", "", "shared-credentials file to sign with (default DATA_DIR/credentials)")
	f.StringVar(&profile, "profile", "default", "profile of the credentials file to sign with")
	f.StringVar(&cfg.Region, "region", server.DefaultRegion, "region the server runs as")
	f.BoolVar(&inProcess, "in-process", false, "start a server in this process with a temporary data dir and bench it")
	f.StringVar(&client, "client", string(bench.ClientSDK), "how to send requests: sdk (the AWS SDK for Go v2) or raw (hand-built AWS JSON 1.1, cheaper)")
	f.IntVar(&cfg.ServerPID, "server-pid", 0, "process id of the server, to measure its CPU time too (Linux)")
	f.IntVar(&cfg.Concurrency, "concurrency", 200, "number of clients sending requests at once")
	f.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long each phase measures (0: until --requests are sent)")
	f.IntVar(&cfg.Requests, "requests", 0, "requests per phase (0: until --duration ends)")
	f.StringVar(&ops, "ops", "register,describe-latest,describe-revision,list", "comma-separated operations to send")
	f.Float64Var(&cfg.Rate, "rate", 0, "pace each phase to this many requests/s in all (0: as fast as the clients can)")
	f.BoolVar(&cfg.Phased, "phased", false, "run each operation alone with every client, one after another, instead of mixed")
	f.IntVar(&cfg.Families, "families", 20, "task-definition families in the data set")
	f.IntVar(&cfg.Revisions, "revisions", 10, "revisions per family in the data set")
	f.StringVar(&cfg.FamilyPrefix, "family-prefix", "bench", "prefix of the data set's family names")
	f.BoolVar(&cfg.SkipPopulate, "skip-populate", false, "the data set is already registered (by an earlier run against this server)")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of this process (server included with --in-process) to FILE")
	return cmd
}
