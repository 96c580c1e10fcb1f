package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/berth/berth/internal/agentproto"
	"github.com/berth/berth/internal/ecr"
	"github.com/berth/berth/internal/registry"
)

// registryParts are the image registry (/v2/ on the API's listener) and the
// ECR API over it.
type registryParts struct {
	reg    *registry.Registry
	tokens *registry.Tokens
	ecr    *ecr.Handler
	host   string // host:port in repositoryUri
	scheme string
}

// startRegistry builds the registry and the ECR API. The token key lives in
// the store, so that several servers accept each other's tokens.
func (s *Server) startRegistry(ctx context.Context) (*registryParts, error) {
	key, err := registry.LoadOrCreateKey(ctx, s.store)
	if err != nil {
		return nil, fmt.Errorf("registry token key: %w", err)
	}
	p := &registryParts{tokens: registry.NewTokens(key, s.cfg.Account), host: s.cfg.RegistryHost, scheme: "http"}
	if p.host == "" {
		p.host = s.ln.Addr().String()
	}
	if s.cfg.TLSCertFile != "" {
		p.scheme = "https"
	}
	log := s.log.With("component", "registry")
	p.reg, err = registry.New(ctx, registry.Config{RootDir: s.cfg.RegistryDir, Repos: ecr.Records{Store: s.store}, Tokens: p.tokens,
		Account: s.cfg.Account, Realm: p.scheme + "://" + p.host + "/", Logger: log, Now: s.cfg.Now})
	if err != nil {
		return nil, err
	}
	p.ecr = ecr.New(ecr.Config{Store: s.store, Images: p.reg, Pulls: p.reg, Tokens: p.tokens, Region: s.cfg.Region, Account: s.cfg.Account,
		RegistryHost: func() string { return p.host }, RegistryScheme: func() string { return p.scheme },
		Now: s.cfg.Now, Logger: s.log.With("component", "ecr")})
	if every := hourlyUnlessSet(s.cfg.LifecycleInterval); every > 0 {
		go p.ecr.RunLifecycle(ctx, every)
	}
	if every := hourlyUnlessSet(s.cfg.RegistryGCInterval); every > 0 {
		go p.collectGarbage(ctx, every, log)
	}
	return p, nil
}

func hourlyUnlessSet(d time.Duration) time.Duration {
	if d == 0 {
		return time.Hour
	}
	return d
}

// collectGarbage removes unreferenced blobs every interval.
func (p *registryParts) collectGarbage(ctx context.Context, every time.Duration, log interface {
	Info(string, ...any)
	Warn(string, ...any)
}) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := p.reg.CollectGarbage(ctx)
		if err != nil {
			log.Warn("registry garbage collection failed", "err", err)
			continue
		}
		log.Info("registry garbage collection", "stats", fmt.Sprintf("%+v", st))
	}
}

// pullCredentials gives the agent short-lived credentials for images in
// Berth's registry (the ACS payload carries them, as ECS's does for ECR).
func (p *registryParts) pullCredentials(now func() time.Time) func(image string) *agentproto.RegistryAuthentication {
	return func(image string) *agentproto.RegistryAuthentication {
		if !strings.HasPrefix(image, p.host+"/") {
			return nil
		}
		pw, _ := p.tokens.Mint(now())
		return &agentproto.RegistryAuthentication{Type: "berth", Username: "AWS", Password: pw}
	}
}

// withReadDeadline bounds the time a request may take to send its body:
// the API's are small (the ECS API reads at most 4 MiB); image layers sent
// to the registry are not, so the server itself sets no read timeout.
func withReadDeadline(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
		next.ServeHTTP(w, r)
	})
}
