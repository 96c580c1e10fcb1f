package bench

import (
	"archive/tar"
	"bytes"
	"context"
	cryptorand "crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdkecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/berth/berth/internal/credential"
	"github.com/berth/berth/internal/server"
)

// The registry benchmark (RunRegistry) pushes and pulls an image of
// random bytes through Berth's registry — a real Berth server in this
// process, reached over HTTP on 127.0.0.1 through its whole path (the
// API's listener and mux, Basic-auth tokens from GetAuthorizationToken, a
// repository created with CreateRepository) — and through the plain
// distribution application configured as Berth configures it (filesystem
// driver on the same filesystem, deletes on, redirects off, no auth),
// served by a plain net/http server on 127.0.0.1 in the same process.
// Rounds alternate between the two, Berth first in one round and plain
// first in the next (Berth, plain, plain, Berth, …); each round pushes an image of fresh bytes under a fresh tag, the same bytes
// to both sides, and pulls it back, reading every layer and checking its
// digest.

// TargetRegistryRatio bounds Berth's median push and pull throughput from
// below, as a fraction of the plain distribution registry's.
const TargetRegistryRatio = 0.9

// registryJobs is how many blobs a push or pull moves at once (the
// go-containerregistry default).
const registryJobs = 4

// registryRepo is the repository both sides push to.
const registryRepo = "bench/registry"

// RegistryConfig sizes a registry run.
type RegistryConfig struct {
	// DataDir holds the run's temporary directory ("": the system's); both
	// registries store their blobs under it.
	DataDir string
	// ImageBytes is the image's size in bytes (its layers' payload),
	// split evenly over Layers.
	ImageBytes int64
	Layers     int
	// Rounds per side.
	Rounds int
	// Timeout bounds each push and each pull.
	Timeout time.Duration
	// Logger receives the Berth server's logs.
	Logger *slog.Logger
}

// NewRegistryConfig returns the sizes: a 100 MB image of 4 layers,
// 5 rounds per side.
func NewRegistryConfig() RegistryConfig {
	return RegistryConfig{ImageBytes: 100_000_000, Layers: 4, Rounds: 5, Timeout: 5 * time.Minute}
}

// Validate checks the sizes.
func (c *RegistryConfig) Validate() error {
	switch {
	case c.Layers < 1 || c.Layers > 64:
		return fmt.Errorf("bench: --layers %d must be 1..64", c.Layers)
	case c.ImageBytes < int64(c.Layers) || c.ImageBytes > 4<<30:
		return fmt.Errorf("bench: image size %d bytes must be %d..%d", c.ImageBytes, c.Layers, int64(4<<30))
	case c.Rounds < 1 || c.Rounds > 100:
		return fmt.Errorf("bench: --rounds %d must be 1..100", c.Rounds)
	case c.Timeout <= 0:
		return errors.New("bench: --timeout must be positive")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return nil
}

// RegistryReport is what a registry run measured.
type RegistryReport struct {
	// ImageBytes is what one push or pull moves: the layers, the config
	// and the manifest.
	ImageBytes int64
	Layers     int
	// Berth and Plain are the rounds of each side, in order.
	Berth, Plain []RegistryRound
	// LoadStart and LoadEnd are the machine's load averages
	// (/proc/loadavg) before and after the rounds: other work on the
	// machine shows there.
	LoadStart, LoadEnd string
}

// RegistryRound is one image pushed to one side and pulled back.
type RegistryRound struct {
	Tag string
	// First is whether this side ran the round before the other.
	First      bool
	Push, Pull RegistryTransfer
}

// RegistryTransfer is one push or pull.
type RegistryTransfer struct {
	Duration time.Duration
	// CPU is the CPU time this process used meanwhile: the client and
	// the registry serving it.
	CPU time.Duration
	// WireBytes are the HTTP body bytes sent (push) or received (pull).
	WireBytes int64
	// Digest is the manifest digest pushed, or the one pulled (computed
	// from the manifest bytes received; every layer and the config were
	// read whole and matched their digests).
	Digest string
}

// RegistryRates are median throughputs in MB/s (10^6 bytes), or their
// ratios.
type RegistryRates struct{ Push, Pull float64 }

// Rates are the median push and pull throughputs of rounds.
func (r RegistryReport) Rates(rounds []RegistryRound) RegistryRates {
	return RegistryRates{
		Push: r.mbps(Percentile(transferTimes(rounds, false, elapsed), 50)),
		Pull: r.mbps(Percentile(transferTimes(rounds, true, elapsed), 50)),
	}
}

// Ratios are Berth's median throughputs over the plain registry's.
func (r RegistryReport) Ratios() RegistryRates {
	b, p := r.Rates(r.Berth), r.Rates(r.Plain)
	ratio := func(x, y float64) float64 {
		if y <= 0 {
			return 0
		}
		return x / y
	}
	return RegistryRates{Push: ratio(b.Push, p.Push), Pull: ratio(b.Pull, p.Pull)}
}

// PairedRatios are the medians of each round's Berth over plain
// throughput: each pair ran back to back, under much the same load from
// the rest of the machine, so they are less swayed by it than Ratios.
func (r RegistryReport) PairedRatios() RegistryRates {
	var push, pull []float64
	for i := range min(len(r.Berth), len(r.Plain)) {
		b, p := r.Berth[i], r.Plain[i]
		if b.Push.Duration <= 0 || b.Pull.Duration <= 0 {
			continue
		}
		// The throughput ratio is the inverse of the durations'.
		push = append(push, p.Push.Duration.Seconds()/b.Push.Duration.Seconds())
		pull = append(pull, p.Pull.Duration.Seconds()/b.Pull.Duration.Seconds())
	}
	return RegistryRates{Push: medianOf(push), Pull: medianOf(pull)}
}

// medianOf is the middle of xs (the mean of the middle two for an even
// count; 0 for none); it sorts xs.
func medianOf(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// Pass reports whether both sides ran every round and Berth's push and
// pull kept up with the plain registry's (TargetRegistryRatio).
func (r RegistryReport) Pass() bool {
	if len(r.Berth) == 0 || len(r.Berth) != len(r.Plain) {
		return false
	}
	q := r.Ratios()
	return q.Push >= TargetRegistryRatio && q.Pull >= TargetRegistryRatio
}

func elapsed(t RegistryTransfer) time.Duration { return t.Duration }
func cpuTime(t RegistryTransfer) time.Duration { return t.CPU }

// transferTimes returns the times that of picks from the pushes (pull
// false) or the pulls of rounds, sorted.
func transferTimes(rounds []RegistryRound, pull bool, of func(RegistryTransfer) time.Duration) []time.Duration {
	ds := make([]time.Duration, 0, len(rounds))
	for _, rr := range rounds {
		t := rr.Push
		if pull {
			t = rr.Pull
		}
		ds = append(ds, of(t))
	}
	slices.Sort(ds)
	return ds
}

// mbps is the report's image moved in d, in MB/s.
func (r RegistryReport) mbps(d time.Duration) float64 {
	return Throughput(int(r.ImageBytes), d) / 1e6
}

// WriteTable writes the report for people.
func (r RegistryReport) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "image: %.1f MB in %d layers (uncompressed tar of random bytes); each round a fresh tag and fresh bytes, the same on both sides\n",
		float64(r.ImageBytes)/1e6, r.Layers)
	fmt.Fprintf(w, "%d rounds per side after one unmeasured, in the order berth, plain, plain, berth, …; %d blobs at once; load average at start %s, at end %s\n",
		len(r.Berth), registryJobs, r.LoadStart, r.LoadEnd)
	fmt.Fprintln(w, "CPU is this process's (client and registry) during the transfer")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "ROUND\tSIDE\tPUSH s\tPUSH MB/s\tPUSH CPU s\tPULL s\tPULL MB/s\tPULL CPU s\t")
	row := func(i int, side string, rr RegistryRound) {
		fmt.Fprintf(tw, "%d\t%s\t%.2f\t%.1f\t%.2f\t%.2f\t%.1f\t%.2f\t\n", i+1, side,
			rr.Push.Duration.Seconds(), r.mbps(rr.Push.Duration), rr.Push.CPU.Seconds(),
			rr.Pull.Duration.Seconds(), r.mbps(rr.Pull.Duration), rr.Pull.CPU.Seconds())
	}
	for i := range max(len(r.Berth), len(r.Plain)) {
		// In the order they ran.
		if i < len(r.Plain) && r.Plain[i].First {
			row(i, "plain", r.Plain[i])
		}
		if i < len(r.Berth) {
			row(i, "berth", r.Berth[i])
		}
		if i < len(r.Plain) && !r.Plain[i].First {
			row(i, "plain", r.Plain[i])
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	side := func(label string, rounds []RegistryRound) {
		for _, pull := range []bool{false, true} {
			ds, what := transferTimes(rounds, pull, elapsed), "push"
			if pull {
				what = "pull"
			}
			if len(ds) == 0 {
				return
			}
			fmt.Fprintf(tw, "%s: %s\tmedian %.1f MB/s\t(slowest %.1f, fastest %.1f)\tmedian CPU %.2f s\n", label, what,
				r.mbps(Percentile(ds, 50)), r.mbps(Percentile(ds, 100)), r.mbps(Percentile(ds, 0)),
				Percentile(transferTimes(rounds, pull, cpuTime), 50).Seconds())
		}
	}
	side("berth", r.Berth)
	side("plain", r.Plain)
	if len(r.Berth) > 0 && len(r.Plain) > 0 {
		q := r.Ratios()
		fmt.Fprintf(tw, "push: berth / plain\t%.3f\t%s (>= %.2f)\n", q.Push, passFail(q.Push >= TargetRegistryRatio), TargetRegistryRatio)
		fmt.Fprintf(tw, "pull: berth / plain\t%.3f\t%s (>= %.2f)\n", q.Pull, passFail(q.Pull >= TargetRegistryRatio), TargetRegistryRatio)
		pp := r.PairedRatios()
		fmt.Fprintf(tw, "round by round: berth / plain\tmedian push %.3f, pull %.3f\t(each round's pair ran back to back; not the target)\n", pp.Push, pp.Pull)
	}
	fmt.Fprintf(tw, "check\tin every round shown, the pull's manifest digest matched the push's; every layer and config read whole and verified\n")
	fmt.Fprintf(tw, "result\t%s\n", passFail(r.Pass()))
	return tw.Flush()
}

// registryTarget is one side: where its repository is and how to reach it.
type registryTarget struct {
	name string
	repo name.Repository
	auth authn.Authenticator
	tr   *countingTransport
}

// RunRegistry runs the registry benchmark.
func RunRegistry(ctx context.Context, cfg RegistryConfig) (rep RegistryReport, err error) {
	if err := cfg.Validate(); err != nil {
		return rep, err
	}
	dir, err := os.MkdirTemp(cfg.DataDir, "berth-bench-registry-")
	if err != nil {
		return rep, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)
	// Berth first: its registry routes the distribution library's
	// (process-wide) logrus output, which the plain registry then shares.
	berth, stopBerth, err := startBerthRegistry(ctx, filepath.Join(dir, "berth"), cfg.Logger)
	if err != nil {
		return rep, err
	}
	defer stopBerth()
	plain, stopPlain, err := startPlainRegistry(ctx, filepath.Join(dir, "plain"))
	if err != nil {
		return rep, err
	}
	defer stopPlain()

	// One unmeasured round on each side first: the process's first
	// transfers pay for growing its heap, whichever side they go to.
	warm, err := registryImage(-1, cfg.Layers, cfg.ImageBytes)
	if err != nil {
		return rep, err
	}
	for _, t := range []*registryTarget{berth, plain} {
		if _, err := t.round(ctx, warm, "warm-up", cfg.Timeout); err != nil {
			return rep, fmt.Errorf("%w (warm-up)", err)
		}
	}

	rep.Layers = cfg.Layers
	rep.LoadStart = loadAverage()
	for i := range cfg.Rounds {
		img, err := registryImage(i, cfg.Layers, cfg.ImageBytes)
		if err != nil {
			return rep, err
		}
		if rep.ImageBytes, err = imageBytes(img); err != nil {
			return rep, err
		}
		tag := fmt.Sprintf("round-%d", i+1)
		// Berth, plain, then plain, Berth: neither side always goes first.
		order := []*registryTarget{berth, plain}
		if i%2 == 1 {
			order[0], order[1] = plain, berth
		}
		for j, t := range order {
			rr, err := t.round(ctx, img, tag, cfg.Timeout)
			if err != nil {
				return rep, err
			}
			rr.First = j == 0
			if t == berth {
				rep.Berth = append(rep.Berth, rr)
			} else {
				rep.Plain = append(rep.Plain, rr)
			}
		}
	}
	rep.LoadEnd = loadAverage()
	return rep, nil
}

// startBerthRegistry starts a Berth server over dataDir on a free loopback
// port, creates the repository with the ECR API and signs in with an
// authorization token from GetAuthorizationToken.
func startBerthRegistry(ctx context.Context, dataDir string, log *slog.Logger) (*registryTarget, func(), error) {
	scfg := server.NewConfig()
	scfg.DataDir = dataDir
	scfg.Listen = "127.0.0.1:0"
	scfg.Logger = log
	s, err := server.New(scfg)
	if err != nil {
		return nil, nil, fmt.Errorf("bench: berth server: %w", err)
	}
	stop := func() { _ = s.Close() }
	if err := s.Start(ctx); err != nil {
		stop()
		return nil, nil, fmt.Errorf("bench: start berth server: %w", err)
	}
	t, err := berthTarget(ctx, s.Endpoint(), scfg.Region, filepath.Join(dataDir, "credentials"))
	if err != nil {
		stop()
		return nil, nil, err
	}
	return t, stop, nil
}

// berthTarget makes the repository through the ECR API at endpoint, signed
// with the administrator credential in credFile, and takes a registry
// password from GetAuthorizationToken.
func berthTarget(ctx context.Context, endpoint, region, credFile string) (*registryTarget, error) {
	admin, err := credential.ReadSharedFile(credFile, "default")
	if err != nil {
		return nil, fmt.Errorf("bench: administrator credential: %w", err)
	}
	hc, _ := newHTTPClient(4, time.Minute)
	api := sdkecr.New(sdkecr.Options{
		Region:           region,
		BaseEndpoint:     aws.String(endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider(admin.AccessKeyID, admin.SecretAccessKey, ""),
		HTTPClient:       hc,
		Retryer:          aws.NopRetryer{},
		RetryMaxAttempts: 1,
	})
	created, err := api.CreateRepository(ctx, &sdkecr.CreateRepositoryInput{RepositoryName: aws.String(registryRepo)})
	if err != nil {
		return nil, fmt.Errorf("bench: CreateRepository: %w", err)
	}
	if created.Repository == nil || created.Repository.RepositoryUri == nil {
		return nil, errors.New("bench: CreateRepository answered no repositoryUri")
	}
	repo, err := name.NewRepository(*created.Repository.RepositoryUri, name.Insecure)
	if err != nil {
		return nil, fmt.Errorf("bench: repositoryUri %q: %w", *created.Repository.RepositoryUri, err)
	}
	if err := loopbackHost(repo.RegistryStr()); err != nil {
		return nil, err
	}
	tok, err := api.GetAuthorizationToken(ctx, &sdkecr.GetAuthorizationTokenInput{})
	if err != nil {
		return nil, fmt.Errorf("bench: GetAuthorizationToken: %w", err)
	}
	if len(tok.AuthorizationData) == 0 || tok.AuthorizationData[0].AuthorizationToken == nil {
		return nil, errors.New("bench: GetAuthorizationToken answered no token")
	}
	raw, err := base64.StdEncoding.DecodeString(*tok.AuthorizationData[0].AuthorizationToken)
	if err != nil {
		return nil, fmt.Errorf("bench: authorization token: %w", err)
	}
	user, password, ok := strings.Cut(string(raw), ":")
	if !ok || user != "AWS" {
		return nil, errors.New(`bench: the authorization token is not "AWS:password"`)
	}
	return &registryTarget{name: "berth", repo: repo, auth: &authn.Basic{Username: user, Password: password}, tr: newCountingTransport()}, nil
}

// startPlainRegistry serves the distribution application, configured as
// Berth's registry configures it but with no authentication or repository
// rules, from a plain net/http server on a free loopback port.
func startPlainRegistry(ctx context.Context, rootDir string) (*registryTarget, func(), error) {
	if err := os.MkdirAll(rootDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("bench: %w", err)
	}
	// A random secret of the same form as Berth's (32 bytes, base64).
	secret := make([]byte, 32)
	if _, err := cryptorand.Read(secret); err != nil {
		return nil, nil, fmt.Errorf("bench: %w", err)
	}
	conf := &configuration.Configuration{}
	conf.Log.Level = "warn"
	conf.Storage = configuration.Storage{
		"filesystem": configuration.Parameters{"rootdirectory": rootDir},
		"delete":     configuration.Parameters{"enabled": true},
		"redirect":   configuration.Parameters{"disable": true},
	}
	conf.HTTP.Secret = base64.RawStdEncoding.EncodeToString(secret)
	conf.HTTP.RelativeURLs = true
	conf.Catalog.MaxEntries = 1000
	conf.Tags.MaxTags = 1000
	app := handlers.NewApp(context.WithoutCancel(ctx), conf)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = app.Shutdown()
		return nil, nil, fmt.Errorf("bench: listen: %w", err)
	}
	// The same server settings as Berth's listener.
	srv := &http.Server{Handler: app, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute}
	go func() { _ = srv.Serve(ln) }()
	stop := func() { _ = srv.Close(); _ = app.Shutdown() }
	repo, err := name.NewRepository(ln.Addr().String()+"/"+registryRepo, name.Insecure)
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("bench: %w", err)
	}
	return &registryTarget{name: "plain", repo: repo, auth: authn.Anonymous, tr: newCountingTransport()}, stop, nil
}

// loopbackHost refuses a registry host that is not a loopback address.
func loopbackHost(hostport string) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("bench: registry host %q is not a loopback address", hostport)
	}
	return nil
}

// round pushes img under tag and pulls it back.
func (t *registryTarget) round(ctx context.Context, img v1.Image, tag string, timeout time.Duration) (RegistryRound, error) {
	rr := RegistryRound{Tag: tag}
	ref := t.repo.Tag(tag)
	want, err := img.Digest()
	if err != nil {
		return rr, fmt.Errorf("bench: image digest: %w", err)
	}
	rr.Push, err = t.measure(ctx, timeout, func(ctx context.Context) (string, error) {
		if err := remote.Write(ref, img, t.options(ctx)...); err != nil {
			return "", err
		}
		return want.String(), nil
	}, &t.tr.sent)
	if err != nil {
		return rr, fmt.Errorf("bench: push to %s (%s): %w", t.name, ref, err)
	}
	rr.Pull, err = t.measure(ctx, timeout, func(ctx context.Context) (string, error) {
		return t.pull(ctx, ref)
	}, &t.tr.received)
	if err != nil {
		return rr, fmt.Errorf("bench: pull from %s (%s): %w", t.name, ref, err)
	}
	if rr.Pull.Digest != want.String() {
		return rr, fmt.Errorf("bench: pulled %s from %s, pushed %s", rr.Pull.Digest, ref, want)
	}
	return rr, nil
}

// measure times do and counts the CPU it took and the bytes it moved.
func (t *registryTarget) measure(ctx context.Context, timeout time.Duration, do func(context.Context) (string, error), moved *atomic.Int64) (RegistryTransfer, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// The previous transfer's garbage and dirty pages are not this one's
	// to collect or write back: each transfer starts from the same state.
	runtime.GC()
	syscall.Sync()
	b0 := moved.Load()
	cpu0, cpuOK := processCPU()
	start := time.Now()
	d, err := do(ctx)
	tr := RegistryTransfer{Duration: time.Since(start), WireBytes: moved.Load() - b0, Digest: d}
	if cpu1, ok := processCPU(); ok && cpuOK {
		tr.CPU = cpu1 - cpu0
	}
	return tr, err
}

func (t *registryTarget) options(ctx context.Context) []remote.Option {
	return []remote.Option{remote.WithContext(ctx), remote.WithAuth(t.auth), remote.WithTransport(t.tr), remote.WithJobs(registryJobs)}
}

// pull fetches the manifest of ref, then its config and every layer whole,
// registryJobs blobs at once; go-containerregistry checks each blob's
// size and digest as it reads. It returns the digest of the manifest bytes.
func (t *registryTarget) pull(ctx context.Context, ref name.Reference) (string, error) {
	img, err := remote.Image(ref, t.options(ctx)...)
	if err != nil {
		return "", err
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	m, err := img.Manifest()
	if err != nil {
		return "", err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	if got, _, err := v1.SHA256(bytes.NewReader(cfg)); err != nil || got != m.Config.Digest {
		return "", fmt.Errorf("config digest %s, manifest names %s", got, m.Config.Digest)
	}
	layers, err := img.Layers()
	if err != nil {
		return "", err
	}
	var g errgroup.Group
	g.SetLimit(registryJobs)
	for _, l := range layers {
		g.Go(func() error { return readLayer(l) })
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	return d.String(), nil
}

// readLayer reads l whole; its reader fails on a size or digest mismatch.
func readLayer(l v1.Layer) error {
	dg, err := l.Digest()
	if err != nil {
		return err
	}
	rc, err := l.Compressed()
	if err != nil {
		return fmt.Errorf("layer %s: %w", dg, err)
	}
	_, err = io.Copy(io.Discard, rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("layer %s: %w", dg, err)
	}
	return nil
}

// registryImage is round's image: layers uncompressed tar layers, each
// holding one file of random bytes from a generator seeded with the
// round, so that both sides get the same bytes and no round repeats
// another's. Every digest is computed here, before any timing.
func registryImage(round, layers int, imageBytes int64) (v1.Image, error) {
	var seed [32]byte
	copy(seed[:], fmt.Sprintf("berth-bench-registry-%d", round))
	rng := rand.NewChaCha8(seed)
	ls := make([]v1.Layer, layers)
	for i := range ls {
		size := imageBytes / int64(layers)
		if i == 0 {
			size += imageBytes % int64(layers)
		}
		var buf bytes.Buffer
		buf.Grow(int(size) + 3*1024)
		tw := tar.NewWriter(&buf)
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("data-%d.bin", i), Mode: 0o644, Size: size,
			Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
			return nil, fmt.Errorf("bench: layer: %w", err)
		}
		if _, err := io.CopyN(tw, rng, size); err != nil {
			return nil, fmt.Errorf("bench: layer: %w", err)
		}
		if err := tw.Close(); err != nil {
			return nil, fmt.Errorf("bench: layer: %w", err)
		}
		ls[i] = static.NewLayer(buf.Bytes(), types.OCIUncompressedLayer)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("bench: image config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, fmt.Errorf("bench: image config: %w", err)
	}
	if img, err = mutate.AppendLayers(img, ls...); err != nil {
		return nil, fmt.Errorf("bench: image: %w", err)
	}
	if _, err := img.Digest(); err != nil {
		return nil, fmt.Errorf("bench: image digest: %w", err)
	}
	return img, nil
}

// imageBytes is what moving img moves: its layers, config and manifest.
func imageBytes(img v1.Image) (int64, error) {
	m, err := img.RawManifest()
	if err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	mf, err := img.Manifest()
	if err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	n := int64(len(m)) + mf.Config.Size
	for _, l := range mf.Layers {
		n += l.Size
	}
	return n, nil
}

// countingTransport sends over a loopback-only transport of its own and
// counts the body bytes sent and received.
type countingTransport struct {
	rt             http.RoundTripper
	sent, received atomic.Int64
}

func newCountingTransport() *countingTransport {
	hc, _ := newHTTPClient(2*registryJobs, 0)
	return &countingTransport{rt: hc.Transport}
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		req = req.Clone(req.Context())
		req.Body = &countingBody{ReadCloser: req.Body, n: &t.sent}
	}
	resp, err := t.rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &countingBody{ReadCloser: resp.Body, n: &t.received}
	return resp, nil
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// loadAverage is /proc/loadavg's first three fields, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}
