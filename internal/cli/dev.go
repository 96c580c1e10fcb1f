package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/containerd/containerd/v2/client"
	"github.com/spf13/cobra"

	"github.com/berth/berth/internal/agent"
	"github.com/berth/berth/internal/server"
	"github.com/berth/berth/internal/testimage"
)

// devAgentCredential is the name of the credential `berth dev` gives its
// agent: agents act with credentials of their own, never the admin's.
const devAgentCredential = "dev-agent"

// devCmd runs the control plane and, against it, an agent on this machine:
// one command gives a working single-machine cluster ("default").
func devCmd(stdout, stderr io.Writer) *cobra.Command {
	cfg := server.NewConfig()
	acfg := agent.NewConfig()
	var logLevel string
	var noAgent bool
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run Berth on this machine, all in one: control plane (embedded store) and an agent that runs tasks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(stderr, logLevel)
			if err != nil {
				return err
			}
			cfg.Logger = log
			ctx := cmd.Context()
			s, err := server.New(cfg)
			if err != nil {
				return err
			}
			if err := s.Start(ctx); err != nil {
				s.Close()
				return err
			}
			agentDone := make(chan error, 1)
			if noAgent {
				agentDone <- nil
			} else {
				go func() { agentDone <- runDevAgent(ctx, s, cfg, acfg, log) }()
			}
			printDevUsage(stdout, s, cfg, !noAgent)
			select {
			case <-ctx.Done():
			case err := <-agentDone:
				if err != nil {
					// The control plane keeps serving: the API works without
					// capacity, and the message says what to fix.
					log.Error("the agent stopped; tasks cannot run on this machine until it runs again", "err", err)
				}
				<-ctx.Done()
			}
			if !noAgent {
				<-agentDone
			}
			return s.Close()
		},
	}
	serverFlags(cmd.Flags(), &cfg, &logLevel)
	cmd.Flags().BoolVar(&noAgent, "no-agent", false, "run only the control plane (no containers on this machine)")
	cmd.Flags().StringVar(&acfg.AvailabilityZone, "availability-zone", "", "the agent's ecs.availability-zone attribute")
	cmd.Flags().StringVar(&acfg.RegistryAuthFile, "registry-auth-file", "", `the agent's private registry credentials: JSON file (mode 0600) {"host:port": {"username": "...", "password": "..."}}`)
	cmd.Flags().StringVar(&acfg.ContainerdAddress, "containerd-address", acfg.ContainerdAddress, "containerd socket the agent uses")
	cmd.Flags().IntVar(&acfg.IntrospectionPort, "introspection-port", acfg.IntrospectionPort, "port of the agent's introspection API on 127.0.0.1 (0: off)")
	return cmd
}

// runDevAgent gives the agent its own credential and runs it against s
// until ctx ends.
func runDevAgent(ctx context.Context, s *server.Server, cfg server.Config, acfg agent.Config, log *slog.Logger) error {
	acfg.DataDir = filepath.Join(cfg.DataDir, "agent")
	credPath := filepath.Join(acfg.DataDir, "credentials")
	c, err := s.EnsureCredential(ctx, devAgentCredential, credPath)
	if err != nil {
		return fmt.Errorf("agent credential: %w", err)
	}
	acfg.ServerURL = s.Endpoint()
	acfg.Region = cfg.Region
	acfg.AccessKeyID, acfg.SecretAccessKey = c.AccessKeyID, c.SecretAccessKey
	acfg.CredentialsFile = credPath
	if cfg.TLSCertFile != "" {
		acfg.CAFile = cfg.TLSCertFile
	}
	importDemoImage(ctx, acfg, log)
	err = agent.Run(ctx, acfg, log.With("side", "agent"))
	if errors.Is(err, context.Canceled) || ctx.Err() != nil {
		return nil
	}
	return err
}

// DemoImage is the image `berth dev` makes available to tasks without any
// registry: a small busybox (sh, httpd, wget, ...) built from the host's
// /bin/busybox (Debian busybox-static).
const DemoImage = "berth.local/busybox:latest"

// importDemoImage puts DemoImage into the agent's containerd namespace. A
// failure only costs the demo image, so it is logged, not fatal.
func importDemoImage(ctx context.Context, acfg agent.Config, log *slog.Logger) {
	c, err := client.New(acfg.ContainerdAddress)
	if err != nil {
		log.Warn("demo image not imported: containerd unreachable", "image", DemoImage, "err", err)
		return
	}
	defer c.Close()
	if err := testimage.Import(ctx, c, acfg.ContainerdNamespace, DemoImage); err != nil {
		log.Warn("demo image not imported", "image", DemoImage, "err", err)
		return
	}
	log.Info("demo image ready for tasks", "image", DemoImage)
}

func printDevUsage(w io.Writer, s *server.Server, cfg server.Config, withAgent bool) {
	creds := filepath.Join(cfg.DataDir, "credentials")
	conf := filepath.Join(cfg.DataDir, "config")
	capacity := "this machine runs tasks in the cluster \"default\" (agent data in " + filepath.Join(cfg.DataDir, "agent") + ")"
	if !withAgent {
		capacity = "none (--no-agent): the API works, tasks cannot run"
	}
	fmt.Fprintf(w, `Berth is running.

  ECS API endpoint:  %s (the ECR API too)
  image registry:    %s (repositories from aws ecr create-repository)
  health check:      %s/healthz
  credentials:       %s (profile "default", mode 0600)
  region:            %s
  capacity:          %s

Use it with the AWS CLI:

  export AWS_SHARED_CREDENTIALS_FILE=%s AWS_CONFIG_FILE=%s
  aws --endpoint-url %s ecs list-container-instances
  aws --endpoint-url %s ecs run-task --task-definition <family> --count 2
  aws --endpoint-url %s ecr get-login-password | skopeo login --tls-verify=false -u AWS --password-stdin %s

or with any AWS SDK pointed at the endpoint (AWS_ENDPOINT_URL_ECS=%s).
Task definitions may use the local image %s (busybox: sh, httpd, wget, ...).
Stop with Ctrl-C.
`, s.Endpoint(), s.RegistryHost(), s.Endpoint(), creds, cfg.Region, capacity, creds, conf, s.Endpoint(), s.Endpoint(),
		s.Endpoint(), s.RegistryHost(), s.Endpoint(), DemoImage)
}
