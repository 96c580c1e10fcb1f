package engine

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/berth/berth/internal/agent/network"
	"github.com/berth/berth/internal/agent/runtime"
	"github.com/berth/berth/internal/agent/taskstate"
	"github.com/berth/berth/internal/ecs"
)

// managedTask is one task and the goroutine that owns it. There is exactly
// one per task ARN, and only its goroutine (run) reads or changes rec and
// the fields below it; other goroutines send it messages on inbox and read
// the published snapshot.
type managedTask struct {
	e     *Engine
	arn   string
	id    string // task ID: names its network, cgroup and scratch volumes
	log   *slog.Logger
	inbox chan any
	done  chan struct{} // closed when run returns
	snap  atomic.Pointer[TaskSnapshot]

	static []containerStatic // by container index; read-only

	// Owned by run.
	rec     *record
	adopted bool // loaded from the store by a new engine
	ctx     context.Context
	// startCtx ends when the task desires STOPPED: pulls, creates and
	// starts in progress are abandoned.
	startCtx    context.Context
	cancelStart context.CancelFunc

	busy         map[int]bool // container index → an action is in progress
	waiting      map[int]bool // container index → its exit is being waited for
	setupBusy    bool
	releaseBusy  bool
	cleanupBusy  bool
	reportBusy   bool
	healthBusy   bool
	healthDirty  bool
	dirty        bool         // rec changed since the last save
	replies      []chan error // setDesired callers waiting for the save
	saveRetry    retrier
	reportRetry  retrier
	releaseRetry retrier // release and cleanup
	stopRetryAt  map[int]time.Time
	stopSent     map[int]bool // a Stop succeeded: only the exit is awaited
	finished     bool
	now          time.Time // when the last step acted
}

func newManagedTask(e *Engine, rec *record, adopted bool) *managedTask {
	arn := rec.Payload.ARN
	static := make([]containerStatic, len(rec.Payload.Containers))
	for i := range static {
		static[i] = staticOf(e.cfg.Cluster, &rec.Payload, i)
	}
	return &managedTask{
		static: static,
		e:      e, arn: arn, id: taskIDOf(arn),
		log:     e.log.With("task", arn),
		inbox:   make(chan any, 16),
		done:    make(chan struct{}),
		rec:     rec,
		adopted: adopted,
		busy:    map[int]bool{}, waiting: map[int]bool{}, stopRetryAt: map[int]time.Time{}, stopSent: map[int]bool{},
	}
}

// Messages to the owner.
type (
	desiredMsg struct {
		status ecs.TaskStatus
		reason string
		reply  chan error
	}
	pullDone struct {
		index      int
		image      runtime.Image
		start, end time.Time
		err        error
	}
	createDone struct {
		index int
		at    time.Time
		err   error
	}
	startDone struct {
		index int
		at    time.Time
		err   error
	}
	stopDone struct {
		index int
		err   error
	}
	exitMsg struct {
		index int
		exit  runtime.Exit
	}
	waitFailed struct {
		index int
		err   error
	}
	probeDone struct {
		index int
		code  int
		err   error
		at    time.Time
	}
	setupDone struct {
		att network.Attachment
		err error
	}
	releaseDone struct{ err error }
	cleanupDone struct{ err error }
	reportDone  struct {
		pr  pendingReport
		err error
	}
	healthDone struct{ err error }
)

// start launches the owner goroutine under ctx.
func (mt *managedTask) start(ctx context.Context) {
	mt.ctx = ctx
	mt.startCtx, mt.cancelStart = context.WithCancel(ctx)
	if mt.rec.State.Desired >= ecs.TaskStopped {
		mt.cancelStart()
	}
	mt.snap.Store(mt.snapshot())
	mt.e.goWorker(mt.run)
}

// send delivers a message to the owner unless it has ended.
func (mt *managedTask) send(m any) {
	select {
	case mt.inbox <- m:
	case <-mt.done:
	}
}

// setDesired asks the owner to move the desired status and waits until
// the change is saved.
func (mt *managedTask) setDesired(ctx context.Context, s ecs.TaskStatus, reason string) error {
	reply := make(chan error, 1)
	select {
	case mt.inbox <- desiredMsg{status: s, reason: reason, reply: reply}:
	case <-mt.done:
		return nil // the task is gone (cleaned up): nothing to change
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-mt.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run is the owner loop: act on the state, wait for a message or the next
// timed decision, apply it, repeat.
func (mt *managedTask) run() {
	defer close(mt.done)
	defer mt.cancelStart()
	if mt.adopted {
		mt.healthDirty = true
	}
	for {
		if mt.ctx.Err() != nil {
			mt.flushReplies(mt.ctx.Err())
			return
		}
		mt.step()
		if mt.finished {
			return
		}
		if mt.dirty && mt.saveRetry.due(mt.e.clock.Now()) {
			continue // acting changed the state: save and act on it first
		}
		var timerC <-chan time.Time
		var timer Timer
		if wake := mt.nextWake(); !wake.IsZero() {
			timer = mt.e.clock.NewTimer(wake.Sub(mt.e.clock.Now()))
			timerC = timer.C()
		}
		select {
		case <-mt.ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			mt.flushReplies(mt.ctx.Err())
			return
		case m := <-mt.inbox:
			mt.handle(m)
		case <-timerC:
		}
		if timer != nil {
			timer.Stop()
		}
		// Take whatever else is queued before acting again.
		for drained := false; !drained; {
			select {
			case m := <-mt.inbox:
				mt.handle(m)
			default:
				drained = true
			}
		}
	}
}

// step saves, acts, reports and publishes, as the state requires.
func (mt *managedTask) step() {
	now := mt.e.clock.Now()
	mt.now = now
	if mt.rec.State.Desired >= ecs.TaskStopped {
		mt.cancelStart() // abandon pulls and setup in progress
	}
	if mt.dirty {
		if !mt.saveRetry.due(now) || !mt.save(now) {
			return
		}
	}
	mt.flushReplies(nil)
	if mt.finished {
		return
	}
	mt.act(now)
	mt.report(now)
	mt.publish()
}

// save writes the record; on failure it schedules a retry and reports false.
func (mt *managedTask) save(now time.Time) bool {
	b, err := mt.rec.encode()
	if err == nil {
		err = mt.e.store.SaveTask(mt.ctx, mt.arn, b)
	}
	if err != nil {
		if mt.ctx.Err() == nil {
			mt.log.Error("saving task state failed; will retry", "error", err)
			mt.saveRetry.fail(now, mt.e.cfg.RetryMin, mt.e.cfg.RetryMax)
		}
		return false
	}
	mt.saveRetry.reset()
	mt.dirty = false
	return true
}

func (mt *managedTask) flushReplies(err error) {
	for _, r := range mt.replies {
		r <- err
	}
	mt.replies = nil
}

// retrier is the exponential backoff of one kind of failed operation.
type retrier struct {
	at    time.Time
	delay time.Duration
}

// fail schedules the next attempt.
func (r *retrier) fail(now time.Time, lo, hi time.Duration) {
	if r.delay == 0 {
		r.delay = lo
	} else {
		r.delay = min(2*r.delay, hi)
	}
	r.at = now.Add(r.delay)
}

func (r *retrier) reset()                 { *r = retrier{} }
func (r *retrier) due(now time.Time) bool { return r.at.IsZero() || !now.Before(r.at) }

// nextWake is when the owner must act even if no message comes: the
// earliest time after the last step (mt.now) at which something falls due.
// Times at or before mt.now were due for that step, which acted on them or
// is waiting for a message (a worker's result) to; counting them would
// spin the owner. Planning at mt.now rather than the current time matters
// too: something that fell due since must come out as a wake-up time (in
// the past, so the timer fires at once), not as an action nobody takes.
func (mt *managedTask) nextWake() time.Time {
	var wake time.Time
	earliest := func(t time.Time) {
		if t.After(mt.now) && (wake.IsZero() || t.Before(wake)) {
			wake = t
		}
	}
	earliest(mt.rec.State.Plan(mt.now).WakeAt)
	earliest(mt.saveRetry.at)
	earliest(mt.reportRetry.at)
	earliest(mt.releaseRetry.at)
	for _, t := range mt.stopRetryAt {
		earliest(t)
	}
	if mt.rec.State.Known >= ecs.TaskStopped {
		earliest(mt.cleanupAt())
	}
	return wake
}

// cleanupAt is when the stopped task's containers and record go.
func (mt *managedTask) cleanupAt() time.Time {
	if mt.rec.StoppedAt.IsZero() {
		return time.Time{}
	}
	return mt.rec.StoppedAt.Add(mt.e.cfg.CleanupWait)
}

// publish stores a fresh snapshot for readers.
func (mt *managedTask) publish() {
	mt.snap.Store(mt.snapshot())
}

// handle applies one message to the state.
func (mt *managedTask) handle(m any) {
	now := mt.e.clock.Now()
	st := &mt.rec.State
	switch m := m.(type) {
	case desiredMsg:
		if st.SetDesired(m.status, m.reason) {
			mt.log.Info("task desired status changed", "desired", st.Desired)
			mt.dirty = true
		}
		mt.replies = append(mt.replies, m.reply)
	case pullDone:
		mt.busy[m.index] = false
		mt.pulled(m)
	case createDone:
		mt.busy[m.index] = false
		if m.err != nil {
			mt.containerFailed(m.index, "CannotCreateContainerError: "+m.err.Error(), now)
		} else {
			mt.rec.Containers[m.index].CreatedAt = m.at
			mt.apply(taskstate.Event{Container: mt.name(m.index), Status: taskstate.ContainerCreated, At: m.at})
		}
	case startDone:
		mt.busy[m.index] = false
		if m.err != nil {
			mt.containerFailed(m.index, "CannotStartContainerError: "+m.err.Error(), now)
		} else {
			mt.apply(taskstate.Event{Container: mt.name(m.index), Status: taskstate.ContainerRunning, At: m.at})
		}
	case stopDone:
		mt.busy[m.index] = false
		switch {
		case m.err == nil:
			mt.stopSent[m.index] = true // its exit reaches the waiter
		case mt.ctx.Err() == nil:
			mt.log.Warn("stopping container failed; will retry", "container", mt.name(m.index), "error", m.err)
			mt.stopRetryAt[m.index] = now.Add(mt.e.cfg.RetryMin)
		}
	case exitMsg:
		mt.waiting[m.index] = false
		mt.exited(m.index, m.exit)
	case waitFailed:
		mt.waiting[m.index] = false
		mt.log.Warn("cannot wait for container; assuming it stopped", "container", mt.name(m.index), "error", m.err)
		mt.apply(taskstate.Event{Container: mt.name(m.index), Status: taskstate.ContainerStopped, At: now,
			Reason: "CannotInspectContainerError: " + m.err.Error()})
	case probeDone:
		mt.busy[m.index] = false
		code := m.code
		if m.err != nil {
			code = -1
		}
		output := ""
		if m.err != nil {
			output = m.err.Error()
		}
		mt.log.Debug("health probe", "container", mt.name(m.index), "code", code, "error", m.err)
		if st.RecordProbe(mt.name(m.index), m.at, code, output) {
			c := &st.Containers[m.index]
			mt.log.Info("container health changed", "container", c.Name, "health", c.Health.Status)
			mt.healthDirty = true
		}
		mt.dirty = true
	case setupDone:
		mt.setupBusy = false
		if m.err != nil {
			mt.log.Error("setting up task resources failed", "error", m.err)
			st.SetDesired(ecs.TaskStopped, "TaskStateError: Agent could not create task's platform resources: "+m.err.Error())
		} else {
			att := m.att
			mt.rec.Network = &att
			mt.rec.SetupDone = true
			if ip, _ := vpcAddress(&mt.rec.Payload); ip != "" && att.IPv4 != "" && ip != att.IPv4 {
				mt.log.Warn("awsvpc task got another address than the control plane chose", "want", ip, "got", att.IPv4)
			}
		}
		mt.dirty = true
	case releaseDone:
		mt.releaseBusy = false
		if m.err != nil {
			mt.log.Warn("releasing task resources failed; will retry", "error", m.err)
			mt.releaseRetry.fail(now, mt.e.cfg.RetryMin, mt.e.cfg.RetryMax)
		} else {
			mt.releaseRetry.reset()
			mt.rec.TornDown = true
			mt.dirty = true
		}
	case cleanupDone:
		mt.cleanupBusy = false
		if m.err != nil {
			mt.log.Warn("cleaning up task failed; will retry", "error", m.err)
			mt.releaseRetry.fail(now, mt.e.cfg.RetryMin, mt.e.cfg.RetryMax)
		} else {
			mt.finish()
		}
	case reportDone:
		mt.reportBusy = false
		if m.err != nil {
			if mt.ctx.Err() == nil {
				mt.log.Warn("state change not reported; will retry", "error", m.err)
				mt.reportRetry.fail(now, mt.e.cfg.RetryMin, mt.e.cfg.RetryMax)
			}
			return
		}
		mt.reportRetry.reset()
		if m.pr.task != nil && m.pr.task.Status > mt.rec.Reported {
			mt.rec.Reported = m.pr.task.Status
		}
		for i, s := range m.pr.statuses {
			if s > mt.rec.Containers[i].Reported {
				mt.rec.Containers[i].Reported = s
			}
		}
		mt.dirty = true
	case healthDone:
		mt.healthBusy = false
		if m.err != nil {
			mt.healthDirty = true
		}
	}
}

func (mt *managedTask) name(i int) string { return mt.rec.State.Containers[i].Name }

// apply feeds an event to the state machine and notes what followed.
func (mt *managedTask) apply(ev taskstate.Event) {
	st := &mt.rec.State
	before := st.Known
	if !st.Apply(ev) {
		return
	}
	mt.dirty = true
	c := st.Container(ev.Container)
	mt.log.Debug("container status", "container", c.Name, "known", c.Known, "reason", c.Reason)
	if st.Known == before {
		return
	}
	now := mt.e.clock.Now()
	if st.Known >= ecs.TaskRunning && mt.rec.RunningAt.IsZero() && st.Known < ecs.TaskStopped {
		mt.rec.RunningAt = now
	}
	if st.Known >= ecs.TaskStopped && mt.rec.StoppedAt.IsZero() {
		mt.rec.StoppedAt = now
		for _, c := range st.Containers {
			if c.FinishedAt.After(mt.rec.StoppedAt) {
				mt.rec.StoppedAt = c.FinishedAt
			}
		}
	}
	mt.log.Info("task status", "known", st.Known, "desired", st.Desired, "reason", st.StopReason)
}

// containerFailed stops a container that could not be made to run.
func (mt *managedTask) containerFailed(i int, reason string, now time.Time) {
	if mt.startCtx.Err() != nil && mt.rec.State.Desired >= ecs.TaskStopped {
		reason = "" // abandoned because the task is stopping, not a failure
	}
	if reason != "" {
		mt.log.Warn("container failed", "container", mt.name(i), "reason", reason)
	}
	mt.apply(taskstate.Event{Container: mt.name(i), Status: taskstate.ContainerStopped, At: now, Reason: reason})
}

// pulled records an image pull's outcome.
func (mt *managedTask) pulled(m pullDone) {
	if m.err != nil {
		if mt.ctx.Err() != nil {
			return // agent shutting down: pull again after the restart
		}
		mt.containerFailed(m.index, "CannotPullContainerError: "+m.err.Error(), m.end)
		return
	}
	mt.rec.Containers[m.index].ImageDigest = m.image.Digest
	if m.image.Pulled {
		if mt.rec.PullStartedAt.IsZero() || m.start.Before(mt.rec.PullStartedAt) {
			mt.rec.PullStartedAt = m.start
		}
		if m.end.After(mt.rec.PullStoppedAt) {
			mt.rec.PullStoppedAt = m.end
		}
	}
	mt.apply(taskstate.Event{Container: mt.name(m.index), Status: taskstate.ContainerPulled, At: m.end})
}

// OOMReason is ECS's reason for a container the kernel killed for memory.
const OOMReason = "OutOfMemoryError: Container killed due to memory usage"

// exited records a container's exit.
func (mt *managedTask) exited(i int, ex runtime.Exit) {
	delete(mt.stopRetryAt, i)
	c := &mt.rec.State.Containers[i]
	if c.Known >= taskstate.ContainerStopped {
		return
	}
	at := ex.At
	if at.IsZero() {
		at = mt.e.clock.Now()
	}
	if c.Known < taskstate.ContainerRunning {
		// It ran although the start was never recorded (an agent crash
		// between the start and the save): record the start first.
		mt.apply(taskstate.Event{Container: c.Name, Status: taskstate.ContainerRunning, At: at})
	}
	ev := taskstate.Event{Container: c.Name, Status: taskstate.ContainerStopped, At: at}
	if ex.Code >= 0 {
		code := ex.Code
		ev.ExitCode = &code
	}
	if ex.OOMKilled {
		ev.Reason = OOMReason
	}
	mt.log.Info("container exited", "container", c.Name, "code", ex.Code, "oom", ex.OOMKilled)
	mt.apply(ev)
}

// finish deletes the cleaned-up task's record and ends the owner.
func (mt *managedTask) finish() {
	if err := mt.e.store.DeleteTask(mt.ctx, mt.arn); err != nil {
		mt.log.Warn("deleting task record failed; will retry", "error", err)
		mt.releaseRetry.fail(mt.e.clock.Now(), mt.e.cfg.RetryMin, mt.e.cfg.RetryMax)
		return
	}
	mt.e.forget(mt)
	mt.finished = true
	mt.log.Info("task cleaned up")
}
