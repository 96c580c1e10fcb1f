package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/berth/berth/internal/bench"
)

// benchScaleCmd runs the scale benchmark.
func benchScaleCmd(stdout, stderr io.Writer) *cobra.Command {
	cfg := bench.NewScaleConfig()
	var logLevel, cpuProfile string
	cmd := &cobra.Command{
		Use:   "scale",
		Short: "Measure the control plane with many simulated instances",
		Long: `Starts "berth server" as a child process (temporary data dir, API on a free
127.0.0.1 port) and --instances simulated container instances in this
process: each registers, holds its ACS websocket and reports its tasks with
the real agent's code, over an engine that runs no container and reports
every task RUNNING at once. Then:

  1. CreateService with --service-tasks desired tasks, timed from the call
     until the control plane accepted the last task's RUNNING;
  2. --run-tasks RunTask calls (count 1) from --run-task-clients clients,
     timed from the first call until the last task's RUNNING, with each
     task's latency from its call;
  3. the pure placement function (scheduler.Place) on the same workload
     over instances shaped like the simulated ones.

Prints tasks/s of both phases, placements/s, and the server's peak and final
resident memory, CPU time and store size, with PASS/FAIL against the
targets (placements >= 5,000/s; API to RUNNING >= 1,000/s). Needs no root
and no containerd.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find the berth binary: %w", err)
			}
			cfg.Berth = self
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
			rep, runErr := bench.RunScale(cmd.Context(), cfg)
			if rep.Instances > 0 {
				if err := rep.WriteTable(stdout); err != nil {
					return err
				}
			}
			if runErr == nil && !rep.Pass() {
				return fmt.Errorf("the scale benchmark missed a target")
			}
			return runErr
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Instances, "instances", cfg.Instances, "simulated container instances")
	f.IntVar(&cfg.ServiceTasks, "service-tasks", cfg.ServiceTasks, "desired count of the service")
	f.IntVar(&cfg.RunTasks, "run-tasks", cfg.RunTasks, "RunTask calls (count 1 each)")
	f.IntVar(&cfg.RunTaskClients, "run-task-clients", cfg.RunTaskClients, "RunTask calls in flight at once")
	f.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "bound on each phase")
	f.StringVar(&cfg.DataDir, "data-dir", "", "directory for the run's temporary state (default: the system temporary directory)")
	f.StringVar(&cpuProfile, "cpu-profile", "", "write a CPU profile of this process (the simulated instances and the clients) to this file")
	f.StringVar(&cfg.ServerCPUProfile, "server-cpu-profile", "", "have the server write CPU profiles to this file (the run up to the RunTask phase), FILE.1 (the RunTask phase) and FILE.2 (the rest)")
	f.StringVar(&logLevel, "log-level", "warn", "level of the simulated agents' logs on stderr")
	return cmd
}
