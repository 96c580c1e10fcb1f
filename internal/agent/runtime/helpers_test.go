package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth/berth/internal/testimage"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
)

// Integration tests share one containerd namespace and cgroup root; every
// test uses unique container and task IDs and removes what it creates.
const (
	testNamespace  = "berth-runtime-test"
	testCgroupRoot = "/berth-runtime-test"
)

// harness is a Runtime on the test namespace with the busybox image present.
type harness struct {
	r     *Runtime
	clean *Runtime // removes what tests create; closed after every other runtime
	cfg   Config
	image string
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	testimage.RequireContainerd(t)
	ref := testimage.Busybox(t, testNamespace)
	cfg := Config{
		Namespace:  testNamespace,
		LogDir:     t.TempDir(),
		StateDir:   t.TempDir(),
		CgroupRoot: testCgroupRoot,
	}
	h := &harness{cfg: cfg, image: ref}
	h.clean = h.newRuntime(t)
	h.r = h.newRuntime(t)
	if _, err := h.r.EnsureImage(context.Background(), ref, nil); err != nil {
		t.Fatalf("EnsureImage: %v", err)
	}
	return h
}

// newRuntime opens another Runtime on the same configuration (an agent
// restart), closed at the end of the test.
func (h *harness) newRuntime(t testing.TB) *Runtime {
	t.Helper()
	r, err := New(context.Background(), h.cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// importImage imports a busybox variant under ref for this test.
func (h *harness) importImage(t testing.TB, ref string, opts ...testimage.Option) string {
	t.Helper()
	c, err := client.New(testimage.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := testimage.Import(context.Background(), c, testNamespace, ref, opts...); err != nil {
		t.Fatal(err)
	}
	if _, err := h.r.EnsureImage(context.Background(), ref, nil); err != nil {
		t.Fatal(err)
	}
	return ref
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9]+`)

// newID returns a unique container or task ID that names the test.
func newID(t testing.TB) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := unsafeChars.ReplaceAllString(strings.ToLower(t.Name()), "-")
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	return strings.TrimRight("t"+hex.EncodeToString(b[:])+"-"+strings.Trim(name, "-"), "-")
}

// spec returns a ContainerSpec for the busybox image running args.
func (h *harness) spec(t testing.TB, args ...string) ContainerSpec {
	return ContainerSpec{ID: newID(t), Image: h.image, Command: args}
}

// create creates the container and removes it (and its task cgroup) at
// the end of the test.
func (h *harness) create(t testing.TB, cs ContainerSpec) {
	t.Helper()
	if err := h.r.Create(context.Background(), cs); err != nil {
		t.Fatalf("Create %s: %v", cs.ID, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := h.clean.Remove(ctx, cs.ID); err != nil {
			t.Errorf("Remove %s: %v", cs.ID, err)
		}
		if cs.TaskID != "" {
			if err := h.clean.RemoveTaskCgroup(ctx, cs.TaskID); err != nil {
				t.Errorf("RemoveTaskCgroup %s: %v", cs.TaskID, err)
			}
		}
	})
}

// start creates and starts the container.
func (h *harness) start(t testing.TB, cs ContainerSpec) uint32 {
	t.Helper()
	h.create(t, cs)
	pid, err := h.r.Start(context.Background(), cs.ID)
	if err != nil {
		t.Fatalf("Start %s: %v", cs.ID, err)
	}
	return pid
}

// wait waits up to a minute for the container to exit.
func (h *harness) wait(t testing.TB, id string) Exit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ch, err := h.r.Wait(ctx, id)
	if err != nil {
		t.Fatalf("Wait %s: %v", id, err)
	}
	e, ok := <-ch
	if !ok {
		t.Fatalf("Wait %s: channel closed without exit", id)
	}
	return e
}

// run starts the container and waits for its exit.
func (h *harness) run(t testing.TB, cs ContainerSpec) Exit {
	t.Helper()
	h.start(t, cs)
	return h.wait(t, cs.ID)
}

func (h *harness) logPath(cs ContainerSpec) string {
	if cs.LogPath != "" {
		return cs.LogPath
	}
	return filepath.Join(h.cfg.LogDir, cs.ID+".log")
}

// waitLog polls the log until it contains want.
func (h *harness) waitLog(t testing.TB, cs ContainerSpec, want string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		data, _ := os.ReadFile(h.logPath(cs))
		if strings.Contains(string(data), want) {
			return string(data)
		}
		if time.Now().After(deadline) {
			t.Fatalf("log of %s never contained %q; got %q", cs.ID, want, data)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func nsCtx() context.Context {
	return namespaces.WithNamespace(context.Background(), testNamespace)
}
