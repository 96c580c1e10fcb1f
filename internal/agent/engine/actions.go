package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/berth/berth/internal/agent/network"
	"github.com/berth/berth/internal/agent/runtime"
	"github.com/berth/berth/internal/agent/taskstate"
	"github.com/berth/berth/internal/ecs"
)

// act carries out what the state calls for: task resources, the plan's
// container actions, waits on running containers, and once the task has
// stopped, the release of its resources and its cleanup.
func (mt *managedTask) act(now time.Time) {
	st := &mt.rec.State
	if st.Desired < ecs.TaskStopped && !mt.rec.SetupDone && !mt.setupBusy {
		mt.launchSetup(now)
	}
	// Marking containers stopped changes the state at once (and may stop
	// the task), so plan again after each such change.
	for replan := true; replan; {
		replan = false
		for _, a := range st.Plan(now).Actions {
			i := mt.index(a.Container)
			if i < 0 || mt.busy[i] {
				continue
			}
			switch a.Kind {
			case taskstate.ActionMarkStopped:
				mt.apply(taskstate.Event{Container: a.Container, Status: taskstate.ContainerStopped, At: now, Reason: a.Reason})
				replan = true
			case taskstate.ActionPull:
				mt.launchPull(i)
			case taskstate.ActionCreate:
				if mt.rec.SetupDone {
					mt.launchCreate(i, now)
				}
			case taskstate.ActionStart:
				mt.launchStart(i)
			case taskstate.ActionStop:
				if t, ok := mt.stopRetryAt[i]; mt.stopSent[i] || ok && now.Before(t) {
					continue
				}
				delete(mt.stopRetryAt, i)
				mt.launchStop(i)
			case taskstate.ActionProbe:
				mt.launchProbe(i)
			}
			if replan {
				break
			}
		}
	}
	for i, c := range st.Containers {
		if c.Known == taskstate.ContainerRunning && !mt.waiting[i] {
			mt.launchWait(i)
		}
	}
	if st.Known < ecs.TaskStopped || mt.anyBusy() {
		return
	}
	if mt.rec.SetupStarted && !mt.rec.TornDown {
		if !mt.releaseBusy && mt.releaseRetry.due(now) {
			mt.launchRelease()
		}
		return
	}
	if mt.rec.Reported >= ecs.TaskStopped && !now.Before(mt.cleanupAt()) && !mt.cleanupBusy && mt.releaseRetry.due(now) {
		mt.launchCleanup()
	}
}

func (mt *managedTask) index(name string) int {
	for i := range mt.rec.State.Containers {
		if mt.rec.State.Containers[i].Name == name {
			return i
		}
	}
	return -1
}

func (mt *managedTask) anyBusy() bool {
	if mt.setupBusy {
		return true
	}
	for _, b := range mt.busy {
		if b {
			return true
		}
	}
	return false
}

// launchSetup creates the task's cgroup, scratch volumes and network. It
// first saves that setup has started, so that a restarted agent releases
// whatever a half-done setup left.
func (mt *managedTask) launchSetup(now time.Time) {
	rec := mt.rec
	retry := rec.SetupStarted // an earlier attempt (another process) may have left pieces
	if !rec.SetupStarted {
		rec.SetupStarted = true
		mt.dirty = true
		if !mt.save(now) {
			return
		}
	}
	mt.setupBusy = true
	p := rec.Payload
	mode := networkMode(&p)
	ports := portMappings(&p)
	var opts []network.SetupOption
	if ip, mac := vpcAddress(&p); ip != "" {
		opts = append(opts, network.WithAddress(ip))
		if mac != "" {
			opts = append(opts, network.WithMAC(mac))
		}
	}
	res := runtime.TaskResources{CPUShares: uint64(max(p.CPU, 0) * 1024), MemoryLimit: int64(max(p.Memory, 0)) << 20}
	scratch := mt.e.scratchVolumes(mt.id, &p)
	ctx := mt.startCtx
	mt.e.goWorker(func() {
		if retry {
			if err := mt.e.net.Teardown(ctx, mt.id, mode, ports); err != nil {
				mt.log.Warn("releasing an earlier network setup failed", "error", err)
			}
		}
		err := mt.e.rt.CreateTaskCgroup(ctx, mt.id, res)
		if err != nil {
			mt.send(setupDone{err: fmt.Errorf("task cgroup: %w", err)})
			return
		}
		for _, dir := range scratch {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				mt.send(setupDone{err: fmt.Errorf("scratch volume: %w", err)})
				return
			}
		}
		att, err := mt.e.net.Setup(ctx, mt.id, mode, ports, opts...)
		if err != nil {
			err = fmt.Errorf("%s network: %w", mode, err)
		}
		mt.send(setupDone{att: att, err: err})
	})
}

func (mt *managedTask) launchPull(i int) {
	mt.busy[i] = true
	c := mt.rec.Payload.Containers[i]
	auth := registryAuth(&c)
	if auth == nil && mt.e.cfg.RegistryAuth != nil {
		auth = mt.e.cfg.RegistryAuth(c.Image)
	}
	ctx := mt.startCtx
	mt.e.goWorker(func() {
		start := mt.e.clock.Now()
		img, err := mt.e.rt.EnsureImage(ctx, c.Image, auth)
		mt.send(pullDone{index: i, image: img, start: start, end: mt.e.clock.Now(), err: err})
	})
}

func (mt *managedTask) launchCreate(i int, now time.Time) {
	spec, err := mt.e.containerSpec(mt.rec, i)
	if err != nil {
		mt.containerFailed(i, "CannotCreateContainerError: "+err.Error(), now)
		return
	}
	mt.busy[i] = true
	// Create and Start run under the task's context, not startCtx: an
	// abandoned call could leave a container the engine does not know of.
	ctx := mt.ctx
	mt.e.goWorker(func() {
		err := mt.e.rt.Create(ctx, spec)
		mt.send(createDone{index: i, at: mt.e.clock.Now(), err: err})
	})
}

func (mt *managedTask) launchStart(i int) {
	mt.busy[i] = true
	mt.waiting[i] = true
	id := mt.rec.Containers[i].RuntimeID
	ctx := mt.ctx
	mt.e.goWorker(func() {
		_, err := mt.e.rt.Start(ctx, id)
		if err != nil {
			mt.send(startDone{index: i, err: err})
			return
		}
		mt.send(startDone{index: i, at: mt.e.clock.Now()})
		mt.waitExit(i, id)
	})
}

// launchWait watches a running container the engine has no waiter for
// (one adopted after a restart).
func (mt *managedTask) launchWait(i int) {
	mt.waiting[i] = true
	id := mt.rec.Containers[i].RuntimeID
	mt.e.goWorker(func() { mt.waitExit(i, id) })
}

// waitExit forwards the container's exit to the owner.
func (mt *managedTask) waitExit(i int, id string) {
	ch, err := mt.e.rt.Wait(mt.ctx, id)
	if err != nil {
		if mt.ctx.Err() == nil {
			mt.send(waitFailed{index: i, err: err})
		}
		return
	}
	if ex, ok := <-ch; ok {
		mt.send(exitMsg{index: i, exit: ex})
	}
}

// stopTimeout is the container's SIGTERM→SIGKILL grace.
func (mt *managedTask) stopTimeout(i int) time.Duration {
	if s := mt.rec.Payload.Containers[i].StopTimeout; s > 0 {
		return time.Duration(s) * time.Second
	}
	return mt.e.cfg.StopTimeout
}

func (mt *managedTask) launchStop(i int) {
	mt.busy[i] = true
	id := mt.rec.Containers[i].RuntimeID
	timeout := mt.stopTimeout(i)
	ctx := mt.ctx
	mt.log.Info("stopping container", "container", mt.name(i), "timeout", timeout)
	mt.e.goWorker(func() {
		err := mt.e.rt.Stop(ctx, id, timeout)
		mt.send(stopDone{index: i, err: err})
	})
}

func (mt *managedTask) launchProbe(i int) {
	hc := mt.rec.State.Containers[i].HealthCheck
	if hc == nil {
		return
	}
	mt.busy[i] = true
	id := mt.rec.Containers[i].RuntimeID
	ctx := mt.ctx
	check := hc.WithDefaults()
	mt.e.goWorker(func() {
		code, err := mt.e.rt.Exec(ctx, id, check.Command, check.Timeout)
		mt.send(probeDone{index: i, code: code, err: err, at: mt.e.clock.Now()})
	})
}

// launchRelease tears the stopped task's network down and removes its cgroup.
func (mt *managedTask) launchRelease() {
	mt.releaseBusy = true
	p := mt.rec.Payload
	mode := networkMode(&p)
	ports := portMappings(&p)
	ctx := mt.ctx
	mt.e.goWorker(func() {
		err := mt.e.net.Teardown(ctx, mt.id, mode, ports)
		if cerr := mt.e.rt.RemoveTaskCgroup(ctx, mt.id); cerr != nil {
			err = errors.Join(err, fmt.Errorf("task cgroup: %w", cerr))
		}
		mt.send(releaseDone{err: err})
	})
}

// launchCleanup removes the task's containers and scratch volumes.
func (mt *managedTask) launchCleanup() {
	mt.cleanupBusy = true
	var ids []string
	for _, c := range mt.rec.Containers {
		ids = append(ids, c.RuntimeID)
	}
	dir := filepath.Join(mt.e.cfg.DataDir, "volumes", mt.id)
	ctx := mt.ctx
	mt.e.goWorker(func() {
		var errs []error
		for _, id := range ids {
			if err := mt.e.rt.Remove(ctx, id); err != nil && !errors.Is(err, runtime.ErrNotFound) {
				errs = append(errs, fmt.Errorf("remove container %s: %w", id, err))
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("remove scratch volumes: %w", err))
		}
		mt.send(cleanupDone{err: errors.Join(errs...)})
	})
}

// report sends the next unacknowledged change, once the state carrying it
// is saved, and the task's health when it changed.
func (mt *managedTask) report(now time.Time) {
	if !mt.reportBusy && !mt.dirty && mt.reportRetry.due(now) {
		if pr, ok := mt.nextReport(); ok {
			mt.reportBusy = true
			ctx := mt.ctx
			mt.e.goWorker(func() {
				var err error
				if pr.task != nil {
					err = mt.e.rep.ReportTask(ctx, *pr.task)
				} else {
					err = mt.e.rep.ReportContainer(ctx, *pr.container)
				}
				mt.send(reportDone{pr: pr, err: err})
			})
		}
	}
	if mt.healthDirty && !mt.healthBusy {
		mt.healthDirty = false
		if h, ok := mt.healthChange(); ok {
			mt.healthBusy = true
			ctx := mt.ctx
			mt.e.goWorker(func() {
				mt.send(healthDone{err: mt.e.rep.ReportHealth(ctx, h)})
			})
		}
	}
}
