package runtime

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
)

func TestRunExitCodes(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"true", []string{"true"}, 0},
		{"false", []string{"false"}, 1},
		{"exit 3", []string{"sh", "-c", "exit 3"}, 3},
		{"child killed", []string{"sh", "-c", "sleep 1000 & kill -9 $!; wait $!"}, 137},
		{"command not found", []string{"sh", "-c", "nonexistent-cmd"}, 127},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := h.spec(t, tc.args...)
			before := time.Now()
			e := h.run(t, cs)
			if e.Code != tc.want {
				t.Errorf("exit code %d, want %d", e.Code, tc.want)
			}
			if e.OOMKilled {
				t.Error("OOMKilled set without OOM")
			}
			if e.At.Before(before.Add(-time.Second)) || e.At.After(time.Now().Add(time.Second)) {
				t.Errorf("exit time %v outside the run", e.At)
			}
		})
	}
}

func TestStartMissingExecutable(t *testing.T) {
	h := newHarness(t)
	cs := h.spec(t, "/no/such/binary")
	h.create(t, cs)
	if _, err := h.r.Start(context.Background(), cs.ID); err == nil {
		t.Fatal("Start of a missing executable succeeded")
	}
	// The failed start leaves no process behind.
	if _, err := h.r.Wait(context.Background(), cs.ID); !errors.Is(err, ErrNoProcess) {
		t.Fatalf("Wait after failed start: %v, want ErrNoProcess", err)
	}
}

func TestRestart(t *testing.T) {
	h := newHarness(t)
	cs := h.spec(t, "sh", "-c", "echo run; exit 3")
	h.start(t, cs)
	if e := h.wait(t, cs.ID); e.Code != 3 {
		t.Fatalf("first run exit %d", e.Code)
	}
	if _, err := h.r.Start(context.Background(), cs.ID); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if e := h.wait(t, cs.ID); e.Code != 3 {
		t.Fatalf("second run exit %d", e.Code)
	}
	h.waitLog(t, cs, "run\nrun\n") // the log is appended to
	running := h.spec(t, "sleep", "1000")
	h.start(t, running)
	if _, err := h.r.Start(context.Background(), running.ID); err == nil {
		t.Fatal("Start of a running container succeeded")
	}
}

func TestLogFile(t *testing.T) {
	h := newHarness(t)
	cs := h.spec(t, "sh", "-c", "echo out; echo err >&2")
	cs.LogPath = filepath.Join(t.TempDir(), "sub", "custom.log")
	h.start(t, cs)
	h.wait(t, cs.ID)
	got := h.waitLog(t, cs, "err\n")
	if !strings.Contains(got, "out\n") {
		t.Fatalf("log %q lacks stdout", got)
	}
	// The default place is <LogDir>/<id>.log.
	cs2 := h.spec(t, "echo", "default")
	h.start(t, cs2)
	h.wait(t, cs2.ID)
	h.waitLog(t, cs2, "default\n")
	if _, err := os.Stat(filepath.Join(h.cfg.LogDir, cs2.ID+".log")); err != nil {
		t.Fatal(err)
	}
}

func TestWaitSemantics(t *testing.T) {
	h := newHarness(t)

	t.Run("exit while nobody waits is kept", func(t *testing.T) {
		cs := h.spec(t, "sh", "-c", "exit 4")
		h.start(t, cs)
		deadline := time.Now().Add(20 * time.Second)
		for {
			infos, err := h.r.List(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if i := find(infos, cs.ID); i != nil && i.Exit != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("container never exited")
			}
			time.Sleep(20 * time.Millisecond)
		}
		for i := 0; i < 2; i++ { // every Wait gets it, not only the first
			if e := h.wait(t, cs.ID); e.Code != 4 {
				t.Fatalf("Wait #%d: code %d, want 4", i, e.Code)
			}
		}
	})

	t.Run("canceled wait closes without value", func(t *testing.T) {
		cs := h.spec(t, "sleep", "1000")
		h.start(t, cs)
		ctx, cancel := context.WithCancel(context.Background())
		ch, err := h.r.Wait(ctx, cs.ID)
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		if e, ok := <-ch; ok {
			t.Fatalf("got exit %+v after cancel", e)
		}
	})

	t.Run("close ends waits", func(t *testing.T) {
		cs := h.spec(t, "sleep", "1000")
		h.start(t, cs)
		r2 := h.newRuntime(t)
		ch, err := r2.Wait(context.Background(), cs.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := r2.Close(); err != nil {
			t.Fatal(err)
		}
		if _, ok := <-ch; ok {
			t.Fatal("got an exit from a closed runtime")
		}
	})

	t.Run("errors", func(t *testing.T) {
		if _, err := h.r.Wait(context.Background(), "no-such-container"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Wait unknown: %v, want ErrNotFound", err)
		}
		cs := h.spec(t, "true")
		h.create(t, cs)
		if _, err := h.r.Wait(context.Background(), cs.ID); !errors.Is(err, ErrNoProcess) {
			t.Errorf("Wait created: %v, want ErrNoProcess", err)
		}
	})
}

func TestStop(t *testing.T) {
	h := newHarness(t)

	t.Run("ignored SIGTERM is killed after timeout", func(t *testing.T) {
		cs := h.spec(t, "sh", "-c", `trap "" TERM; echo ready; sleep 1000`)
		h.start(t, cs)
		h.waitLog(t, cs, "ready")
		start := time.Now()
		if err := h.r.Stop(context.Background(), cs.ID, 300*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if e := h.wait(t, cs.ID); e.Code != 137 {
			t.Fatalf("exit %d, want 137", e.Code)
		}
		if d := time.Since(start); d < 300*time.Millisecond {
			t.Fatalf("killed after %v, before the timeout", d)
		}
	})

	t.Run("SIGTERM handled", func(t *testing.T) {
		cs := h.spec(t, "sh", "-c", `trap "exit 0" TERM; echo ready; while true; do sleep 0.05; done`)
		h.start(t, cs)
		h.waitLog(t, cs, "ready")
		if err := h.r.Stop(context.Background(), cs.ID, time.Minute); err != nil {
			t.Fatal(err)
		}
		if e := h.wait(t, cs.ID); e.Code != 0 {
			t.Fatalf("exit %d, want 0", e.Code)
		}
	})

	t.Run("not running is a no-op", func(t *testing.T) {
		cs := h.spec(t, "true")
		h.create(t, cs)
		if err := h.r.Stop(context.Background(), cs.ID, time.Second); err != nil {
			t.Fatalf("Stop created: %v", err)
		}
		if err := h.r.Stop(context.Background(), "no-such-container", time.Second); err != nil {
			t.Fatalf("Stop unknown: %v", err)
		}
		cs2 := h.spec(t, "true")
		h.run(t, cs2)
		if err := h.r.Stop(context.Background(), cs2.ID, time.Second); err != nil {
			t.Fatalf("Stop exited: %v", err)
		}
	})
}

func TestRemove(t *testing.T) {
	h := newHarness(t)
	cs := h.spec(t, "sleep", "1000")
	cs.TaskID = newID(t)
	h.start(t, cs)
	ctx := context.Background()
	if err := h.r.Remove(ctx, cs.ID); err != nil {
		t.Fatalf("Remove running: %v", err)
	}
	if err := h.r.Remove(ctx, cs.ID); err != nil {
		t.Fatalf("Remove again: %v", err)
	}
	if err := h.r.Remove(ctx, "never-existed"); err != nil {
		t.Fatalf("Remove unknown: %v", err)
	}
	if _, err := h.r.containers.Get(nsCtx(), cs.ID); !errdefs.IsNotFound(err) {
		t.Errorf("container record still there: %v", err)
	}
	if _, err := h.r.snapshotter.Stat(nsCtx(), cs.ID); !errdefs.IsNotFound(err) {
		t.Errorf("snapshot still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(h.cfg.StateDir, cs.ID)); !os.IsNotExist(err) {
		t.Errorf("state dir still there: %v", err)
	}
	mem := h.r.cgroups.v1["memory"]
	if _, err := os.Stat(filepath.Join(mem, testCgroupRoot, cs.TaskID, cs.ID)); !os.IsNotExist(err) {
		t.Errorf("container cgroup still there: %v", err)
	}
	infos, err := h.r.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if find(infos, cs.ID) != nil {
		t.Error("List still shows the removed container")
	}
}

func TestAdoptionAfterRestart(t *testing.T) {
	h := newHarness(t)
	running := h.spec(t, "sleep", "1000")
	running.Labels = map[string]string{"com.amazonaws.ecs.container-name": "web"}
	exited := h.spec(t, "sh", "-c", "exit 5")
	pid := h.start(t, running)
	h.start(t, exited)
	h.wait(t, exited.ID)

	// The first agent dies; a new one adopts.
	h.r.Close()
	r2 := h.newRuntime(t)
	ctx := context.Background()
	infos, err := r2.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ri := find(infos, running.ID)
	if ri == nil || !ri.Running || ri.Pid != pid || ri.Exit != nil {
		t.Fatalf("running container listed as %+v, want running pid %d", ri, pid)
	}
	if ri.Labels["com.amazonaws.ecs.container-name"] != "web" || len(ri.Labels) != 1 {
		t.Errorf("labels %v", ri.Labels)
	}
	if ri.Image != h.image {
		t.Errorf("image %q, want %q", ri.Image, h.image)
	}
	ei := find(infos, exited.ID)
	if ei == nil || ei.Running || ei.Exit == nil || ei.Exit.Code != 5 {
		t.Fatalf("exited container listed as %+v, want exit 5", ei)
	}

	// Exec uses the process spec recovered from the record.
	if code, err := r2.Exec(ctx, running.ID, []string{"sh", "-c", "exit 9"}, 10*time.Second); err != nil || code != 9 {
		t.Fatalf("Exec after adoption: %d, %v", code, err)
	}
	ch, err := r2.Wait(ctx, running.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.Stop(ctx, running.ID, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-ch:
		if e.Code != 137 {
			t.Fatalf("adopted exit %d, want 137", e.Code)
		}
	case <-time.After(time.Minute):
		t.Fatal("adopted Wait never yielded")
	}
}

func find(infos []Info, id string) *Info {
	for i := range infos {
		if infos[i].ID == id {
			return &infos[i]
		}
	}
	return nil
}
