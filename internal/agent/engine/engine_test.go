package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth/berth/internal/agent/runtime"
	"github.com/berth/berth/internal/agent/taskstate"
	"github.com/berth/berth/internal/agentproto"
	"github.com/berth/berth/internal/ecs"
)

// TestTaskLifecycle runs a task to RUNNING, stops it, and checks the
// reports, the release of its resources and the cleanup after the wait.
func TestTaskLifecycle(t *testing.T) {
	h := newHarness(t)
	p := payload("t1", ctr("web", true))
	p.Containers[0].PortMappings = []agentproto.PortMapping{{ContainerPort: 80, HostPort: 49153, Protocol: "tcp"}}
	p.Volumes = []agentproto.Volume{{Name: "scratch", Type: "docker"}}
	p.Containers[0].MountPoints = []agentproto.MountPoint{{SourceVolume: "scratch", ContainerPath: "/data"}}
	p.CPU, p.Memory = 0.5, 256
	h.apply(p)

	running := h.waitReported(p.ARN, ecs.TaskRunning)
	id := rid("t1", "web")
	if len(running.Containers) != 1 || running.Containers[0].Status != "RUNNING" || running.Containers[0].RuntimeID != id {
		t.Errorf("RUNNING report containers = %+v", running.Containers)
	}
	if got := running.Containers[0].NetworkBindings; len(got) != 1 || got[0] != (ecs.NetworkBinding{BindIP: "0.0.0.0", ContainerPort: 80, HostPort: 49153, Protocol: "tcp"}) {
		t.Errorf("network bindings = %+v", got)
	}
	if running.PullStartedAt.IsZero() || running.PullStoppedAt.IsZero() {
		t.Errorf("image was pulled but pull times are missing: %+v", running)
	}
	if running.Containers[0].ImageDigest == "" {
		t.Error("image digest missing")
	}
	setups, _ := h.net.calls()
	if len(setups) != 1 || setups[0].id != "t1" || setups[0].mode != "bridge" || len(setups[0].ports) != 1 || setups[0].ports[0].HostPort != 49153 {
		t.Errorf("network setups = %+v", setups)
	}
	if res := h.rt.cgroups["t1"]; res.CPUShares != 512 || res.MemoryLimit != 256<<20 {
		t.Errorf("task cgroup = %+v", res)
	}
	scratch := filepath.Join(h.cfg.DataDir, "volumes", "t1", "scratch")
	if st, err := os.Stat(scratch); err != nil || !st.IsDir() {
		t.Errorf("scratch volume not created: %v", err)
	}

	if err := h.eng.StopTasks(context.Background(), []string{p.ARN}); err != nil {
		t.Fatal(err)
	}
	stopped := h.waitReported(p.ARN, ecs.TaskStopped)
	c := stopped.Containers[0]
	if c.Status != "STOPPED" || c.ExitCode == nil || *c.ExitCode != 143 || stopped.Reason != "" || stopped.ExecutionStoppedAt.IsZero() {
		t.Errorf("STOPPED report = %+v, container %+v", stopped, c)
	}
	if got := h.rt.stopTimeouts[id]; got != 30*time.Second {
		t.Errorf("stop timeout = %v, want the 30 s default", got)
	}
	waitFor(t, "network teardown and cgroup removal", func() bool {
		_, td := h.net.calls()
		return len(td) == 1 && len(h.rt.callsOf("cgroup-remove:t1")) == 1
	})
	if len(h.rt.callsOf("remove:")) != 0 {
		t.Error("container removed before the cleanup wait")
	}

	h.advanceUntil("task cleaned up", 10*time.Minute, func() bool { return len(h.eng.Tasks()) == 0 })
	if got := h.rt.callsOf("remove:"); !slices.Equal(got, []string{"remove:" + id}) {
		t.Errorf("removals = %v", got)
	}
	if _, err := os.Stat(scratch); !os.IsNotExist(err) {
		t.Errorf("scratch volume still there: %v", err)
	}
	recs, _ := h.store.LoadTasks(context.Background())
	if len(recs) != 0 {
		t.Errorf("store still holds %d records", len(recs))
	}
	if len(h.rep.taskChanges(p.ARN)) != 2 {
		t.Errorf("task reports = %+v, want RUNNING and STOPPED once each", h.rep.taskChanges(p.ARN))
	}
}

func TestEssentialContainerExitStopsTask(t *testing.T) {
	h := newHarness(t)
	p := payload("t1", ctr("app", true), ctr("sidecar", false))
	h.apply(p)
	h.waitReported(p.ARN, ecs.TaskRunning)
	h.rt.exitCtr(rid("t1", "app"), 1, false)
	stopped := h.waitReported(p.ARN, ecs.TaskStopped)
	if stopped.Reason != taskstate.ReasonEssentialExited {
		t.Errorf("reason = %q", stopped.Reason)
	}
	byName := map[string]ContainerChange{}
	for _, c := range stopped.Containers {
		byName[c.ContainerName] = c
	}
	if c := byName["app"]; c.ExitCode == nil || *c.ExitCode != 1 {
		t.Errorf("app = %+v", c)
	}
	if c := byName["sidecar"]; c.Status != "STOPPED" || c.ExitCode == nil || *c.ExitCode != 143 {
		t.Errorf("sidecar = %+v (should have been stopped)", c)
	}
}

func TestNonEssentialExitKeepsTaskRunning(t *testing.T) {
	h := newHarness(t)
	p := payload("t1", ctr("app", true), ctr("job", false))
	h.apply(p)
	h.waitReported(p.ARN, ecs.TaskRunning)
	h.rt.exitCtr(rid("t1", "job"), 0, false)
	waitFor(t, "container report", func() bool { return len(h.rep.containerChanges(p.ARN)) == 1 })
	cc := h.rep.containerChanges(p.ARN)[0]
	if cc.ContainerName != "job" || cc.Status != "STOPPED" || cc.ExitCode == nil || *cc.ExitCode != 0 {
		t.Errorf("container report = %+v", cc)
	}
	if s, _ := h.eng.Task(p.ARN); s.DesiredStatus != ecs.TaskRunning || s.KnownStatus != ecs.TaskRunning {
		t.Errorf("task desired %v known %v, want RUNNING", s.DesiredStatus, s.KnownStatus)
	}
	if len(h.rep.taskChanges(p.ARN)) != 1 {
		t.Errorf("task reports = %+v", h.rep.taskChanges(p.ARN))
	}
}

func TestPullFailureStopsTask(t *testing.T) {
	h := newHarness(t)
	h.rt.pullErr["berth.test/missing:1"] = &runtime.PullError{Ref: "berth.test/missing:1", Kind: runtime.PullNotFound}
	p := payload("t1", ctr("app", true))
	p.Containers[0].Image = "berth.test/missing:1"
	h.apply(p)
	stopped := h.waitReported(p.ARN, ecs.TaskStopped)
	want := "CannotPullContainerError: image berth.test/missing:1 not found: the repository or tag does not exist"
	if stopped.Reason != want || stopped.Containers[0].Reason != want {
		t.Errorf("task reason %q, container reason %q; want %q", stopped.Reason, stopped.Containers[0].Reason, want)
	}
	if stopped.Containers[0].ExitCode != nil || stopped.Containers[0].RuntimeID != "" {
		t.Errorf("container that never ran = %+v", stopped.Containers[0])
	}
	if !stopped.PullStartedAt.IsZero() {
		t.Error("pull times reported for a failed pull")
	}
	if got := h.rt.callsOf("create:"); len(got) != 0 {
		t.Errorf("created %v after a failed pull", got)
	}
	if len(h.rep.taskChanges(p.ARN)) != 1 {
		t.Errorf("reports = %+v, want only STOPPED", h.rep.taskChanges(p.ARN))
	}
}

func TestPresentImageHasNoPullTimes(t *testing.T) {
	h := newHarness(t)
	h.rt.present[testImage] = true
	p := payload("t1", ctr("app", true))
	h.apply(p)
	if r := h.waitReported(p.ARN, ecs.TaskRunning); !r.PullStartedAt.IsZero() || !r.PullStoppedAt.IsZero() {
		t.Errorf("pull times for a present image: %v %v", r.PullStartedAt, r.PullStoppedAt)
	}
}

func TestOOMReason(t *testing.T) {
	h := newHarness(t)
	p := payload("t1", ctr("app", true))
	h.apply(p)
	h.waitReported(p.ARN, ecs.TaskRunning)
	h.rt.exitCtr(rid("t1", "app"), 137, true)
	c := h.waitReported(p.ARN, ecs.TaskStopped).Containers[0]
	if c.Reason != "OutOfMemoryError: Container killed due to memory usage" || c.ExitCode == nil || *c.ExitCode != 137 {
		t.Errorf("container = %+v", c)
	}
}

// TestStopTimeouts: the container's stopTimeout, else the configured
// default, is the SIGTERM→SIGKILL grace; a container ignoring SIGTERM
// exits 137.
func TestStopTimeouts(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.StopTimeout = 12 * time.Second })
	p := payload("t1", ctr("stubborn", true), ctr("plain", false))
	p.Containers[0].StopTimeout = 5
	h.rt.ignoreTERM[rid("t1", "stubborn")] = true
	h.apply(p)
	h.waitReported(p.ARN, ecs.TaskRunning)
	p.DesiredStatus = "STOPPED"
	h.apply(p)
	stopped := h.waitReported(p.ARN, ecs.TaskStopped)
	if got := h.rt.stopTimeouts[rid("t1", "stubborn")]; got != 5*time.Second {
		t.Errorf("stubborn stop timeout = %v, want 5s", got)
	}
	if got := h.rt.stopTimeouts[rid("t1", "plain")]; got != 12*time.Second {
		t.Errorf("plain stop timeout = %v, want the configured 12s", got)
	}
	for _, c := range stopped.Containers {
		want := map[string]int{"stubborn": 137, "plain": 143}[c.ContainerName]
		if c.ExitCode == nil || *c.ExitCode != want {
			t.Errorf("%s exit = %v, want %d", c.ContainerName, c.ExitCode, want)
		}
	}
}

func TestStopFailureIsRetried(t *testing.T) {
	h := newHarness(t)
	p := payload("t1", ctr("app", true))
	h.apply(p)
	h.waitReported(p.ARN, ecs.TaskRunning)
	rt := &failingStop{fakeRuntime: h.rt, failures: 1}
	h.stop()
	h.eng = nil
	// Restart over a runtime whose first Stop fails.
	eng, err := New(h.cfg, Deps{Runtime: rt, Network: h.net, Store: h.store, Reporter: h.rep})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-eng.Ready()
	if err := eng.StopTasks(ctx, []string{p.ARN}); err != nil {
		t.Fatal(err)
	}
	h.advanceUntil("stopped after a retry", time.Second, func() bool {
		s, _ := eng.Task(p.ARN)
		return s.KnownStatus == ecs.TaskStopped
	})
	if n := len(h.rt.callsOf("stop:")); n != 1 {
		t.Errorf("%d successful stops", n)
	}
}

type failingStop struct {
	*fakeRuntime
	failures int
}

func (f *failingStop) Stop(ctx context.Context, id string, timeout time.Duration) error {
	f.fakeRuntime.mu.Lock()
	if f.failures > 0 {
		f.failures--
		f.fakeRuntime.mu.Unlock()
		return errors.New("containerd hiccup")
	}
	f.fakeRuntime.mu.Unlock()
	return f.fakeRuntime.Stop(ctx, id, timeout)
}

// TestApplyIsIdempotent: repeated payloads change nothing; STOPPED then
// RUNNING never restarts a task.
func TestApplyIsIdempotent(t *testing.T) {
	h := newHarness(t)
	p := payload("t1", ctr("app", true))
	for range 3 {
		h.apply(p, p)
	}
	h.waitReported(p.ARN, ecs.TaskRunning)
	h.apply(p)
	if n := len(h.rt.callsOf("create:")); n != 1 {
		t.Errorf("%d creates, want 1", n)
	}
	if n := len(h.eng.Tasks()); n != 1 {
		t.Errorf("%d tasks", n)
	}
	stop := p
	stop.DesiredStatus = "STOPPED"
	h.apply(stop)
	h.waitReported(p.ARN, ecs.TaskStopped)
	h.apply(p) // RUNNING again: ignored
	if s, _ := h.eng.Task(p.ARN); s.DesiredStatus != ecs.TaskStopped {
		t.Errorf("desired = %v after a late RUNNING", s.DesiredStatus)
	}
	if n := len(h.rt.callsOf("start:")); n != 1 {
		t.Errorf("%d starts, want 1", n)
	}
	if n := len(h.rep.taskChanges(p.ARN)); n != 2 {
		t.Errorf("%d task reports, want 2", n)
	}
}

// TestUnknownTaskDesiredStopped: a task first seen desiring STOPPED is
// reported STOPPED without running anything.
func TestUnknownTaskDesiredStopped(t *testing.T) {
	h := newHarness(t)
	p := payload("t1", ctr("app", true))
	p.DesiredStatus = "STOPPED"
	h.apply(p)
	h.waitReported(p.ARN, ecs.TaskStopped)
	if calls := h.rt.allCalls(); slices.ContainsFunc(calls, func(c string) bool { return strings.HasPrefix(c, "create:") || strings.HasPrefix(c, "pull:") }) {
		t.Errorf("runtime calls %v for a stopped task", calls)
	}
}

func TestStopDuringPull(t *testing.T) {
	h := newHarness(t)
	h.rt.pullGate[testImage] = make(chan struct{}) // never opens
	p := payload("t1", ctr("app", true))
	h.apply(p)
	h.waitCalls("pull:", 1)
	if err := h.eng.StopTasks(context.Background(), []string{p.ARN}); err != nil {
		t.Fatal(err)
	}
	stopped := h.waitReported(p.ARN, ecs.TaskStopped)
	if stopped.Containers[0].Reason != "" || stopped.Reason != "" {
		t.Errorf("abandoned pull reported as a failure: %+v", stopped)
	}
	if n := len(h.rt.callsOf("create:")); n != 0 {
		t.Errorf("%d creates", n)
	}
}

func TestSetupFailureStopsTask(t *testing.T) {
	h := newHarness(t)
	h.net.setupErr = errors.New("no free address")
	p := payload("t1", ctr("app", true))
	h.apply(p)
	stopped := h.waitReported(p.ARN, ecs.TaskStopped)
	if !strings.HasPrefix(stopped.Reason, "TaskStateError: Agent could not create task's platform resources") || !strings.Contains(stopped.Reason, "no free address") {
		t.Errorf("reason = %q", stopped.Reason)
	}
	if n := len(h.rt.callsOf("create:")); n != 0 {
		t.Errorf("%d creates", n)
	}
}

func TestCreateAndStartFailures(t *testing.T) {
	for _, tt := range []struct {
		name   string
		set    func(h *harness)
		prefix string
	}{
		{"create", func(h *harness) { h.rt.createErr[rid("t1", "app")] = errors.New("snapshot failed") }, "CannotCreateContainerError: snapshot failed"},
		{"start", func(h *harness) { h.rt.startErr[rid("t1", "app")] = errors.New("exec format error") }, "CannotStartContainerError: exec format error"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			tt.set(h)
			p := payload("t1", ctr("app", true))
			h.apply(p)
			stopped := h.waitReported(p.ARN, ecs.TaskStopped)
			if stopped.Reason != tt.prefix || stopped.Containers[0].Reason != tt.prefix {
				t.Errorf("reasons %q / %q, want %q", stopped.Reason, stopped.Containers[0].Reason, tt.prefix)
			}
		})
	}
}

func TestInvalidTaskIsReportedStopped(t *testing.T) {
	h := newHarness(t)
	a, b := ctr("a", true), ctr("b", true)
	a.DependsOn = []agentproto.ContainerDependency{{ContainerName: "b", Condition: "START"}}
	b.DependsOn = []agentproto.ContainerDependency{{ContainerName: "a", Condition: "START"}}
	p := payload("t1", a, b)
	h.apply(p)
	stopped := h.waitReported(p.ARN, ecs.TaskStopped)
	if !strings.HasPrefix(stopped.Reason, "TaskStateError: ") || !strings.Contains(stopped.Reason, "cycle") {
		t.Errorf("reason = %q", stopped.Reason)
	}
}

func TestReportsRetriedAfterFailure(t *testing.T) {
	h := newHarness(t)
	h.rep.setFailing(true)
	p := payload("t1", ctr("app", true))
	h.apply(p)
	waitFor(t, "a failed report attempt", func() bool { return h.rep.attemptCount() >= 1 })
	h.rep.setFailing(false)
	h.advanceUntil("report retried", time.Second, func() bool { return len(h.rep.taskChanges(p.ARN)) == 1 })
}

// TestStoppedTaskWaitsForReportBeforeCleanup: a stopped task whose STOPPED
// was never acknowledged keeps its record past the cleanup wait.
func TestStoppedTaskWaitsForReportBeforeCleanup(t *testing.T) {
	h := newHarness(t)
	p := payload("t1", ctr("app", true))
	h.apply(p)
	h.waitReported(p.ARN, ecs.TaskRunning)
	h.rep.setFailing(true)
	h.rt.exitCtr(rid("t1", "app"), 0, false)
	h.waitKnown(p.ARN, ecs.TaskStopped)
	h.clock.Advance(2 * time.Hour)
	waitFor(t, "released resources", func() bool { return len(h.rt.callsOf("cgroup-remove:")) == 1 })
	if _, ok := h.eng.Task(p.ARN); !ok || len(h.rt.callsOf("remove:")) != 0 {
		t.Fatal("task cleaned up before its STOPPED was acknowledged")
	}
	h.rep.setFailing(false)
	h.advanceUntil("cleanup", time.Minute, func() bool { return len(h.eng.Tasks()) == 0 })
	h.waitReported(p.ARN, ecs.TaskStopped)
}

func TestApplyAfterRunEnds(t *testing.T) {
	h := newHarness(t)
	h.stop()
	if err := h.eng.Apply(context.Background(), []agentproto.Task{payload("t1", ctr("a", true))}); !errors.Is(err, ErrStopped) {
		t.Errorf("Apply after Run = %v, want ErrStopped", err)
	}
}
