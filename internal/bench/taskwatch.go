package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/store"
)

// taskWatch follows the task records of a store and notes when each task
// was first seen at or past each status: the moment the watch received
// the committed change, which is as close to the commit as an observer
// gets (no polling).
type taskWatch struct {
	log *slog.Logger

	mu      sync.Mutex
	tasks   map[string]*watchedTask // by task ARN
	changed chan struct{}           // closed and replaced on every change
	err     error                   // set when the watch ended for good
}

// watchedTask is what the watch saw of one task.
type watchedTask struct {
	at         map[ecs.TaskStatus]time.Time
	reason     string   // stoppedReason
	runtimeIDs []string // of its containers, once reported
}

func newTaskWatch(log *slog.Logger) *taskWatch {
	return &taskWatch{log: log, tasks: map[string]*watchedTask{}, changed: make(chan struct{})}
}

// run follows prefix until ctx ends, watching again after the store drops
// the watch.
func (w *taskWatch) run(ctx context.Context, st store.Watcher, prefix string, started chan<- error) {
	var from int64
	first := true
	for {
		ch, err := st.Watch(ctx, prefix, from)
		if first {
			started <- err
			first = false
			if err != nil {
				return
			}
		}
		switch {
		case ctx.Err() != nil:
			w.end(ctx.Err())
			return
		case errors.Is(err, store.ErrCompacted):
			from = 0 // the tasks of the run are one at a time: nothing to replay
			continue
		case err != nil:
			w.end(err)
			return
		}
		for ev := range ch {
			w.observe(time.Now(), ev)
			from = ev.KV.ModRevision + 1
		}
		if ctx.Err() != nil {
			w.end(ctx.Err())
			return
		}
	}
}

// observe records one store event received at now.
func (w *taskWatch) observe(now time.Time, ev store.Event) {
	if ev.Type != store.EventPut {
		return
	}
	var t ecs.Task
	if err := json.Unmarshal(ev.KV.Value, &t); err != nil {
		w.log.Warn("bench: undecodable task record", "key", ev.KV.Key, "err", err)
		return
	}
	if t.ARN == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	wt := w.tasks[t.ARN]
	if wt == nil {
		wt = &watchedTask{at: map[ecs.TaskStatus]time.Time{}}
		w.tasks[t.ARN] = wt
	}
	// Only the status of this write: a task that went from PENDING
	// straight to STOPPED never gets a RUNNING time.
	if _, seen := wt.at[t.LastStatus]; !seen {
		wt.at[t.LastStatus] = now
	}
	if t.StoppedReason != "" {
		wt.reason = t.StoppedReason
	}
	for _, c := range t.Containers {
		if c.RuntimeID != "" && !slices.Contains(wt.runtimeIDs, c.RuntimeID) {
			wt.runtimeIDs = append(wt.runtimeIDs, c.RuntimeID)
		}
	}
	close(w.changed)
	w.changed = make(chan struct{})
}

// end notes that the watch is over and wakes every waiter.
func (w *taskWatch) end(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = fmt.Errorf("store watch ended: %w", err)
	}
	close(w.changed)
	w.changed = make(chan struct{})
}

// wait returns what was seen of task arn once it is at or past status
// (STOPPED counts as past RUNNING: the caller checks which statuses it
// went through), or an error when ctx ends or the watch does.
func (w *taskWatch) wait(ctx context.Context, arn string, status ecs.TaskStatus) (watchedTask, error) {
	for {
		w.mu.Lock()
		if wt := w.tasks[arn]; wt != nil {
			for s, at := range wt.at {
				if s >= status && !at.IsZero() {
					cp := watchedTask{at: make(map[ecs.TaskStatus]time.Time, len(wt.at)), reason: wt.reason,
						runtimeIDs: append([]string(nil), wt.runtimeIDs...)}
					for k, v := range wt.at {
						cp.at[k] = v
					}
					w.mu.Unlock()
					return cp, nil
				}
			}
		}
		if w.err != nil {
			err := w.err
			w.mu.Unlock()
			return watchedTask{}, err
		}
		changed := w.changed
		w.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return watchedTask{}, fmt.Errorf("task %s not %s: %w", arn, status, ctx.Err())
		}
	}
}

// forget drops what was seen of arn.
func (w *taskWatch) forget(arn string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.tasks, arn)
}
