package engine

import (
	"context"
	"fmt"
	"sort"

	"github.com/berth/berth/internal/agent/runtime"
	"github.com/berth/berth/internal/agent/taskstate"
)

// ReasonVanished is the reason of a container that an agent restart finds
// gone from the runtime (ECS's ContainerVanishedError).
const ReasonVanished = "ContainerVanishedError: the container was not found after an agent restart"

// adopt loads the tasks an earlier agent process saved and reconciles each
// with what the runtime has: running containers are waited on again,
// exited ones get their exit, vanished ones are marked stopped, and
// containers created but never recorded are known as created (so they are
// not created twice).
func (e *Engine) adopt(ctx context.Context) ([]*managedTask, error) {
	recs, err := e.store.LoadTasks(ctx)
	if err != nil {
		return nil, fmt.Errorf("engine: load tasks: %w", err)
	}
	if len(recs) == 0 {
		return nil, nil
	}
	infos, err := e.rt.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("engine: list containers: %w", err)
	}
	byID := make(map[string]runtime.Info, len(infos))
	for _, info := range infos {
		byID[info.ID] = info
	}
	arns := make([]string, 0, len(recs))
	for arn := range recs {
		arns = append(arns, arn)
	}
	sort.Strings(arns)
	var out []*managedTask
	for _, arn := range arns {
		rec, err := decodeRecord(recs[arn])
		if err != nil {
			e.log.Error("stored task unreadable; left in the store", "task", arn, "error", err)
			continue
		}
		mt := newManagedTask(e, rec, true)
		mt.reconcile(byID)
		out = append(out, mt)
	}
	known := make(map[string]bool, len(recs))
	for arn := range recs {
		known[arn] = true
	}
	for _, info := range infos {
		if arn := info.Labels[LabelTaskARN]; arn != "" && !known[arn] {
			e.log.Warn("container of a task this agent does not know; left alone", "container", info.ID, "task", arn)
		}
	}
	return out, nil
}

// reconcile brings an adopted task's container statuses in line with the
// runtime (before the owner starts, so no other goroutine touches rec).
func (mt *managedTask) reconcile(byID map[string]runtime.Info) {
	now := mt.e.clock.Now()
	for i := range mt.rec.State.Containers {
		c := &mt.rec.State.Containers[i]
		if c.Known >= taskstate.ContainerStopped {
			continue
		}
		info, exists := byID[mt.rec.Containers[i].RuntimeID]
		switch {
		case exists && info.Exit != nil:
			mt.exited(i, *info.Exit)
		case exists && info.Running:
			if c.Known < taskstate.ContainerRunning {
				mt.apply(taskstate.Event{Container: c.Name, Status: taskstate.ContainerRunning, At: now})
			}
			// run's act starts a waiter for it.
		case exists:
			// Created, no process.
			switch {
			case c.Known >= taskstate.ContainerRunning:
				// Its process record is gone (a host reboot): it is not running.
				mt.apply(taskstate.Event{Container: c.Name, Status: taskstate.ContainerStopped, At: now, Reason: ReasonVanished})
			case c.Known < taskstate.ContainerCreated:
				if mt.rec.Containers[i].CreatedAt.IsZero() {
					mt.rec.Containers[i].CreatedAt = now
				}
				mt.apply(taskstate.Event{Container: c.Name, Status: taskstate.ContainerCreated, At: now})
			}
		case c.Known >= taskstate.ContainerCreated:
			mt.apply(taskstate.Event{Container: c.Name, Status: taskstate.ContainerStopped, At: now, Reason: ReasonVanished})
		}
	}
	mt.log.Info("task adopted", "known", mt.rec.State.Known, "desired", mt.rec.State.Desired, "reported", mt.rec.Reported)
}
