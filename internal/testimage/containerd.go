package testimage

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
)

// Socket is containerd's default socket address.
const Socket = "/run/containerd/containerd.sock"

// Snapshotter is the snapshotter Import unpacks for (containerd's default).
const Snapshotter = "overlayfs"

// importMu serializes imports in this process: concurrent imports of the
// same name race on image record creation.
var importMu sync.Mutex

// Import makes ref in namespace point at the image built with opts and
// unpacks it for the overlayfs snapshotter. When ref already points at that
// exact image and it is unpacked, it returns after two metadata look-ups.
func Import(ctx context.Context, c *client.Client, namespace, ref string, opts ...Option) error {
	img, err := Image(opts...)
	if err != nil {
		return err
	}
	want, err := img.Digest()
	if err != nil {
		return err
	}
	ctx = namespaces.WithNamespace(ctx, namespace)
	importMu.Lock()
	defer importMu.Unlock()

	if cur, err := c.ImageService().Get(ctx, ref); err == nil && cur.Target.Digest.String() == want.String() {
		ok, err := client.NewImage(c, cur).IsUnpacked(ctx, Snapshotter)
		if err == nil && ok {
			return nil
		}
	} else if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("get image %s: %w", ref, err)
	}

	// Another test process may import the same name at the same time:
	// its image record creation then collides with ours; try again.
	var imgs []images.Image
	for attempt := 0; ; attempt++ {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeArchive(pw, ref, img)) }()
		imgs, err = c.Import(ctx, pr)
		pr.CloseWithError(io.ErrClosedPipe)
		if err == nil {
			break
		}
		if !errdefs.IsAlreadyExists(err) || attempt == 2 {
			return fmt.Errorf("import %s: %w", ref, err)
		}
	}
	for _, i := range imgs {
		if i.Name != ref {
			continue
		}
		if err := client.NewImage(c, i).Unpack(ctx, Snapshotter); err != nil {
			return fmt.Errorf("unpack %s: %w", ref, err)
		}
		return nil
	}
	return fmt.Errorf("import %s: image not created", ref)
}

// RequireContainerd skips t unless the test runs as root and containerd's
// socket exists; it returns the socket address.
func RequireContainerd(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for containerd")
	}
	if _, err := os.Stat(Socket); err != nil {
		t.Skipf("containerd socket %s absent", Socket)
	}
	return Socket
}

// Busybox skips t unless containerd is usable (see RequireContainerd),
// imports the default image into namespace as DefaultRef and returns
// DefaultRef. A missing or dynamic /bin/busybox fails the test.
func Busybox(t testing.TB, namespace string) string {
	t.Helper()
	addr := RequireContainerd(t)
	c, err := client.New(addr)
	if err != nil {
		t.Fatalf("connect containerd: %v", err)
	}
	defer c.Close()
	if err := Import(context.Background(), c, namespace, DefaultRef); err != nil {
		t.Fatalf("import busybox test image: %v", err)
	}
	return DefaultRef
}
