package engine

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/berth/berth/internal/agent/taskstate"
	"github.com/berth/berth/internal/agentproto"
	"github.com/berth/berth/internal/ecs"
)

// healthConfig is a dockerConfig.config with a CMD-SHELL health check.
func healthConfig(cmd string, interval, startPeriod time.Duration, retries int) agentproto.DockerConfig {
	hc := `{"Healthcheck":{"Test":["CMD-SHELL","` + cmd + `"],"Interval":` + itoa(int64(interval)) +
		`,"Timeout":2000000000,"StartPeriod":` + itoa(int64(startPeriod)) + `,"Retries":` + itoa(int64(retries)) + `}}`
	return agentproto.DockerConfig{Config: hc}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// indexOf is the position of call in calls, or -1.
func indexOf(calls []string, call string) int { return slices.Index(calls, call) }

// TestDependsOnConditions: the dependent container ("app") is created only
// once its dependency ("dep") meets the condition.
func TestDependsOnConditions(t *testing.T) {
	tests := []struct {
		cond string
		// meet makes dep meet the condition.
		meet func(h *harness)
	}{
		{"START", func(h *harness) {}},
		{"COMPLETE", func(h *harness) { h.rt.exitCtr(rid("t1", "dep"), 3, false) }},
		{"SUCCESS", func(h *harness) { h.rt.exitCtr(rid("t1", "dep"), 0, false) }},
		{"HEALTHY", func(h *harness) {
			h.advanceUntil("dep healthy", time.Second, func() bool {
				s, _ := h.eng.Task(taskARN("t1"))
				return s.Containers[0].Health.Status == taskstate.HealthHealthy
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.cond, func(t *testing.T) {
			h := newHarness(t)
			dep, app := ctr("dep", false), ctr("app", true)
			dep.DockerConfig = healthConfig("true", 5*time.Second, 0, 3)
			app.DependsOn = []agentproto.ContainerDependency{{ContainerName: "dep", Condition: tt.cond}}
			p := payload("t1", dep, app)
			h.apply(p)
			h.waitCalls("start:"+rid("t1", "dep"), 1)
			if tt.cond != "START" {
				// Not met yet: app must not be created.
				h.clock.Advance(time.Millisecond)
				if s, _ := h.eng.Task(p.ARN); s.Containers[1].KnownStatus > taskstate.ContainerPulled {
					t.Fatalf("app is %v before dep met %s", s.Containers[1].KnownStatus, tt.cond)
				}
				if n := len(h.rt.callsOf("create:" + rid("t1", "app"))); n != 0 {
					t.Fatalf("app created before dep met %s", tt.cond)
				}
			}
			tt.meet(h)
			h.waitCalls("start:"+rid("t1", "app"), 1)
			calls := h.rt.allCalls()
			if indexOf(calls, "start:"+rid("t1", "dep")) > indexOf(calls, "create:"+rid("t1", "app")) {
				t.Errorf("app created before dep started: %v", calls)
			}
			if s, _ := h.eng.Task(p.ARN); s.DesiredStatus != ecs.TaskRunning {
				t.Errorf("task desired %v", s.DesiredStatus)
			}
		})
	}
}

// TestSuccessDependencyFailure: a SUCCESS dependency exiting non-zero
// means the essential dependent never starts and the task stops.
func TestSuccessDependencyFailure(t *testing.T) {
	h := newHarness(t)
	initC, app := ctr("init", false), ctr("app", true)
	app.DependsOn = []agentproto.ContainerDependency{{ContainerName: "init", Condition: "SUCCESS"}}
	p := payload("t1", initC, app)
	h.apply(p)
	h.waitCalls("start:"+rid("t1", "init"), 1)
	h.rt.exitCtr(rid("t1", "init"), 2, false)
	stopped := h.waitReported(p.ARN, ecs.TaskStopped)
	want := `CannotStartContainerError: dependency "init" did not exit successfully (exit code 2)`
	if stopped.Reason != want {
		t.Errorf("task reason %q, want %q", stopped.Reason, want)
	}
	for _, c := range stopped.Containers {
		if c.ContainerName == "app" && (c.Reason != want || c.ExitCode != nil) {
			t.Errorf("app = %+v", c)
		}
	}
	if n := len(h.rt.callsOf("create:" + rid("t1", "app"))); n != 0 {
		t.Error("app was created")
	}
	if len(h.rep.taskChanges(p.ARN)) != 1 {
		t.Errorf("reports %+v, want STOPPED only (never RUNNING)", h.rep.taskChanges(p.ARN))
	}
}

// TestHealthCheckTurnsUnhealthy: failing probes after the start period
// make the container UNHEALTHY, reported through ReportHealth.
func TestHealthCheckTurnsUnhealthy(t *testing.T) {
	h := newHarness(t)
	app := ctr("app", true)
	app.DockerConfig = healthConfig("curl -f http://localhost/ || exit 1", 10*time.Second, 15*time.Second, 2)
	p := payload("t1", app)
	id := rid("t1", "app")
	h.apply(p)
	h.waitReported(p.ARN, ecs.TaskRunning)
	h.rt.mu.Lock()
	h.rt.execCode[id] = 0
	h.rt.mu.Unlock()
	h.advanceUntil("healthy", time.Second, func() bool {
		hs := h.rep.healthChanges()
		return len(hs) > 0 && hs[len(hs)-1].Containers[0].Status == "HEALTHY"
	})
	h.rt.mu.Lock()
	h.rt.execCode[id] = 1
	h.rt.mu.Unlock()
	h.advanceUntil("unhealthy", time.Second, func() bool {
		hs := h.rep.healthChanges()
		return hs[len(hs)-1].Containers[0].Status == "UNHEALTHY"
	})
	last := h.rep.healthChanges()[len(h.rep.healthChanges())-1]
	if last.TaskARN != p.ARN || last.Family != "web" || last.Version != "3" || last.Containers[0].Name != "app" || last.Containers[0].Since.IsZero() {
		t.Errorf("health change = %+v", last)
	}
	execs := h.rt.callsOf("exec:")
	if len(execs) < 3 || execs[0] != "exec:"+id+":/bin/sh -c curl -f http://localhost/ || exit 1:2s" {
		t.Errorf("probes = %v", execs)
	}
	s, _ := h.eng.Task(p.ARN)
	if s.Health != taskstate.HealthUnhealthy || s.Containers[0].Health.FailingStreak < 2 {
		t.Errorf("snapshot health %v, container %+v", s.Health, s.Containers[0].Health)
	}
	// Health does not stop the task by itself (the service scheduler does).
	if s.DesiredStatus != ecs.TaskRunning {
		t.Errorf("desired %v", s.DesiredStatus)
	}
}

// TestStartPeriodFailuresDoNotCount: probes failing within startPeriod
// leave the container UNKNOWN.
func TestStartPeriodFailuresDoNotCount(t *testing.T) {
	h := newHarness(t)
	app := ctr("app", true)
	app.DockerConfig = healthConfig("false", time.Second, time.Hour, 1)
	p := payload("t1", app)
	id := rid("t1", "app")
	h.rt.execCode[id] = 1
	h.apply(p)
	h.waitReported(p.ARN, ecs.TaskRunning)
	h.advanceUntil("five probes", time.Second, func() bool { return len(h.rt.callsOf("exec:")) >= 5 })
	s, _ := h.eng.Task(p.ARN)
	if st := s.Containers[0].Health.Status; st != taskstate.HealthUnknown {
		t.Errorf("health = %v during the start period", st)
	}
}

// TestNextWakeUsesTheStepTime: a probe that falls due between a step and
// the owner's choice of its next wake-up must still wake it (it once slept
// forever, the probe planned as an action nobody would take).
func TestNextWakeUsesTheStepTime(t *testing.T) {
	clock := newFakeClock()
	e := &Engine{cfg: Config{Cluster: "c", CleanupWait: time.Hour}, clock: clock, log: testLogger()}
	app := ctr("app", true)
	app.DockerConfig = healthConfig("true", time.Second, 0, 3)
	rec := newRecord(payload("t1", app), clock.Now())
	rec.State.Apply(taskstate.Event{Container: "app", Status: taskstate.ContainerRunning, At: clock.Now()})
	mt := newManagedTask(e, rec, false)
	mt.now = clock.Now() // the step acted before the probe was due
	clock.Advance(2 * time.Second)
	if got, want := mt.nextWake(), rec.State.Containers[0].StartedAt.Add(time.Second); !got.Equal(want) {
		t.Errorf("nextWake = %v, want %v (the probe's due time)", got, want)
	}
}

// TestNextWakeIgnoresPastTimes: deadlines already due at the last step
// (cleanup waiting for an acknowledgement, retries with their work in
// flight) must not make the owner wake again and again.
func TestNextWakeIgnoresPastTimes(t *testing.T) {
	clock := newFakeClock()
	e := &Engine{cfg: Config{Cluster: "c", CleanupWait: time.Hour}, clock: clock, log: testLogger()}
	rec := newRecord(payload("t1", ctr("app", true)), clock.Now())
	rec.State.Apply(taskstate.Event{Container: "app", Status: taskstate.ContainerStopped, At: clock.Now()})
	rec.StoppedAt = clock.Now()
	mt := newManagedTask(e, rec, false)
	clock.Advance(2 * time.Hour) // cleanup is overdue, but STOPPED is not acknowledged
	mt.now = clock.Now()
	mt.reportBusy = true
	mt.reportRetry.at = mt.now.Add(-time.Second)
	mt.releaseRetry.at = mt.now.Add(-time.Minute)
	mt.stopRetryAt[0] = mt.now.Add(-time.Second)
	if got := mt.nextWake(); !got.IsZero() {
		t.Errorf("nextWake = %v, want none (only a message can help)", got)
	}
	mt.reportRetry.at = mt.now.Add(time.Second)
	if got := mt.nextWake(); !got.Equal(mt.now.Add(time.Second)) {
		t.Errorf("nextWake = %v, want the pending retry", got)
	}
}
