package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	remoteerrors "github.com/containerd/containerd/v2/core/remotes/errors"
	"github.com/containerd/errdefs"
	clog "github.com/containerd/log"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sirupsen/logrus"
)

// RegistryAuth holds registry credentials for one pull.
type RegistryAuth struct{ Username, Password string }

// Image describes an image made present by EnsureImage.
type Image struct {
	Ref    string // normalized reference, e.g. docker.io/library/nginx:latest
	Digest string // manifest digest the reference points at
	Pulled bool   // false: it was already present, no registry was contacted
	Size   int64  // manifest + config + layer blobs (compressed) in bytes
}

// PullErrorKind classifies a failed pull.
type PullErrorKind string

// Pull failure kinds.
const (
	PullInvalidRef   PullErrorKind = "InvalidReference"
	PullNotFound     PullErrorKind = "NotFound"
	PullUnauthorized PullErrorKind = "Unauthorized"
	PullUnreachable  PullErrorKind = "Unreachable"
	PullFailed       PullErrorKind = "Failed"
)

// PullError is returned by EnsureImage when an image cannot be made
// present. Error() is a message meant for users (the engine reports it as
// "CannotPullContainerError: <msg>"); Err keeps the cause.
type PullError struct {
	Ref  string
	Kind PullErrorKind
	Err  error
}

func (e *PullError) Error() string {
	switch e.Kind {
	case PullInvalidRef:
		return fmt.Sprintf("invalid image reference %q: %v", e.Ref, e.Err)
	case PullNotFound:
		return fmt.Sprintf("image %s not found: the repository or tag does not exist", e.Ref)
	case PullUnauthorized:
		return fmt.Sprintf("pull access denied for %s: unauthorized, check the registry credentials", e.Ref)
	case PullUnreachable:
		// The network error alone: containerd's chain around it repeats
		// the reference, and reasons are cut at 255 characters.
		cause := e.Err
		var opErr *net.OpError
		var dnsErr *net.DNSError
		switch {
		case errors.As(e.Err, &opErr):
			cause = opErr
		case errors.As(e.Err, &dnsErr):
			cause = dnsErr
		}
		return fmt.Sprintf("registry for %s unreachable: %v", e.Ref, cause)
	default:
		return fmt.Sprintf("failed to pull %s: %v", e.Ref, e.Err)
	}
}

func (e *PullError) Unwrap() error { return e.Err }

// imageInfo is what Create needs from an image, read once per digest.
type imageInfo struct {
	ref     string
	digest  string
	size    int64
	config  ocispec.ImageConfig
	chainID string
	passwd  []byte // the image's /etc/passwd, nil when absent
	group   []byte // the image's /etc/group, nil when absent
}

var quietLogger = func() *clog.Entry {
	l := logrus.New()
	l.SetLevel(logrus.WarnLevel)
	return logrus.NewEntry(l)
}()

// normalizeRef turns "nginx" into "docker.io/library/nginx:latest".
func normalizeRef(ref string) (string, error) {
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", err
	}
	return named.String(), nil
}

// EnsureImage makes ref present and unpacked for the snapshotter. An image
// already present is not looked up in any registry (Pulled=false).
// Registries on localhost, 127.0.0.1 and ::1 are spoken to over plain
// HTTP, others over HTTPS. auth, when not nil, is offered to the registry.
// Failures are *PullError.
func (r *Runtime) EnsureImage(ctx context.Context, ref string, auth *RegistryAuth) (Image, error) {
	norm, err := normalizeRef(ref)
	if err != nil {
		return Image{}, &PullError{Ref: ref, Kind: PullInvalidRef, Err: err}
	}
	ctx = r.ns(ctx)
	if info, err := r.presentImage(ctx, norm); err == nil {
		return Image{Ref: norm, Digest: info.digest, Size: info.size}, nil
	} else if !errors.Is(err, ErrImageNotPresent) {
		return Image{}, &PullError{Ref: norm, Kind: PullFailed, Err: err}
	}
	// Concurrent pulls of one image with the same credentials share one
	// transfer. It runs detached from the caller that started it, bounded
	// by that caller's deadline and by Close; each caller stops waiting
	// when its own context ends.
	key := norm
	if auth != nil {
		key += "\x00" + auth.Username + "\x00" + auth.Password
	}
	ch := r.pulls.DoChan(key, func() (any, error) {
		pctx, cancel := context.WithCancel(r.ns(context.WithoutCancel(ctx)))
		defer cancel()
		stop := context.AfterFunc(r.closing, cancel)
		defer stop()
		if dl, ok := ctx.Deadline(); ok {
			var cancelDL context.CancelFunc
			pctx, cancelDL = context.WithDeadline(pctx, dl)
			defer cancelDL()
		}
		return r.pull(pctx, norm, auth)
	})
	var v any
	select {
	case res := <-ch:
		if res.Err != nil {
			return Image{}, res.Err
		}
		v = res.Val
	case <-ctx.Done():
		return Image{}, classifyPullError(norm, ctx.Err())
	}
	info := v.(*imageInfo)
	return Image{Ref: norm, Digest: info.digest, Pulled: true, Size: info.size}, nil
}

// presentImage returns the cached or locally stored image for a normalized
// ref, unpacking it if needed; ErrImageNotPresent when containerd has no
// image by that name.
func (r *Runtime) presentImage(ctx context.Context, norm string) (*imageInfo, error) {
	img, err := r.client.ImageService().Get(ctx, norm)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("%s: %w", norm, ErrImageNotPresent)
		}
		return nil, fmt.Errorf("get image %s: %w", norm, err)
	}
	r.mu.Lock()
	info := r.byDigest[img.Target.Digest.String()]
	if info != nil {
		r.images[norm] = info
	}
	r.mu.Unlock()
	if info != nil {
		return info, nil
	}
	return r.loadImage(ctx, norm, img)
}

// forgetImage drops a digest and every reference to it from the cache.
func (r *Runtime) forgetImage(digest string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.byDigest, digest)
	for ref, info := range r.images {
		if info.digest == digest {
			delete(r.images, ref)
		}
	}
}

// imageFor is Create's look-up: the cache, else the local store. It
// returns the normalized reference too (several may share one imageInfo).
func (r *Runtime) imageFor(ctx context.Context, ref string) (string, *imageInfo, error) {
	norm, err := normalizeRef(ref)
	if err != nil {
		return "", nil, fmt.Errorf("image reference %q: %w", ref, err)
	}
	r.mu.Lock()
	info := r.images[norm]
	r.mu.Unlock()
	if info != nil {
		return norm, info, nil
	}
	info, err = r.presentImage(ctx, norm)
	return norm, info, err
}

func (r *Runtime) pull(ctx context.Context, norm string, auth *RegistryAuth) (*imageInfo, error) {
	start := time.Now()
	// containerd's resolver logs every failed attempt at info level; keep
	// warnings only (the outcome is logged here and returned).
	ctx = clog.WithLogger(ctx, quietLogger)
	authOpts := []docker.AuthorizerOpt{}
	if auth != nil {
		a := *auth
		authOpts = append(authOpts, docker.WithAuthCreds(func(string) (string, string, error) {
			return a.Username, a.Password, nil
		}))
	}
	resolver := docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(
			docker.WithPlainHTTP(docker.MatchLocalhost),
			docker.WithAuthorizer(docker.NewDockerAuthorizer(authOpts...)),
		),
	})
	img, err := r.client.Pull(ctx, norm,
		client.WithResolver(resolver),
		client.WithPullUnpack,
		client.WithPullSnapshotter(r.cfg.Snapshotter),
	)
	if err != nil {
		return nil, classifyPullError(norm, err)
	}
	info, err := r.loadImage(ctx, norm, img.Metadata())
	if err != nil {
		return nil, &PullError{Ref: norm, Kind: PullFailed, Err: err}
	}
	r.log.InfoContext(ctx, "pulled image", "ref", norm, "digest", info.digest,
		"size", info.size, "duration", time.Since(start))
	return info, nil
}

// classifyPullError maps containerd resolver and fetch errors to kinds.
func classifyPullError(ref string, err error) *PullError {
	kind := PullFailed
	var status remoteerrors.ErrUnexpectedStatus
	var netErr net.Error
	var opErr *net.OpError
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		// The caller's time ran out: not a statement about the registry.
	case errors.Is(err, docker.ErrInvalidAuthorization),
		errors.As(err, &status) && (status.StatusCode == 401 || status.StatusCode == 403):
		kind = PullUnauthorized
	case errdefs.IsNotFound(err):
		kind = PullNotFound
	case errors.As(err, &dnsErr), errors.As(err, &opErr), errors.Is(err, syscall.ECONNREFUSED),
		errors.As(err, &netErr) && netErr.Timeout():
		kind = PullUnreachable
	}
	return &PullError{Ref: ref, Kind: kind, Err: err}
}

// loadImage reads config, chain ID, size and user databases of a stored
// image, unpacks it if needed and caches the result by digest.
func (r *Runtime) loadImage(ctx context.Context, norm string, img images.Image) (*imageInfo, error) {
	r.mu.Lock()
	known := r.byDigest[img.Target.Digest.String()]
	if known != nil {
		r.images[norm] = known
	}
	r.mu.Unlock()
	if known != nil {
		return known, nil
	}
	cs := r.client.ContentStore()
	platform := platforms.Default()
	manifest, err := images.Manifest(ctx, cs, img.Target, platform)
	if err != nil {
		return nil, fmt.Errorf("read manifest of %s: %w", norm, err)
	}
	raw, err := content.ReadBlob(ctx, cs, manifest.Config)
	if err != nil {
		return nil, fmt.Errorf("read config of %s: %w", norm, err)
	}
	var spec ocispec.Image
	if err := json.Unmarshal(raw, &spec); err != nil {
		return nil, fmt.Errorf("decode config of %s: %w", norm, err)
	}
	info := &imageInfo{
		ref:     norm,
		digest:  img.Target.Digest.String(),
		config:  spec.Config,
		chainID: identity.ChainID(spec.RootFS.DiffIDs).String(),
		size:    img.Target.Size + manifest.Config.Size,
	}
	for _, l := range manifest.Layers {
		info.size += l.Size
	}
	if _, err := r.snapshotter.Stat(ctx, info.chainID); errdefs.IsNotFound(err) {
		if err := client.NewImageWithPlatform(r.client, img, platform).Unpack(ctx, r.cfg.Snapshotter); err != nil {
			return nil, fmt.Errorf("unpack %s: %w", norm, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("stat snapshot of %s: %w", norm, err)
	}
	if err := r.readUserDB(ctx, info); err != nil {
		return nil, err
	}
	r.mu.Lock()
	if prev := r.byDigest[info.digest]; prev != nil {
		info = prev
	} else {
		r.byDigest[info.digest] = info
	}
	r.images[norm] = info
	r.mu.Unlock()
	return info, nil
}

// readUserDB copies /etc/passwd and /etc/group out of the image's rootfs
// through a temporary read-only view, for user resolution at Create.
func (r *Runtime) readUserDB(ctx context.Context, info *imageInfo) error {
	key := fmt.Sprintf("berth-userdb-%s-%d", strings.TrimPrefix(info.digest, "sha256:")[:12], time.Now().UnixNano())
	mounts, err := r.snapshotter.View(ctx, key, info.chainID)
	if err != nil {
		return fmt.Errorf("view rootfs of %s: %w", info.ref, err)
	}
	defer func() {
		if err := r.snapshotter.Remove(context.WithoutCancel(ctx), key); err != nil && !errdefs.IsNotFound(err) {
			r.log.WarnContext(ctx, "remove view snapshot", "key", key, "err", err)
		}
	}()
	return mount.WithReadonlyTempMount(ctx, mounts, func(root string) error {
		var err error
		if info.passwd, err = readRootFile(root, "etc/passwd"); err != nil {
			return err
		}
		info.group, err = readRootFile(root, "etc/group")
		return err
	})
}

// readRootFile reads a file below root without following links out of it;
// a file that is absent or not readable that way gives nil.
func readRootFile(root, rel string) ([]byte, error) {
	rt, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("open rootfs: %w", err)
	}
	defer rt.Close()
	data, err := rt.ReadFile(rel)
	if err != nil {
		return nil, nil
	}
	return data, nil
}
