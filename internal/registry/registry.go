package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/distribution/distribution/v3/registry/storage"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	"github.com/sirupsen/logrus"
)

// DefaultGCGrace is the garbage collector's grace period when
// Config.GCGrace is zero.
const DefaultGCGrace = time.Hour

// Config configures a Registry.
type Config struct {
	// RootDir is the filesystem directory holding all registry content.
	RootDir string
	// Repos answers which repositories exist (required).
	Repos Repositories
	// Tokens verifies the Basic-auth passwords (required).
	Tokens *Tokens
	// Account is the registry id named in NAME_UNKNOWN messages.
	Account string
	// Realm goes into the WWW-Authenticate challenge.
	Realm string
	// GCGrace protects recently written or used blobs from
	// CollectGarbage. Zero means DefaultGCGrace; a negative value means
	// no grace at all (only for tests of the lock).
	GCGrace time.Duration
	// Logger receives the registry's logs (and the distribution library's
	// warnings); nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Registry is Berth's OCI distribution registry: an http.Handler for the
// /v2/ API with ECR's authentication and repository rules in front of the
// distribution library's application, plus the image operations the ECR
// API performs. It is safe for concurrent use.
type Registry struct {
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	grace time.Duration

	app    *handlers.App
	driver storagedriver.StorageDriver
	ns     distribution.Namespace

	repos repoCache

	// manifestMu orders manifest writes against garbage collection:
	// manifest PUTs and DELETEs (HTTP and API) hold it shared, a
	// collection holds it exclusively for mark and sweep.
	manifestMu sync.RWMutex
	// gcMu lets one collection run at a time.
	gcMu sync.Mutex
	// tagLocks serialize manifest PUTs per repository and tag in
	// immutable repositories (striped by hash).
	tagLocks [64]sync.Mutex
	// touches remembers when blobs were last used (see gc.go).
	touches [256]touchStripe
	// pulls remembers manifest pulls (see pulls.go).
	pulls pullLog
	// referrerIdx indexes manifests by subject (see referrers.go).
	referrerIdx referrerIndex
}

// New builds the registry over cfg.RootDir. The distribution application
// runs with the filesystem driver, deletes enabled, redirects off, no blob
// descriptor cache (the garbage collector deletes underneath it) and an
// upload-state secret derived from the token key.
func New(ctx context.Context, cfg Config) (*Registry, error) {
	switch {
	case cfg.RootDir == "":
		return nil, errors.New("registry: Config.RootDir is required")
	case cfg.Repos == nil:
		return nil, errors.New("registry: Config.Repos is required")
	case cfg.Tokens == nil:
		return nil, errors.New("registry: Config.Tokens is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	grace := cfg.GCGrace
	switch {
	case grace == 0:
		grace = DefaultGCGrace
	case grace < 0:
		grace = 0
	}
	if err := os.MkdirAll(cfg.RootDir, 0o700); err != nil {
		return nil, fmt.Errorf("registry: create root: %w", err)
	}
	routeLogrus(cfg.Logger)

	conf := &configuration.Configuration{}
	conf.Log.Level = "warn"
	conf.Storage = configuration.Storage{
		"filesystem": configuration.Parameters{"rootdirectory": cfg.RootDir},
		"delete":     configuration.Parameters{"enabled": true},
		"redirect":   configuration.Parameters{"disable": true},
	}
	conf.HTTP.Secret = cfg.Tokens.uploadSecret()
	conf.HTTP.RelativeURLs = true
	conf.Catalog.MaxEntries = 1000
	conf.Tags.MaxTags = 1000
	// Non-distributable (foreign) layers, such as Windows base layers, name
	// where they are fetched from; ECR accepts them, and so does Berth,
	// for http(s) URLs. They are never stored here.
	conf.Validation.Manifests.URLs.Allow = []string{foreignLayerURLs}

	app, err := newApp(context.WithoutCancel(ctx), conf)
	if err != nil {
		return nil, err
	}
	driver := filesystem.New(filesystem.DriverParameters{RootDirectory: cfg.RootDir, MaxThreads: 100})
	ns, err := storage.NewRegistry(context.WithoutCancel(ctx), driver,
		storage.EnableDelete,
		storage.EnableValidateImageIndexImagesExist,
		storage.ManifestURLsAllowRegexp(regexp.MustCompile(foreignLayerURLs)), // as the app
	)
	if err != nil {
		_ = app.Shutdown()
		return nil, fmt.Errorf("registry: storage namespace: %w", err)
	}
	r := &Registry{
		cfg:    cfg,
		log:    cfg.Logger,
		now:    cfg.Now,
		grace:  grace,
		app:    app,
		driver: driver,
		ns:     ns,
	}
	r.repos.init(cfg.Repos)
	r.pulls.init()
	return r, nil
}

// newApp builds the distribution application, turning its panics on bad
// configuration into errors.
func newApp(ctx context.Context, conf *configuration.Configuration) (app *handlers.App, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("registry: distribution app: %v", p)
		}
	}()
	return handlers.NewApp(ctx, conf), nil
}

// foreignLayerURLs are the URLs a manifest's non-distributable layers may
// name.
const foreignLayerURLs = `^https?://`

// Close stops the distribution application's background work (the upload
// purger). Serving after Close is not supported.
func (r *Registry) Close() error {
	if err := r.app.Shutdown(); err != nil {
		return fmt.Errorf("registry: shutdown: %w", err)
	}
	return nil
}

// The distribution library logs through logrus's standard logger (it has
// no per-application logger). routeLogrus points that logger, once per
// process, at the most recently configured slog.Logger: warnings and
// errors only, with "response completed with error" (one per error reply,
// such as every 404 of a blob HEAD during a push) at debug. This is a
// process-wide change: other logrus users of the standard logger
// (containerd's client) are routed the same way.
var (
	logrusOnce   sync.Once
	logrusTarget atomic.Pointer[slog.Logger]
)

func routeLogrus(l *slog.Logger) {
	logrusTarget.Store(l)
	logrusOnce.Do(func() {
		std := logrus.StandardLogger()
		std.SetLevel(logrus.WarnLevel)
		std.SetOutput(io.Discard)
		std.SetFormatter(nopFormatter{})
		std.AddHook(slogHook{})
	})
}

type nopFormatter struct{}

func (nopFormatter) Format(*logrus.Entry) ([]byte, error) { return nil, nil }

type slogHook struct{}

func (slogHook) Levels() []logrus.Level {
	return []logrus.Level{logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel, logrus.WarnLevel}
}

func (slogHook) Fire(e *logrus.Entry) error {
	l := logrusTarget.Load()
	if l == nil {
		return nil
	}
	level := slog.LevelWarn
	if e.Message == "response completed with error" {
		level = slog.LevelDebug
	}
	ctx := context.Background()
	if !l.Enabled(ctx, level) {
		return nil
	}
	attrs := make([]slog.Attr, 0, len(e.Data)+1)
	attrs = append(attrs, slog.String("component", "distribution"))
	for k, v := range e.Data {
		if k == "go.version" {
			continue
		}
		attrs = append(attrs, slog.Any(k, v))
	}
	l.LogAttrs(ctx, level, e.Message, attrs...)
	return nil
}
