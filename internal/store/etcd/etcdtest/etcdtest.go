// Package etcdtest starts a real single-member etcd server in-process, for
// tests that need one: it listens on 127.0.0.1 with random ports, keeps its
// data in the test's temporary directory, logs only errors, and is stopped
// when the test ends.
package etcdtest

import (
	"context"
	"net/url"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// startTimeout bounds how long Start waits for the server to be ready.
const startTimeout = 60 * time.Second

// Options tune the server.
type Options struct {
	// Durable keeps etcd's fsyncs on. By default they are off
	// (--unsafe-no-fsync), which is faster and fine for tests that do not
	// crash the server; benchmarks turn them on for honest figures.
	Durable bool
}

// Server is a running etcd member.
type Server struct {
	Etcd *embed.Etcd
	// Endpoint is the client URL, http://127.0.0.1:PORT.
	Endpoint string
}

// Start starts a server with default Options; see StartWith.
func Start(tb testing.TB) *Server { return StartWith(tb, Options{}) }

// StartWith starts a server and registers its shutdown with tb.Cleanup.
func StartWith(tb testing.TB, opts Options) *Server {
	tb.Helper()
	cfg := embed.NewConfig()
	cfg.Name = "etcdtest"
	cfg.Dir = tb.TempDir()
	local := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls = []url.URL{local}
	cfg.AdvertiseClientUrls = []url.URL{local}
	cfg.ListenPeerUrls = []url.URL{local}
	cfg.AdvertisePeerUrls = []url.URL{local}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	// Errors only; and none once shutting down, when etcd reports its
	// closed listeners as errors.
	level := zap.NewAtomicLevelAt(zapcore.ErrorLevel)
	zcfg := zap.NewProductionConfig()
	zcfg.Level = level
	zcfg.OutputPaths = []string{"stderr"}
	zcfg.ErrorOutputPaths = []string{"stderr"}
	lg, err := zcfg.Build()
	if err != nil {
		tb.Fatalf("etcdtest: logger: %v", err)
	}
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(lg)
	cfg.UnsafeNoFsync = !opts.Durable

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		tb.Fatalf("etcdtest: start: %v", err)
	}
	tb.Cleanup(func() {
		level.SetLevel(zapcore.FatalLevel)
		e.Close()
	})
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		tb.Fatalf("etcdtest: server failed: %v", err)
	case <-time.After(startTimeout):
		tb.Fatalf("etcdtest: server not ready after %v", startTimeout)
	}
	return &Server{Etcd: e, Endpoint: "http://" + e.Clients[0].Addr().String()}
}

// Client returns a new client of s, closed when the test ends.
func (s *Server) Client(tb testing.TB) *clientv3.Client {
	tb.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{s.Endpoint},
		DialTimeout: 10 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		tb.Fatalf("etcdtest: client: %v", err)
	}
	tb.Cleanup(func() { _ = cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if _, err := cli.Get(ctx, "/etcdtest-ping"); err != nil {
		tb.Fatalf("etcdtest: first request: %v", err)
	}
	return cli
}
