package acs

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

// rewatchWait is the pause before watching again after a failed Watch.
const rewatchWait = time.Second

// Run follows every task and instance record of the store (one watch each
// for the whole Handler) and hands the changes to the sessions of the
// instances concerned, until ctx ends, Close is called or the store closes.
// Sessions opened before Run started, and after any gap the watch could not
// replay, re-read the store, so no change is lost.
func (h *Handler) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-h.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, w := range []struct {
		prefix string
		handle func(store.Event)
	}{{state.AllTasksPrefix(), h.onTaskEvent}, {state.AllInstancesPrefix(), h.onInstanceEvent}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = h.watch(ctx, w.prefix, w.handle)
			cancel()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// watch follows prefix, re-watching from the next revision when the store
// drops the watch, and from now (with a resync of every session) when it
// cannot replay that far.
func (h *Handler) watch(ctx context.Context, prefix string, handle func(store.Event)) error {
	var from int64 // 0: from now on
	for {
		ch, err := h.store.Watch(ctx, prefix, from)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, store.ErrCompacted):
			h.log.Warn("store watch fell behind; re-reading", "prefix", prefix)
			from = 0
			continue
		case errors.Is(err, store.ErrClosed):
			return err
		case err != nil:
			h.log.Warn("store watch failed; retrying", "prefix", prefix, "err", err)
			t := time.NewTimer(rewatchWait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			continue
		}
		if from == 0 {
			// Events before this watch began are not coming: sessions
			// re-read what they may have missed.
			for _, s := range h.hub.all() {
				s.resyncNow()
			}
		}
		for ev := range ch {
			handle(ev)
			from = ev.KV.ModRevision + 1
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// taskLocation is the part of a task record the fan-out needs.
type taskLocation struct {
	ContainerInstanceID string `json:"containerInstanceId"`
	Seq                 int64  `json:"seq"`
}

// onTaskEvent hands a written task to the ACS session of its instance.
// Only the task watch's goroutine calls it: h.delivered is its own. A
// write that did not raise the task's Seq beyond what was last handed to a
// session (an agent's state report) tells the agent nothing new — the
// session would drop it — so it is not decoded.
func (h *Handler) onTaskEvent(ev store.Event) {
	if ev.Type == store.EventDelete {
		delete(h.delivered, ev.KV.Key)
	}
	if ev.Type != store.EventPut || !h.hub.hasACS() {
		return
	}
	cluster, id, ok := state.SplitClusterKey(ev.KV.Key, state.AllTasksPrefix())
	if !ok {
		return
	}
	var loc taskLocation
	if t, ok := h.viewedTask(cluster, id, ev.KV.ModRevision); ok {
		// The view decoded this very record: no need to decode it again
		// only to route it.
		loc = taskLocation{ContainerInstanceID: t.ContainerInstanceID, Seq: t.Seq}
	} else if err := json.Unmarshal(ev.KV.Value, &loc); err != nil {
		return
	}
	if loc.ContainerInstanceID == "" {
		return
	}
	if seq, ok := h.delivered[ev.KV.Key]; ok && loc.Seq <= seq {
		return
	}
	s := h.hub.acsFor(instKey{cluster, loc.ContainerInstanceID})
	if s == nil {
		return
	}
	var t ecs.Task
	if err := json.Unmarshal(ev.KV.Value, &t); err != nil {
		h.log.Warn("undecodable task record", "key", ev.KV.Key, "err", err)
		return
	}
	h.delivered[ev.KV.Key] = loc.Seq
	s.deliver(&t)
}

// viewedTask returns the cluster view's record of a task at revision rev,
// when the view holds that one already.
func (h *Handler) viewedTask(cluster, id string, rev int64) (*ecs.Task, bool) {
	if h.view == nil {
		return nil, false
	}
	return h.view.TaskAt(cluster, id, rev)
}

// onInstanceEvent ends the sessions of an instance that was deregistered
// or deleted.
func (h *Handler) onInstanceEvent(ev store.Event) {
	cluster, id, ok := state.SplitClusterKey(ev.KV.Key, state.AllInstancesPrefix())
	if !ok {
		return
	}
	sessions := h.hub.sessionsOf(instKey{cluster, id})
	if len(sessions) == 0 {
		return
	}
	if ev.Type == store.EventPut {
		var in struct {
			Status ecs.ContainerInstanceStatus `json:"status"`
		}
		if err := json.Unmarshal(ev.KV.Value, &in); err != nil || in.Status != ecs.InstanceInactive {
			return
		}
	}
	for _, s := range sessions {
		s.stop(stopInactive)
	}
}
