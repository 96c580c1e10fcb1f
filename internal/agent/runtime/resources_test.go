package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const mib = 1 << 20

// cgroupFile reads a control file of the container (or task when id is
// "") cgroup in the hierarchy of controller.
func cgroupFile(t *testing.T, h *harness, controller, taskID, id, file string) string {
	t.Helper()
	mnt := h.r.cgroups.v1[controller]
	if mnt == "" {
		t.Skipf("no v1 %s hierarchy", controller)
	}
	data, err := os.ReadFile(filepath.Join(mnt, cgroupPath(testCgroupRoot, taskID, id), file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

func TestOOMKill(t *testing.T) {
	h := newHarness(t)
	if h.r.cgroups.v1["memory"] == "" {
		t.Skip("no v1 memory hierarchy")
	}
	hog := []string{"sh", "-c", "head -c 64m /dev/zero | tail"}

	t.Run("container limit", func(t *testing.T) {
		cs := h.spec(t, hog...)
		cs.MemoryLimit = 8 * mib
		e := h.run(t, cs)
		if !e.OOMKilled || e.Code == 0 {
			t.Fatalf("exit %+v, want OOMKilled and non-zero code", e)
		}
	})

	t.Run("task limit", func(t *testing.T) {
		cs := h.spec(t, hog...)
		cs.TaskID = newID(t)
		if err := h.r.CreateTaskCgroup(context.Background(), cs.TaskID, TaskResources{MemoryLimit: 8 * mib}); err != nil {
			t.Fatal(err)
		}
		e := h.run(t, cs)
		if !e.OOMKilled {
			t.Fatalf("exit %+v, want OOMKilled by the task limit", e)
		}
	})

	t.Run("within limit", func(t *testing.T) {
		cs := h.spec(t, "sh", "-c", "head -c 1m /dev/zero | tail > /dev/null")
		cs.MemoryLimit = 64 * mib
		if e := h.run(t, cs); e.OOMKilled || e.Code != 0 {
			t.Fatalf("exit %+v, want clean exit", e)
		}
	})

	t.Run("adopted wait sees OOM", func(t *testing.T) {
		cs := h.spec(t, hog...)
		cs.MemoryLimit = 8 * mib
		h.start(t, cs)
		h.wait(t, cs.ID)
		r2 := h.newRuntime(t)
		ch, err := r2.Wait(context.Background(), cs.ID)
		if err != nil {
			t.Fatal(err)
		}
		if e := <-ch; !e.OOMKilled {
			t.Fatalf("adopted exit %+v, want OOMKilled", e)
		}
		infos, err := r2.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if i := find(infos, cs.ID); i == nil || i.Exit == nil || !i.Exit.OOMKilled {
			t.Fatalf("List after restart: %+v", i)
		}
	})
}

func TestCgroupSettings(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	taskID := newID(t)
	if err := h.r.CreateTaskCgroup(ctx, taskID, TaskResources{CPUShares: 256, MemoryLimit: 128 * mib}); err != nil {
		t.Fatal(err)
	}
	// Idempotent, and a second call updates the limits.
	if err := h.r.CreateTaskCgroup(ctx, taskID, TaskResources{CPUShares: 2048, MemoryLimit: 256 * mib}); err != nil {
		t.Fatal(err)
	}
	if got := cgroupFile(t, h, "cpu", taskID, "", "cpu.shares"); got != "2048" {
		t.Errorf("task cpu.shares %s, want 2048", got)
	}
	if got := cgroupFile(t, h, "memory", taskID, "", "memory.limit_in_bytes"); got != strconv.Itoa(256*mib) {
		t.Errorf("task memory.limit_in_bytes %s", got)
	}

	cs := h.spec(t, "sleep", "1000")
	cs.TaskID = taskID
	cs.CPUShares = 512
	cs.MemoryLimit = 64 * mib
	cs.MemoryReservation = 32 * mib
	pid := h.start(t, cs)
	other := h.spec(t, "sleep", "1000")
	other.TaskID = taskID
	other.CPUShares = 0
	h.start(t, other)

	checks := []struct{ controller, id, file, want string }{
		{"cpu", cs.ID, "cpu.shares", "512"},
		{"memory", cs.ID, "memory.limit_in_bytes", strconv.Itoa(64 * mib)},
		{"memory", cs.ID, "memory.soft_limit_in_bytes", strconv.Itoa(32 * mib)},
		{"cpu", other.ID, "cpu.shares", "2"},
	}
	for _, c := range checks {
		if got := cgroupFile(t, h, c.controller, taskID, c.id, c.file); got != c.want {
			t.Errorf("%s %s = %s, want %s", c.id, c.file, got, c.want)
		}
	}
	procCgroup, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	if want := ":memory:" + cgroupPath(testCgroupRoot, taskID, cs.ID) + "\n"; !strings.Contains(string(procCgroup), want) {
		t.Errorf("process cgroups %q lack %q", procCgroup, want)
	}

	// A task cgroup with live containers cannot go; once they are removed it can.
	if err := h.r.RemoveTaskCgroup(ctx, taskID); err == nil {
		t.Error("RemoveTaskCgroup with running containers succeeded")
	}
	for _, id := range []string{cs.ID, other.ID} {
		if err := h.r.Remove(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ {
		if err := h.r.RemoveTaskCgroup(ctx, taskID); err != nil {
			t.Fatalf("RemoveTaskCgroup #%d: %v", i, err)
		}
	}
	for _, mnt := range h.r.cgroups.dirs() {
		if _, err := os.Stat(filepath.Join(mnt, testCgroupRoot, taskID)); !os.IsNotExist(err) {
			t.Errorf("%s: task cgroup still there (%v)", mnt, err)
		}
	}
}

func TestUlimits(t *testing.T) {
	h := newHarness(t)
	def := h.r.rlimits[0]
	tests := []struct {
		name    string
		ulimits []Ulimit
		want    string
	}{
		{"default nofile", nil, fmt.Sprintf("nofile=%d/%d", def.Soft, def.Hard)},
		{"nofile", []Ulimit{{Name: "nofile", Soft: 1000, Hard: 2000}}, "nofile=1000/2000"},
		{"core and nproc", []Ulimit{{Name: "core", Soft: 0, Hard: 0}, {Name: "nproc", Soft: 300, Hard: 400}}, "core=0 nproc=300/400"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := h.spec(t, "sh", "-c", `echo "nofile=$(ulimit -n)/$(ulimit -Hn) core=$(ulimit -c) nproc=$(ulimit -u)/$(ulimit -Hu) END"`)
			cs.Ulimits = tc.ulimits
			if e := h.run(t, cs); e.Code != 0 {
				t.Fatalf("exit %d", e.Code)
			}
			if got := h.waitLog(t, cs, "END"); !strings.Contains(got, tc.want) {
				t.Fatalf("limits %q lack %q", got, tc.want)
			}
		})
	}
}

func TestStats(t *testing.T) {
	h := newHarness(t)
	cs := h.spec(t, "sh", "-c", `i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; x=$(head -c 2m /dev/zero | tr '\0' a); echo ready; sleep 1000`)
	cs.MemoryLimit = 64 * mib
	h.start(t, cs)
	h.waitLog(t, cs, "ready")
	s, err := h.r.Stats(context.Background(), cs.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s.CPU.TotalUsage == 0 || len(s.CPU.PercpuUsage) == 0 || s.CPU.SystemUsage == 0 || s.CPU.OnlineCPUs == 0 {
		t.Errorf("cpu stats %+v", s.CPU)
	}
	if s.Memory.Usage == 0 || s.Memory.MaxUsage < s.Memory.Usage || s.Memory.Limit != 64*mib {
		t.Errorf("memory usage %d max %d limit %d", s.Memory.Usage, s.Memory.MaxUsage, s.Memory.Limit)
	}
	if _, ok := s.Memory.Stats["rss"]; !ok {
		t.Errorf("memory stats lack rss: %v", s.Memory.Stats)
	}
	if s.Pids.Current < 1 {
		t.Errorf("pids %+v", s.Pids)
	}
	if time.Since(s.Read) > time.Minute || s.Read.After(time.Now().Add(time.Minute)) {
		t.Errorf("read time %v", s.Read)
	}
	// Without a limit the host's memory is reported, as Docker does.
	free := h.spec(t, "sleep", "1000")
	h.start(t, free)
	s2, err := h.r.Stats(context.Background(), free.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Memory.Limit != h.r.hostMemory {
		t.Errorf("unlimited container limit %d, want host memory %d", s2.Memory.Limit, h.r.hostMemory)
	}
	if _, err := h.r.Stats(context.Background(), "no-such-container"); err == nil {
		t.Error("Stats of an unknown container succeeded")
	}
}
