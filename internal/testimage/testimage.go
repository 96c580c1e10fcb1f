// Package testimage builds small OCI container images for tests from the
// host's statically linked /bin/busybox (Debian package busybox-static), and
// gets them into containerd or into an in-process registry. `berth dev`
// imports the same image as its local demo image.
//
// The default image has one uncompressed layer holding /bin/busybox, a
// symlink for every applet busybox lists (bin/sh, bin/sleep, usr/bin/env,
// ...), /etc/passwd and /etc/group with root (0) and nobody (65534), and the
// directories /tmp, /root, /home, /proc, /sys, /dev. Its config has
// Env PATH=..., no Entrypoint, Cmd ["sh"] and WorkingDir "/".
//
// Everything is deterministic: the same busybox binary and options always
// give the same manifest digest, which makes Import idempotent and cheap.
//
// For tests elsewhere: Busybox(t, namespace) skips unless root with a
// containerd socket, and returns DefaultRef imported into namespace;
// ServeRegistry and Push give pull tests an in-process registry on
// 127.0.0.1.
package testimage

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BusyboxPath is the statically linked busybox the image is built from.
const BusyboxPath = "/bin/busybox"

// DefaultRef is the reference under which Busybox imports the default image.
const DefaultRef = "berth.test/busybox:latest"

// DefaultPath is the PATH set in the image config.
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Passwd and Group are the contents of /etc/passwd and /etc/group in the image.
const (
	Passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	Group  = "root:x:0:\nnobody:x:65534:\n"
)

// epoch is the fixed timestamp of every file and of the config, for
// reproducible digests.
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Option changes the built image (WithConfig, WithFile) or how it is pushed
// (WithAuth).
type Option func(*options)

type extraFile struct {
	path string
	data []byte
	mode os.FileMode
}

type options struct {
	config   []func(*v1.Config)
	files    []extraFile
	username string
	password string
}

// WithConfig edits the image config (Entrypoint, Cmd, Env, User, WorkingDir,
// StopSignal, ...) after the defaults are set.
func WithConfig(fn func(*v1.Config)) Option {
	return func(o *options) { o.config = append(o.config, fn) }
}

// WithFile adds a regular file in a second layer; p is an absolute path in
// the image.
func WithFile(p string, data []byte, mode os.FileMode) Option {
	return func(o *options) { o.files = append(o.files, extraFile{path: p, data: data, mode: mode}) }
}

// WithAuth sets the HTTP basic credentials Push uses.
func WithAuth(username, password string) Option {
	return func(o *options) { o.username, o.password = username, password }
}

func collect(opts []Option) options {
	var o options
	for _, fn := range opts {
		fn(&o)
	}
	return o
}

var (
	baseOnce  sync.Once
	baseLayer v1.Layer
	baseErr   error
)

// base returns the busybox layer, built once per process.
func base() (v1.Layer, error) {
	baseOnce.Do(func() {
		var data []byte
		data, baseErr = busyboxLayer()
		if baseErr == nil {
			baseLayer = static.NewLayer(data, types.OCIUncompressedLayer)
		}
	})
	return baseLayer, baseErr
}

// Image builds the image in memory.
func Image(opts ...Option) (v1.Image, error) {
	return build(collect(opts))
}

func build(o options) (v1.Image, error) {
	layer, err := base()
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	adds := []mutate.Addendum{{
		Layer:     layer,
		History:   v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "berth testimage: busybox"},
		MediaType: types.OCIUncompressedLayer,
	}}
	if len(o.files) > 0 {
		data, err := filesLayer(o.files)
		if err != nil {
			return nil, err
		}
		adds = append(adds, mutate.Addendum{
			Layer:     static.NewLayer(data, types.OCIUncompressedLayer),
			History:   v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "berth testimage: files"},
			MediaType: types.OCIUncompressedLayer,
		})
	}
	img, err = mutate.Append(img, adds...)
	if err != nil {
		return nil, fmt.Errorf("append layers: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Architecture = runtime.GOARCH
	cf.OS = "linux"
	cf.Created = v1.Time{Time: epoch}
	cf.Config = v1.Config{
		Env:        []string{DefaultPath},
		Cmd:        []string{"sh"},
		WorkingDir: "/",
	}
	for _, fn := range o.config {
		fn(&cf.Config)
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("set config: %w", err)
	}
	return img, nil
}

// Build writes the image as an OCI image layout into dir (created if
// needed) and returns dir. The manifest is annotated with ref name "latest".
func Build(dir string, opts ...Option) (string, error) {
	img, err := Image(opts...)
	if err != nil {
		return "", err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return "", fmt.Errorf("write layout: %w", err)
	}
	err = p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": "latest",
	}))
	if err != nil {
		return "", fmt.Errorf("append image to layout: %w", err)
	}
	return dir, nil
}

// WriteArchive writes the image as an OCI image layout tar archive whose
// index names it ref (annotation io.containerd.image.name, understood by
// containerd's import).
func WriteArchive(w io.Writer, ref string, opts ...Option) error {
	img, err := Image(opts...)
	if err != nil {
		return err
	}
	return writeArchive(w, ref, img)
}

func writeArchive(w io.Writer, ref string, img v1.Image) error {
	manifest, err := img.RawManifest()
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	mdigest, err := img.Digest()
	if err != nil {
		return fmt.Errorf("manifest digest: %w", err)
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	cdigest, err := img.ConfigName()
	if err != nil {
		return fmt.Errorf("config digest: %w", err)
	}
	tag := ref
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		tag = ref[i+1:]
	}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     string(types.OCIImageIndex),
		"manifests": []map[string]any{{
			"mediaType": string(types.OCIManifestSchema1),
			"digest":    mdigest.String(),
			"size":      len(manifest),
			"annotations": map[string]string{
				"io.containerd.image.name":          ref,
				"org.opencontainers.image.ref.name": tag,
			},
		}},
	})
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	put := func(name string, data []byte) error {
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := put("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	if err := put("index.json", index); err != nil {
		return err
	}
	if err := put(blobPath(mdigest), manifest); err != nil {
		return err
	}
	if err := put(blobPath(cdigest), config); err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		if err := put(blobPath(d), data); err != nil {
			return err
		}
	}
	return tw.Close()
}

func blobPath(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }

// busyboxLayer returns the uncompressed tar of the base layer.
func busyboxLayer() ([]byte, error) {
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return nil, fmt.Errorf("testimage needs %s (Debian package busybox-static): %w", BusyboxPath, err)
	}
	if err := checkStatic(BusyboxPath); err != nil {
		return nil, err
	}
	out, err := exec.Command(BusyboxPath, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list-full: %w", err)
	}
	links := map[string]bool{}
	for _, l := range strings.Fields(string(out)) {
		l = strings.TrimPrefix(path.Clean("/"+l), "/")
		// Top-level applets (linuxrc) are of no use in a container.
		if l != "bin/busybox" && strings.Contains(l, "/") {
			links[l] = true
		}
	}
	dirs := map[string]os.FileMode{
		"bin": 0o755, "sbin": 0o755, "usr": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755,
		"etc": 0o755, "tmp": 0o1777, "root": 0o700, "home": 0o755, "proc": 0o555,
		"sys": 0o555, "dev": 0o755, "var": 0o755,
	}
	for l := range links {
		for d := path.Dir(l); d != "."; d = path.Dir(d) {
			if _, ok := dirs[d]; !ok {
				dirs[d] = 0o755
			}
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range sortedKeys(dirs) {
		hdr := &tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: int64(dirs[d]), ModTime: epoch}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
	}
	files := []extraFile{
		{path: "bin/busybox", data: bin, mode: 0o755},
		{path: "etc/passwd", data: []byte(Passwd), mode: 0o644},
		{path: "etc/group", data: []byte(Group), mode: 0o644},
	}
	for _, f := range files {
		if err := writeFile(tw, f); err != nil {
			return nil, err
		}
	}
	for _, l := range sortedKeys(links) {
		target, err := relTarget(l)
		if err != nil {
			return nil, err
		}
		hdr := &tar.Header{Name: l, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777, ModTime: epoch}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// relTarget is the relative symlink target from applet link l to bin/busybox.
func relTarget(l string) (string, error) {
	depth := strings.Count(l, "/")
	if depth == 0 {
		return "", fmt.Errorf("unexpected applet path %q", l)
	}
	return strings.Repeat("../", depth) + "bin/busybox", nil
}

func filesLayer(files []extraFile) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, f := range files {
		p := strings.TrimPrefix(path.Clean("/"+f.path), "/")
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	for _, d := range sortedKeys(dirs) {
		if err := tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		f.path = strings.TrimPrefix(path.Clean("/"+f.path), "/")
		if err := writeFile(tw, f); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeFile(tw *tar.Writer, f extraFile) error {
	hdr := &tar.Header{Name: f.path, Typeflag: tar.TypeReg, Mode: int64(f.mode.Perm()), Size: int64(len(f.data)), ModTime: epoch}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err := tw.Write(f.data)
	return err
}

// checkStatic refuses a dynamically linked busybox, which would not run in
// an image without a libc.
func checkStatic(p string) error {
	f, err := elf.Open(p)
	if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return errors.New(p + " is dynamically linked; install Debian package busybox-static")
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
