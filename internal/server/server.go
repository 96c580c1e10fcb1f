// Package server composes Berth's control plane: it opens the store, makes
// sure an administrator credential exists, and serves on one listener the
// ECS and ECR APIs (SigV4 authenticated, POST /), the image registry
// (/v2/, tokens from GetAuthorizationToken), the agent channel and /healthz. It is embeddable: tests start
// it in-process on 127.0.0.1 with a temporary data dir (see servertest).
package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berth/berth/internal/acs"
	"github.com/berth/berth/internal/api"
	"github.com/berth/berth/internal/clusterview"
	"github.com/berth/berth/internal/credential"
	"github.com/berth/berth/internal/ecr"
	"github.com/berth/berth/internal/ecs/arn"
	"github.com/berth/berth/internal/registry"
	"github.com/berth/berth/internal/store"
	"github.com/berth/berth/internal/store/embedded"
	etcdstore "github.com/berth/berth/internal/store/etcd"
)

// Server is a running Berth control plane.
type Server struct {
	cfg   Config
	log   *slog.Logger
	store store.Store
	etcd  *clientv3.Client
	creds *credential.Registry
	ln    net.Listener
	http  *http.Server
	acs   *acs.Handler
	// registry serves images under /v2/, reached at registryHost.
	registry     *registry.Registry
	registryHost string
	ready        chan struct{}

	closeOnce sync.Once
	closeErr  error
	cancel    context.CancelFunc
}

// New validates cfg and opens the store; Start begins serving.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("server config: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, ready: make(chan struct{})}
	switch cfg.Store {
	case StoreEmbedded:
		st, err := embedded.Open(filepath.Join(cfg.DataDir, "state.db"), embedded.Options{})
		if err != nil {
			return nil, fmt.Errorf("open embedded store: %w", err)
		}
		s.store = st
	case StoreEtcd:
		cli, err := clientv3.New(clientv3.Config{Endpoints: cfg.EtcdEndpoints, DialTimeout: 5 * time.Second})
		if err != nil {
			return nil, fmt.Errorf("connect to etcd: %w", err)
		}
		s.etcd = cli
		s.store = etcdstore.New(cli, cfg.EtcdPrefix)
	}
	return s, nil
}

// Store returns the server's store (for tests and the agent in `berth dev`).
func (s *Server) Store() store.Store { return s.store }

// Start makes sure an administrator credential exists, listens on
// cfg.Listen and serves until Close. It returns once the API is ready.
func (s *Server) Start(ctx context.Context) error {
	ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if s.cfg.TLSCertFile != "" {
		if _, err := tls.LoadX509KeyPair(s.cfg.TLSCertFile, s.cfg.TLSKeyFile); err != nil {
			return fmt.Errorf("TLS certificate: %w", err)
		}
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	s.ln = ln
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && s.cfg.TLSCertFile == "" && !tcp.IP.IsLoopback() {
		s.log.Warn("the API serves plain HTTP on a non-loopback address; give --tls-cert and --tls-key so that answers (new credentials among them) do not cross the network in clear", "listen", ln.Addr().String())
	}
	creds := credential.NewRegistry(s.store, s.log)
	s.creds = creds
	go func() {
		if err := creds.Run(ctx); err != nil {
			s.log.Warn("credential cache stopped", "err", err)
		}
	}()
	if err := s.bootstrapCredentials(ctx); err != nil {
		ln.Close()
		return err
	}
	if err := s.writeClientConfig(); err != nil {
		ln.Close()
		return err
	}
	var auth api.Authenticator
	if s.cfg.InsecureNoAuth {
		s.log.Warn("!!! SigV4 AUTHENTICATION IS OFF (--insecure-no-auth): anyone who can reach " + ln.Addr().String() + " has full control of Berth !!!")
	} else {
		auth = newAuthenticator(creds, s.cfg.Region, s.cfg.Now)
	}
	// One watch-fed view of every cluster's instances and tasks serves
	// placement, the service controller and the agent channel.
	view := clusterview.New(s.store, s.log.With("component", "clusterview"))
	go view.Run(ctx)
	regs, err := s.startRegistry(ctx)
	if err != nil {
		ln.Close()
		return err
	}
	s.registry, s.registryHost = regs.reg, regs.host
	h := api.New(api.Config{
		View:  view,
		Store: s.store,
		// etcd refuses transactions of more than --max-txn-ops (128 by
		// default) ops; the embedded store has no such limit.
		MaxTxnOps: map[string]int{StoreEtcd: 128}[s.cfg.Store],
		Namer:     arn.Namer{Region: s.cfg.Region, Account: s.cfg.Account},
		Auth:      auth,
		Now:       s.cfg.Now,
		Logger:    s.log,
		Creds:     creds,
		Services:  map[string]api.Service{ecr.TargetPrefix: regs.ecr},
	})
	sweepEvery := s.cfg.SweepInterval
	if sweepEvery <= 0 {
		sweepEvery = time.Minute
	}
	go h.RunTaskSweeper(ctx, sweepEvery, s.cfg.TaskRetention)
	go h.RunServiceController(ctx, s.cfg.ServiceControllerInterval, s.cfg.InstanceLostAfter)
	// The agent channel: agents (Berth's and the Amazon ECS agent) hold
	// their ACS and TCS websockets here, next to the API.
	s.acs = acs.New(acs.Config{Store: s.store, View: view, Auth: auth, Namer: arn.Namer{Region: s.cfg.Region, Account: s.cfg.Account},
		Logger: s.log, Now: s.cfg.Now, HeartbeatInterval: s.cfg.HeartbeatInterval, ManifestInterval: s.cfg.ManifestInterval,
		PullCredentials: regs.pullCredentials(s.cfg.Now)})
	go func() {
		if err := s.acs.Run(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("agent channel watch stopped", "err", err)
		}
	}()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("GET "+acs.PathACS, s.acs)
	mux.Handle("GET "+acs.PathTCS, s.acs)
	// The registry (OCI distribution API) under /v2/; image layers may
	// take long to send, so only the API's requests have a read deadline.
	mux.Handle("/v2/", regs.reg)
	mux.Handle("/", withReadDeadline(60*time.Second, h))
	s.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute,
	}
	go func() {
		var err error
		if s.cfg.TLSCertFile != "" {
			err = s.http.ServeTLS(ln, s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
		} else {
			err = s.http.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "err", err)
		}
	}()
	close(s.ready)
	s.log.Info("berth server ready", "endpoint", s.Endpoint(), "store", s.cfg.Store, "region", s.cfg.Region, "account", s.cfg.Account)
	return nil
}

// Endpoint is the URL of the ECS API, e.g. http://127.0.0.1:8830.
func (s *Server) Endpoint() string {
	scheme := "http://"
	if s.cfg.TLSCertFile != "" {
		scheme = "https://"
	}
	if s.ln == nil {
		return scheme + s.cfg.Listen
	}
	return scheme + s.ln.Addr().String()
}

// RegistryHost is the host:port of the image registry (repositoryUri's
// host), known once Start returned.
func (s *Server) RegistryHost() string { return s.registryHost }

// Ready is closed once the API serves requests.
func (s *Server) Ready() <-chan struct{} { return s.ready }

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	select {
	case <-s.ready:
	default:
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if _, _, err := s.store.List(ctx, "/healthz-probe/", store.ListOptions{Limit: 1}); err != nil {
		http.Error(w, "store unavailable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintln(w, "ok")
}

// bootstrapCredentials creates the first administrator credential when
// Berth holds none, and writes it to DataDir/credentials (0600).
func (s *Server) bootstrapCredentials(ctx context.Context) error {
	list, err := s.creds.List(ctx)
	if err != nil {
		return fmt.Errorf("list credentials: %w", err)
	}
	if len(list) > 0 {
		return nil
	}
	c, err := credential.Generate(rand.Reader, "admin", true, s.cfg.Now())
	if err != nil {
		return err
	}
	// The file first, the store second: a crash in between leaves a file
	// whose key the store does not know, and the next start makes a new
	// pair; the other order would leave a key nobody holds, and no way in.
	if s.cfg.WriteCredentials {
		path := filepath.Join(s.cfg.DataDir, "credentials")
		if err := credential.WriteSharedFile(path, "default", c); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		s.log.Info("wrote credentials", "path", path)
	}
	if err := s.creds.Create(ctx, c); err != nil {
		return fmt.Errorf("create first credential: %w", err)
	}
	s.log.Info("created the first administrator credential", "accessKeyId", c.AccessKeyID)
	return nil
}

// writeClientConfig writes DataDir/config (AWS config-file format) with the
// region and, for clients that read it, this start's endpoint.
func (s *Server) writeClientConfig() error {
	if !s.cfg.WriteCredentials {
		return nil
	}
	conf := filepath.Join(s.cfg.DataDir, "config")
	body := fmt.Sprintf("[default]\nregion = %s\nendpoint_url = %s\n", s.cfg.Region, s.Endpoint())
	if err := writeFile0600(conf, []byte(body)); err != nil {
		return fmt.Errorf("write %s: %w", conf, err)
	}
	return nil
}

func writeFile0600(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Close stops serving and closes the store.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if s.cancel != nil {
			s.cancel()
		}
		var errs []error
		// Agent sessions first: they record their disconnections in the
		// store, and http.Shutdown does not wait for hijacked connections.
		if s.acs != nil {
			s.acs.Close()
		}
		if s.http != nil {
			// Let requests in flight finish; then close what is left (such
			// as connections a client opened but never used).
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
			if err := s.http.Shutdown(ctx); err != nil {
				s.http.Close()
			}
			cancel()
		}
		if s.registry != nil {
			errs = append(errs, s.registry.Close())
		}
		if s.store != nil {
			errs = append(errs, s.store.Close())
		}
		if s.etcd != nil {
			errs = append(errs, s.etcd.Close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// EnsureCredential makes sure the non-administrator credential stored in
// path (profile "default") exists in Berth, creating it under name and
// writing path (0600) when the file is missing or its key is unknown. It
// is how `berth dev` gives its agent credentials of its own.
func (s *Server) EnsureCredential(ctx context.Context, name, path string) (credential.Credential, error) {
	if c, err := credential.ReadSharedFile(path, "default"); err == nil {
		if _, err := s.creds.Get(ctx, c.AccessKeyID); err == nil {
			return c, nil
		}
	}
	// A credential of that name whose file is lost cannot be used: replace it.
	list, err := s.creds.List(ctx)
	if err != nil {
		return credential.Credential{}, fmt.Errorf("list credentials: %w", err)
	}
	for _, old := range list {
		if old.Name == name {
			if err := s.creds.Delete(ctx, old.AccessKeyID); err != nil {
				return credential.Credential{}, fmt.Errorf("replace credential %s: %w", name, err)
			}
		}
	}
	c, err := credential.Generate(rand.Reader, name, false, s.cfg.Now())
	if err != nil {
		return credential.Credential{}, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return credential.Credential{}, err
	}
	if err := credential.WriteSharedFile(path, "default", c); err != nil {
		return credential.Credential{}, fmt.Errorf("write %s: %w", path, err)
	}
	if err := s.creds.Create(ctx, c); err != nil {
		return credential.Credential{}, fmt.Errorf("create credential %s: %w", name, err)
	}
	return c, nil
}
