package testimage

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// layerFiles maps every entry of the image's flattened layers to its tar header.
func layerFiles(t *testing.T, img v1.Image) map[string]*tar.Header {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*tar.Header{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			out[h.Name] = h
		}
		rc.Close()
	}
	return out
}

func TestImageContents(t *testing.T) {
	img, err := Image()
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cf.Config.Cmd; len(got) != 1 || got[0] != "sh" {
		t.Errorf("Cmd = %q, want [sh]", got)
	}
	if len(cf.Config.Entrypoint) != 0 {
		t.Errorf("Entrypoint = %q, want none", cf.Config.Entrypoint)
	}
	if cf.Config.WorkingDir != "/" || len(cf.Config.Env) != 1 || cf.Config.Env[0] != DefaultPath {
		t.Errorf("WorkingDir %q Env %q", cf.Config.WorkingDir, cf.Config.Env)
	}
	files := layerFiles(t, img)
	tests := []struct {
		name     string
		typ      byte
		linkname string
	}{
		{"bin/busybox", tar.TypeReg, ""},
		{"bin/sh", tar.TypeSymlink, "../bin/busybox"},
		{"bin/sleep", tar.TypeSymlink, "../bin/busybox"},
		{"usr/bin/env", tar.TypeSymlink, "../../bin/busybox"},
		{"usr/bin/head", tar.TypeSymlink, "../../bin/busybox"},
		{"etc/passwd", tar.TypeReg, ""},
		{"etc/group", tar.TypeReg, ""},
		{"tmp/", tar.TypeDir, ""},
	}
	for _, tc := range tests {
		h, ok := files[tc.name]
		if !ok {
			t.Errorf("%s missing from layer", tc.name)
			continue
		}
		if h.Typeflag != tc.typ || h.Linkname != tc.linkname {
			t.Errorf("%s: type %c link %q, want %c %q", tc.name, h.Typeflag, h.Linkname, tc.typ, tc.linkname)
		}
	}
	if files["tmp/"].Mode&0o1777 != 0o1777 {
		t.Errorf("tmp mode %o", files["tmp/"].Mode)
	}
}

func TestImageDeterministicAndOptions(t *testing.T) {
	digest := func(opts ...Option) string {
		img, err := Image(opts...)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d.String()
	}
	a, b := digest(), digest()
	if a != b {
		t.Fatalf("two builds differ: %s %s", a, b)
	}
	withEP := digest(WithConfig(func(c *v1.Config) { c.Entrypoint = []string{"echo"} }))
	withFile := digest(WithFile("/app/hello.txt", []byte("hi"), 0o600))
	if withEP == a || withFile == a || withEP == withFile {
		t.Fatalf("options did not change digest: %s %s %s", a, withEP, withFile)
	}
	img, err := Image(WithFile("/app/hello.txt", []byte("hi"), 0o600))
	if err != nil {
		t.Fatal(err)
	}
	h := layerFiles(t, img)["app/hello.txt"]
	if h == nil || h.Size != 2 || h.Mode != 0o600 {
		t.Fatalf("extra file header %+v", h)
	}
}

func TestBuildLayout(t *testing.T) {
	dir, err := Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	img, _ := Image()
	want, _ := img.Digest()
	if len(m.Manifests) != 1 || m.Manifests[0].Digest != want {
		t.Fatalf("layout manifests %+v, want one with %s", m.Manifests, want)
	}
	got, err := p.Image(want)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := got.ConfigFile(); err != nil {
		t.Fatalf("read config back from layout: %v", err)
	}
}

func TestWriteArchive(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteArchive(&buf, "example.test/x:v1"); err != nil {
		t.Fatal(err)
	}
	img, _ := Image()
	mdigest, _ := img.Digest()
	names := map[string][]byte{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		names[h.Name] = data
	}
	for _, n := range []string{"oci-layout", "index.json", "blobs/sha256/" + mdigest.Hex} {
		if _, ok := names[n]; !ok {
			t.Errorf("archive lacks %s", n)
		}
	}
	var index struct {
		Manifests []struct {
			Digest      string
			Annotations map[string]string
		}
	}
	if err := json.Unmarshal(names["index.json"], &index); err != nil {
		t.Fatal(err)
	}
	if len(index.Manifests) != 1 || index.Manifests[0].Digest != mdigest.String() ||
		index.Manifests[0].Annotations["io.containerd.image.name"] != "example.test/x:v1" ||
		index.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "v1" {
		t.Fatalf("index %+v", index)
	}
}

func TestRegistryPush(t *testing.T) {
	tests := []struct {
		name               string
		user, pass         string
		pushOpts           []Option
		wantPushErr        bool
		pullUser, pullPass string
		wantPullStatus     int
	}{
		{name: "anonymous", wantPullStatus: 0},
		{name: "auth ok", user: "u", pass: "p", pushOpts: []Option{WithAuth("u", "p")}, pullUser: "u", pullPass: "p"},
		{name: "push without creds", user: "u", pass: "p", wantPushErr: true},
		{name: "pull with wrong password", user: "u", pass: "p", pushOpts: []Option{WithAuth("u", "p")}, pullUser: "u", pullPass: "bad", wantPullStatus: http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			host := ServeRegistry(t, tc.user, tc.pass)
			ctx := context.Background()
			d, err := Push(ctx, host, "team/busybox", "v1", tc.pushOpts...)
			if tc.wantPushErr {
				if err == nil {
					t.Fatal("push without credentials succeeded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ref, _ := name.ParseReference(host+"/team/busybox:v1", name.Insecure)
			auth := authn.Anonymous
			if tc.pullUser != "" {
				auth = &authn.Basic{Username: tc.pullUser, Password: tc.pullPass}
			}
			desc, err := remote.Get(ref, remote.WithContext(ctx), remote.WithAuth(auth))
			if tc.wantPullStatus != 0 {
				var terr *transport.Error
				if !errors.As(err, &terr) || terr.StatusCode != tc.wantPullStatus {
					t.Fatalf("pull error %v, want status %d", err, tc.wantPullStatus)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if desc.Digest.String() != d {
				t.Fatalf("registry digest %s, pushed %s", desc.Digest, d)
			}
		})
	}
}

func TestImportContainerd(t *testing.T) {
	addr := RequireContainerd(t)
	c, err := client.New(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	const ns = "berth-testimage"
	ref := "berth.test/testimage-import:latest"
	ctx := namespaces.WithNamespace(context.Background(), ns)
	t.Cleanup(func() {
		if err := c.ImageService().Delete(ctx, ref); err != nil {
			t.Errorf("delete image: %v", err)
		}
	})

	for i := 0; i < 2; i++ { // second round takes the already-present path
		if err := Import(context.Background(), c, ns, ref); err != nil {
			t.Fatalf("import round %d: %v", i, err)
		}
	}
	got, err := c.ImageService().Get(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	img, _ := Image()
	want, _ := img.Digest()
	if got.Target.Digest.String() != want.String() {
		t.Fatalf("image target %s, want %s", got.Target.Digest, want)
	}
	ok, err := client.NewImage(c, got).IsUnpacked(ctx, Snapshotter)
	if err != nil || !ok {
		t.Fatalf("unpacked = %v, %v", ok, err)
	}
	// A different image under the same name replaces the target.
	opt := WithConfig(func(c *v1.Config) { c.Cmd = []string{"true"} })
	if err := Import(context.Background(), c, ns, ref, opt); err != nil {
		t.Fatal(err)
	}
	got, _ = c.ImageService().Get(ctx, ref)
	img2, _ := Image(opt)
	want2, _ := img2.Digest()
	if got.Target.Digest.String() != want2.String() {
		t.Fatalf("after re-import target %s, want %s", got.Target.Digest, want2)
	}
}
