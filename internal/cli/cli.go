// Package cli implements the `berth` command line: flags are parsed here
// into the Config structs of the packages that do the work (server, …), and
// administrative commands talk to a running server over its signed API.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Version is Berth's version, set at build time with -ldflags.
var Version = "0.1.0-dev"

// Main runs the berth command with args and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "berth",
		Short:         "Berth: a self-hosted container orchestrator that speaks the Amazon ECS API",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(serverCmd(stdout, stderr), devCmd(stdout, stderr), credentialsCmd(stdout), versionCmd(stdout))
	root.AddCommand(benchCmd(stdout, stderr))
	root.AddCommand(agentCmd(stderr))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := root.ExecuteContext(ctx); err != nil {
		if errors.Is(err, context.Canceled) {
			return 0
		}
		fmt.Fprintln(stderr, "berth:", err)
		return 1
	}
	return 0
}

func versionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print Berth's version",
		Args:  cobra.NoArgs,
		Run:   func(*cobra.Command, []string) { fmt.Fprintln(stdout, "berth", Version) },
	}
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}
