package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/berth/berth/internal/bench"
)

// benchRegistryCmd runs the registry benchmark.
func benchRegistryCmd(stdout, stderr io.Writer) *cobra.Command {
	cfg := bench.NewRegistryConfig()
	var (
		logLevel string
		imageMB  int
	)
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Compare push and pull throughput of Berth's registry with the plain distribution registry",
		Long: `Starts, in this process, a Berth server (temporary data dir, API on a free
127.0.0.1 port) and the plain distribution registry configured as Berth
configures its own (filesystem storage under the same temporary directory,
deletes on, redirects off) but with no authentication, on another free
127.0.0.1 port. Berth's side is reached over HTTP through its whole path: a
repository made with the ECR API's CreateRepository and Basic auth with a
token from GetAuthorizationToken.

Each round builds an image of --image-mb MB of random bytes in --layers
uncompressed tar layers (fresh bytes and a fresh tag every round, the same
bytes for both sides), then on each side, Berth first in one round and
the plain registry first in the next, pushes it (go-containerregistry
remote.Write) and pulls it back (manifest, config and every layer read
whole, digests checked); one such round on each side first warms up and is
not counted. Prints each round, the median
push and pull MB/s of each side, and Berth's over the plain registry's with
PASS/FAIL against the target (>= 0.9). Needs no root and no containerd.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(stderr, logLevel)
			if err != nil {
				return err
			}
			cfg.Logger = log
			cfg.ImageBytes = int64(imageMB) * 1_000_000
			rep, runErr := bench.RunRegistry(cmd.Context(), cfg)
			if len(rep.Berth) > 0 {
				if err := rep.WriteTable(stdout); err != nil {
					return err
				}
			}
			if runErr == nil && !rep.Pass() {
				return fmt.Errorf("the registry benchmark missed a target")
			}
			return runErr
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "rounds per side (each: one push and one pull)")
	f.IntVar(&imageMB, "image-mb", int(cfg.ImageBytes/1_000_000), "image size in MB (10^6 bytes)")
	f.IntVar(&cfg.Layers, "layers", cfg.Layers, "layers the image is split into")
	f.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "bound on each push and each pull")
	f.StringVar(&cfg.DataDir, "data-dir", "", "directory for the run's temporary state, both registries' blobs included (default: the system temporary directory)")
	f.StringVar(&logLevel, "log-level", "warn", "level of the Berth server's logs on stderr")
	return cmd
}
