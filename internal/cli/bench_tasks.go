package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/berth/berth/internal/bench"
)

// benchTasksCmd runs the task start benchmark.
func benchTasksCmd(stdout, stderr io.Writer) *cobra.Command {
	cfg := bench.NewTaskStartConfig()
	var modes, logLevel string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "tasks",
		Short: "Measure task start latency (RunTask until RUNNING) beside ctr run -d",
		Long: `Starts a Berth server and an agent in this process (temporary data dir, API on
127.0.0.1, containerd namespace "berth-bench", bridge bb-br0 on 10.217.0.0/24,
so it never meets a running "berth dev"), imports a busybox image, and per
network mode (--modes) starts --tasks tasks one at a time: each is timed from
just before the RunTask call until the store commits its RUNNING (seen by a
watch on the store, not by polling), then stopped (untimed) before the next.
Each Berth start is followed by a "ctr run -d" of the same image and command
with the same limits and networking (--cni for bridge, on bridge bb-ctr0),
timed as a whole command. --warmup untimed starts of each come first.

Prints per mode n, median, p90, p99 and max for both, the ratio of the
medians, and PASS/FAIL against the targets: median ≤ 1.5 × ctr's, p99 < 1 s.
--phases also reports where Berth's time goes (milestones from the server's
and agent's debug logs and containerd's events).

Needs root, containerd, ctr and the CNI plugins in /usr/lib/cni. It removes
what it created (containers, networks, bridges, the CNI config it writes to
/etc/cni/net.d for ctr); the image stays cached in the namespace.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := bench.ParseTaskModes(modes)
			if err != nil {
				return fmt.Errorf("--modes: %w", err)
			}
			cfg.Modes = m
			if os.Geteuid() != 0 {
				return fmt.Errorf("berth bench tasks starts containers: run it as root")
			}
			log, err := newLogger(stderr, logLevel)
			if err != nil {
				return err
			}
			cfg.Logger = log
			cfg.Progress = stderr
			rep, runErr := bench.RunTaskStart(cmd.Context(), cfg)
			if len(rep.Modes) > 0 {
				var err error
				if asJSON {
					err = rep.WriteJSON(stdout)
				} else {
					err = rep.WriteTable(stdout)
				}
				if err != nil {
					return err
				}
			}
			return runErr
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Tasks, "tasks", cfg.Tasks, "measured task starts per mode (and as many ctr runs)")
	f.IntVar(&cfg.WarmUp, "warmup", cfg.WarmUp, "untimed starts per mode before measuring")
	f.StringVar(&modes, "modes", "bridge,none", "comma-separated network modes to measure (bridge, none)")
	f.BoolVar(&cfg.KeepGoing, "keep-going", false, "record a failed start and go on (5 failures in a row still end the run)")
	f.BoolVar(&asJSON, "json", false, "write the report as JSON instead of a table")
	f.BoolVar(&cfg.Phases, "phases", false, "also report where Berth's start time goes (enables debug logging in the server and agent)")
	f.StringVar(&cfg.ContainerdAddress, "containerd-address", cfg.ContainerdAddress, "containerd socket")
	f.StringVar(&cfg.DataDir, "data-dir", "", "directory for the run's temporary state (default: the system temporary directory)")
	f.DurationVar(&cfg.TaskTimeout, "task-timeout", cfg.TaskTimeout, "bound on one start and one stop")
	f.StringVar(&logLevel, "log-level", "warn", "level of the in-process server's and agent's logs on stderr")
	return cmd
}
