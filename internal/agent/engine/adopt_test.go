package engine

import (
	"context"
	"testing"
	"time"

	"github.com/berth/berth/internal/agentproto"
	"github.com/berth/berth/internal/ecs"
)

// TestRestartAdoptsRunningTask: a restarted engine waits on the running
// containers again (no second create), re-sends the RUNNING report the
// control plane never acknowledged, and still sees the exit.
func TestRestartAdoptsRunningTask(t *testing.T) {
	h := newHarness(t)
	h.rep.setFailing(true)
	p := payload("t1", ctr("app", true), ctr("side", false))
	h.apply(p)
	h.waitKnown(p.ARN, ecs.TaskRunning)
	waitFor(t, "a failed RUNNING report", func() bool { return h.rep.attemptCount() >= 1 })

	h.restart()
	h.rep.setFailing(false)
	// The new engine may have tried (and failed) once more before the
	// reporter recovered: move the clock past its retry backoff.
	h.advanceUntil("RUNNING re-sent", time.Second, func() bool { return len(h.rep.taskChanges(p.ARN)) > 0 })
	running := h.waitReported(p.ARN, ecs.TaskRunning)
	if len(running.Containers) != 2 || running.Containers[0].RuntimeID != rid("t1", "app") {
		t.Errorf("re-sent RUNNING report = %+v", running)
	}
	if n := len(h.rt.callsOf("create:")); n != 2 {
		t.Errorf("%d creates over both engines, want 2", n)
	}
	if s, ok := h.eng.Task(p.ARN); !ok || s.KnownStatus != ecs.TaskRunning {
		t.Errorf("adopted task = %+v", s)
	}
	h.rt.exitCtr(rid("t1", "app"), 0, false)
	stopped := h.waitReported(p.ARN, ecs.TaskStopped)
	if stopped.Containers[0].ExitCode == nil || *stopped.Containers[0].ExitCode != 0 {
		t.Errorf("exit seen by the new engine = %+v", stopped.Containers[0])
	}
	if len(h.rep.taskChanges(p.ARN)) != 2 {
		t.Errorf("reports %+v", h.rep.taskChanges(p.ARN))
	}
}

// TestRestartVanishedContainer: a container gone from the runtime after a
// restart is stopped with ECS's vanished reason, stopping its task.
func TestRestartVanishedContainer(t *testing.T) {
	h := newHarness(t)
	p := payload("t1", ctr("app", true))
	h.apply(p)
	h.waitReported(p.ARN, ecs.TaskRunning)
	h.stop()
	h.rt.vanish(rid("t1", "app"))
	h.start()
	stopped := h.waitReported(p.ARN, ecs.TaskStopped)
	if c := stopped.Containers[0]; c.Reason != ReasonVanished || c.ExitCode != nil {
		t.Errorf("vanished container = %+v", c)
	}
}

// TestRestartExitedWhileDown: a container that exited while the agent was
// down is reported with its real exit code.
func TestRestartExitedWhileDown(t *testing.T) {
	h := newHarness(t)
	p := payload("t1", ctr("app", true))
	h.apply(p)
	h.waitReported(p.ARN, ecs.TaskRunning)
	h.stop()
	h.rt.exitCtr(rid("t1", "app"), 7, false)
	h.start()
	if c := h.waitReported(p.ARN, ecs.TaskStopped).Containers[0]; c.ExitCode == nil || *c.ExitCode != 7 || c.Reason != "" {
		t.Errorf("container = %+v", c)
	}
}

// TestRestartMidCreate: an agent that dies after creating a container but
// before saving that finds the container on restart and starts it instead
// of creating another.
func TestRestartMidCreate(t *testing.T) {
	h := newHarness(t)
	crashed := make(chan struct{})
	h.rt.onCreate = func(id string) {
		h.rt.onCreate = nil
		go func() { h.stop(); close(crashed) }() // the "crash": Run ends before the save
		<-h.eng.ctx.Done()
	}
	p := payload("t1", ctr("app", true))
	h.apply(p)
	<-crashed
	h.start()
	h.waitReported(p.ARN, ecs.TaskRunning)
	if n := len(h.rt.callsOf("create:")); n != 1 {
		t.Errorf("%d creates, want 1", n)
	}
	if n := len(h.rt.callsOf("start:")); n != 1 {
		t.Errorf("%d starts, want 1", n)
	}
}

// TestRestartAfterStopReportLost: a task stopped and not acknowledged is
// reported STOPPED by the next engine and cleaned up after that.
func TestRestartAfterStopReportLost(t *testing.T) {
	h := newHarness(t)
	p := payload("t1", ctr("app", true))
	h.apply(p)
	h.waitReported(p.ARN, ecs.TaskRunning)
	h.rep.setFailing(true)
	h.rt.exitCtr(rid("t1", "app"), 1, false)
	h.waitKnown(p.ARN, ecs.TaskStopped)
	h.restart()
	h.rep.setFailing(false)
	h.advanceUntil("STOPPED re-sent", time.Second, func() bool { return len(h.rep.taskChanges(p.ARN)) > 1 })
	h.waitReported(p.ARN, ecs.TaskStopped)
	h.advanceUntil("cleanup", 0, func() bool { h.clock.Advance(h.cfg.CleanupWait); return len(h.eng.Tasks()) == 0 })
}

// TestSavedBeforeReported: when a report goes out, the store already holds
// the status it reports (so a crash right after cannot lose it).
func TestSavedBeforeReported(t *testing.T) {
	h := newHarness(t)
	var bad []string
	h.rep.onTask = func(c TaskChange) {
		recs, err := h.store.LoadTasks(context.Background())
		if err != nil {
			bad = append(bad, err.Error())
			return
		}
		rec, err := decodeRecord(recs[c.TaskARN])
		if err != nil {
			bad = append(bad, err.Error())
			return
		}
		if rec.State.Known < c.Status {
			bad = append(bad, "reported "+c.Status.String()+" while the store has "+rec.State.Known.String())
		}
	}
	p := payload("t1", ctr("app", true), ctr("b", false))
	h.apply(p)
	h.waitReported(p.ARN, ecs.TaskRunning)
	h.rt.exitCtr(rid("t1", "app"), 0, false)
	h.waitReported(p.ARN, ecs.TaskStopped)
	if len(bad) > 0 {
		t.Error(bad)
	}
}

// TestApplyRepeatAfterRestart: the payload ACS repeats on reconnect does
// not create a second managed task (or container) for an adopted ARN.
func TestApplyRepeatAfterRestart(t *testing.T) {
	h := newHarness(t)
	p := payload("t1", ctr("app", true))
	h.apply(p)
	h.waitReported(p.ARN, ecs.TaskRunning)
	h.restart()
	h.apply(p) // ACS sends every task again on connect
	if n := len(h.rt.callsOf("create:")); n != 1 {
		t.Errorf("%d creates", n)
	}
	stop := p
	stop.DesiredStatus = "STOPPED"
	h.apply(stop, agentproto.Task{}) // a task without ARN is skipped
	h.waitReported(p.ARN, ecs.TaskStopped)
}
