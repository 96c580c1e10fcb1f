package runtime

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth/berth/internal/testimage"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// report prints what the process semantics tests compare, then "END".
const report = `echo "uid=$(id -u) gid=$(id -g) groups=$(id -G) cwd=$(pwd) foo=$FOO bar=$BAR home=$HOME host=$(hostname) args=$*"; echo END`

func TestProcessSemantics(t *testing.T) {
	h := newHarness(t)
	// An image with its own entrypoint, env, user and working directory.
	custom := h.importImage(t, "berth.test/busybox-custom:latest", testimage.WithConfig(func(c *v1.Config) {
		c.Entrypoint = []string{"sh", "-c", report, "sh"}
		c.Cmd = []string{"from-image-cmd"}
		c.Env = append(c.Env, "FOO=image-foo", "BAR=image-bar")
		c.User = "nobody"
		c.WorkingDir = "/tmp"
	}))
	shell := []string{"sh", "-c", report, "sh"}

	tests := []struct {
		name string
		cs   ContainerSpec
		want string
	}{
		{
			name: "busybox defaults",
			cs:   ContainerSpec{Image: h.image, Command: shell},
			want: "uid=0 gid=0 groups=0 cwd=/ foo= bar= home=/root host=",
		},
		{
			name: "env, workdir and hostname from the spec",
			cs: ContainerSpec{Image: h.image, Command: shell, Env: []string{"FOO=spec-foo"},
				WorkingDir: "/made/by/runtime", Hostname: "web-1"},
			want: "uid=0 gid=0 groups=0 cwd=/made/by/runtime foo=spec-foo bar= home=/root host=web-1",
		},
		{
			name: "user by name",
			cs:   ContainerSpec{Image: h.image, Command: shell, User: "nobody"},
			want: "uid=65534 gid=65534 groups=65534 cwd=/ foo= bar= home=/nonexistent",
		},
		{
			name: "user name:group",
			cs:   ContainerSpec{Image: h.image, Command: shell, User: "nobody:root"},
			want: "uid=65534 gid=0 groups=0 cwd=/",
		},
		{
			name: "numeric uid unknown to passwd",
			cs:   ContainerSpec{Image: h.image, Command: shell, User: "1234"},
			want: "uid=1234 gid=0 groups=0 cwd=/ foo= bar= home=/",
		},
		{
			name: "uid:gid",
			cs:   ContainerSpec{Image: h.image, Command: shell, User: "1234:5678"},
			want: "uid=1234 gid=5678 groups=5678",
		},
		{
			name: "image entrypoint, cmd, env, user, workdir",
			cs:   ContainerSpec{Image: custom},
			want: "uid=65534 gid=65534 groups=65534 cwd=/tmp foo=image-foo bar=image-bar home=/nonexistent host=",
		},
		{
			name: "image entrypoint with spec command",
			cs:   ContainerSpec{Image: custom, Command: []string{"a", "b"}},
			want: "args=a b",
		},
		{
			name: "spec entrypoint drops image cmd",
			cs:   ContainerSpec{Image: custom, EntryPoint: shell},
			want: "args=\n",
		},
		{
			name: "spec entrypoint and command, spec env over image env, spec user",
			cs: ContainerSpec{Image: custom, EntryPoint: shell, Command: []string{"c"},
				Env: []string{"BAR=spec-bar"}, User: "0", WorkingDir: "/"},
			want: "uid=0 gid=0 groups=0 cwd=/ foo=image-foo bar=spec-bar home=/root",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := tc.cs
			cs.ID = newID(t)
			if e := h.run(t, cs); e.Code != 0 {
				t.Fatalf("exit %d", e.Code)
			}
			got := h.waitLog(t, cs, "END")
			if !strings.Contains(got, tc.want) {
				t.Fatalf("output %q lacks %q", got, tc.want)
			}
			if tc.cs.Hostname == "" && !strings.Contains(got, "host="+cs.ID[:12]+" ") {
				t.Errorf("default hostname: output %q, want host=%s", got, cs.ID[:12])
			}
		})
	}
}

func TestCreateErrors(t *testing.T) {
	h := newHarness(t)
	noCmd := h.importImage(t, "berth.test/busybox-nocmd:latest", testimage.WithConfig(func(c *v1.Config) {
		c.Cmd = nil
	}))
	tests := []struct {
		name    string
		cs      ContainerSpec
		wantErr error
	}{
		{"image never ensured", ContainerSpec{Image: "berth.test/absent:latest", Command: []string{"true"}}, ErrImageNotPresent},
		{"unknown user", ContainerSpec{Image: h.image, Command: []string{"true"}, User: "nosuchuser"}, nil},
		{"no command at all", ContainerSpec{Image: noCmd}, nil},
		{"unknown ulimit", ContainerSpec{Image: h.image, Command: []string{"true"}, Ulimits: []Ulimit{{Name: "bogus", Soft: 1, Hard: 1}}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := tc.cs
			cs.ID = newID(t)
			err := h.r.Create(context.Background(), cs)
			if err == nil {
				h.clean.Remove(context.Background(), cs.ID)
				t.Fatal("Create succeeded")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			infos, _ := h.r.List(context.Background())
			if find(infos, cs.ID) != nil {
				t.Fatal("failed Create left a container")
			}
		})
	}
	t.Run("duplicate id", func(t *testing.T) {
		cs := h.spec(t, "true")
		h.create(t, cs)
		if err := h.r.Create(context.Background(), cs); err == nil {
			t.Fatal("second Create with the same ID succeeded")
		}
		// The failed duplicate leaves the first container's files alone.
		if _, err := os.Stat(filepath.Join(h.cfg.StateDir, cs.ID, hostsFile)); err != nil {
			t.Fatalf("first container's hosts file: %v", err)
		}
	})
}

func TestExec(t *testing.T) {
	h := newHarness(t)
	cs := h.spec(t, "sleep", "1000")
	cs.Env = []string{"FOO=bar"}
	cs.WorkingDir = "/tmp"
	h.start(t, cs)
	ctx := context.Background()
	tests := []struct {
		name    string
		argv    []string
		timeout time.Duration
		want    int
		wantErr error
	}{
		{"success", []string{"true"}, 10 * time.Second, 0, nil},
		{"exit code", []string{"sh", "-c", "exit 7"}, 10 * time.Second, 7, nil},
		{"container env and cwd", []string{"sh", "-c", `[ "$FOO" = bar ] && [ "$(pwd)" = /tmp ]`}, 10 * time.Second, 0, nil},
		{"timeout kills", []string{"sleep", "1000"}, 300 * time.Millisecond, -1, ErrExecTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, err := h.r.Exec(ctx, cs.ID, tc.argv, tc.timeout)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if code != tc.want {
				t.Fatalf("code %d, want %d", code, tc.want)
			}
		})
	}
	// The timed-out sleep is gone: only the container's own sleep remains.
	code, err := h.r.Exec(ctx, cs.ID, []string{"sh", "-c", `[ "$(ps -o args | grep -c '^sleep')" -eq 1 ]`}, 10*time.Second)
	if err != nil || code != 0 {
		t.Fatalf("timed-out exec still running: code %d err %v", code, err)
	}
	if _, err := h.r.Exec(ctx, cs.ID, []string{"/no/such/binary"}, 10*time.Second); err == nil {
		t.Error("exec of a missing binary succeeded")
	}
	if err := h.r.Stop(ctx, cs.ID, 0); err != nil {
		t.Fatal(err)
	}
	h.wait(t, cs.ID)
	if _, err := h.r.Exec(ctx, cs.ID, []string{"true"}, time.Second); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("exec in stopped container: %v, want ErrNotRunning", err)
	}
	if _, err := h.r.Exec(ctx, "no-such-container", []string{"true"}, time.Second); !errors.Is(err, ErrNotFound) {
		t.Fatalf("exec in unknown container: %v, want ErrNotFound", err)
	}
}

func TestFilesystem(t *testing.T) {
	h := newHarness(t)
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "in.txt"), []byte("from-host"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "created", "by", "runtime")
	tests := []struct {
		name     string
		readonly bool
		mounts   []Mount
		script   string
		want     int
	}{
		{"rootfs writable", false, nil, "touch /x && touch /tmp/y", 0},
		{"readonly rootfs", true, nil, "touch /x", 1},
		{"readonly rootfs keeps /dev/shm writable", true, nil, "touch /dev/shm/x", 0},
		{"ro mount readable", false, []Mount{{Source: host, Destination: "/data", ReadOnly: true}}, `[ "$(cat /data/in.txt)" = from-host ]`, 0},
		{"ro mount not writable", false, []Mount{{Source: host, Destination: "/data", ReadOnly: true}}, "touch /data/new", 1},
		{"rw mount writable", false, []Mount{{Source: host, Destination: "/data"}}, "echo written > /data/out.txt", 0},
		{"missing source created", false, []Mount{{Source: missing, Destination: "/m"}}, "touch /m/ok", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := h.spec(t, "sh", "-c", tc.script)
			cs.ReadonlyRootfs = tc.readonly
			cs.Mounts = tc.mounts
			if e := h.run(t, cs); e.Code != tc.want {
				t.Fatalf("exit %d, want %d", e.Code, tc.want)
			}
		})
	}
	if data, err := os.ReadFile(filepath.Join(host, "out.txt")); err != nil || string(data) != "written\n" {
		t.Errorf("rw mount write not on host: %q %v", data, err)
	}
	if _, err := os.Stat(filepath.Join(missing, "ok")); err != nil {
		t.Errorf("created mount source: %v", err)
	}
}

func TestInit(t *testing.T) {
	h := newHarness(t)
	if h.r.cfg.InitPath == "" {
		t.Skip("no static init binary (apt-get install tini)")
	}
	cs := h.spec(t, "sh", "-c", `tr '\0' ' ' < /proc/1/cmdline; echo; echo END`)
	cs.Init = true
	if e := h.run(t, cs); e.Code != 0 {
		t.Fatalf("exit %d", e.Code)
	}
	got := h.waitLog(t, cs, "END")
	if !strings.HasPrefix(got, containerInitPath+" -- sh -c") {
		t.Fatalf("PID 1 is %q, want the init", got)
	}
	// The init forwards signals: SIGTERM ends a shell that does not trap it.
	cs2 := h.spec(t, "sleep", "1000")
	cs2.Init = true
	h.start(t, cs2)
	// Until the init has started its child it has no signal handlers, and
	// a PID 1 without handlers ignores SIGTERM: wait for the child first.
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, err := h.r.Exec(context.Background(), cs2.ID, []string{"pidof", "sleep"}, 5*time.Second)
		if err == nil && code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the init's child never ran: exit %d, %v", code, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := h.r.Stop(context.Background(), cs2.ID, time.Minute); err != nil {
		t.Fatal(err)
	}
	if e := h.wait(t, cs2.ID); e.Code != 143 {
		t.Fatalf("exit %d, want 143 (SIGTERM through the init)", e.Code)
	}
}
