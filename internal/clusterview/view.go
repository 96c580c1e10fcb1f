// Package clusterview keeps an in-memory view of every cluster's container
// instances and tasks, fed by one store watch, so that the decisions that
// look at a whole cluster — task placement, the service controller, the
// agent channel's task lists — need not decode every task record of the
// cluster each time.
//
// The view is a cache, never a source of truth: every decision made over
// it is committed with compare-and-swap on the store records it rests on,
// so a view that lags only costs a retry. Read waits until the view has
// applied every store revision up to the one the caller read elsewhere
// (its own snapshot's revision), which gives the caller the same
// guarantee a fresh listing would; a view that cannot catch up in time
// (not running, the watch fell behind) makes Read fail with ErrNotReady,
// and the caller reads the store instead (Load).
//
// Task records are kept trimmed (Trim): what placement, the controller and
// the agent channel read of them, not the task's whole definition.
package clusterview

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

// ErrNotReady is returned by Read when the view is not (yet) caught up.
var ErrNotReady = errors.New("clusterview: not caught up")

// DefaultCatchUp bounds how long Read waits for the view to catch up.
const DefaultCatchUp = 2 * time.Second

// rewatchWait is the pause before a new attempt after a failed watch.
const rewatchWait = time.Second

// View is the watch-fed view of every cluster.
type View struct {
	st      store.Store
	log     *slog.Logger
	catchUp time.Duration

	mu       sync.RWMutex
	ready    bool
	rev      int64         // every store revision up to rev is applied
	advanced chan struct{} // closed (and replaced) when rev grows
	clusters map[string]*Cluster
}

// New returns a view of st; Run feeds it.
func New(st store.Store, log *slog.Logger) *View {
	if log == nil {
		log = slog.Default()
	}
	return &View{st: st, log: log, catchUp: DefaultCatchUp, advanced: make(chan struct{}), clusters: map[string]*Cluster{}}
}

// Run loads the view and follows the store until ctx ends. After a watch
// that fell behind it loads again.
func (v *View) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		err := v.follow(ctx)
		v.mu.Lock()
		v.ready = false
		v.mu.Unlock()
		if ctx.Err() != nil || errors.Is(err, store.ErrClosed) {
			return nil
		}
		v.log.Warn("cluster view: reloading", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(rewatchWait):
		}
	}
	return nil
}

// follow loads every cluster, then applies the watch's events until it
// ends. The watch covers the whole store: every committed revision shows
// in it, which is how Read knows the view is caught up.
func (v *View) follow(ctx context.Context) error {
	// The listings follow one another, each at least as recent as the
	// one before; the watch replays everything after the first (events
	// older than what a record holds are skipped), so that once it has
	// caught up the view is one revision's.
	clusters, rev, err := load(ctx, v.st, "")
	if err != nil {
		return err
	}
	ch, err := v.st.Watch(ctx, "/", rev+1)
	if err != nil {
		return err
	}
	v.mu.Lock()
	v.clusters, v.rev, v.ready = clusters, rev, true
	v.advance()
	v.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-ch:
			if !ok {
				return errors.New("store watch ended")
			}
			v.apply(ev, ch)
		}
	}
}

// apply applies ev and whatever else is queued (up to a bound), decoding
// the records before it takes the lock, so that readers wait only for the
// application itself.
func (v *View) apply(ev store.Event, ch <-chan store.Event) {
	batch := []change{decode(ev)}
	for len(batch) < maxBatch {
		select {
		case next, ok := <-ch:
			if ok {
				batch = append(batch, decode(next))
				continue
			}
		default:
		}
		break
	}
	// Readers see whole revisions: the rest of the last one comes at once.
	for !batch[len(batch)-1].ev.Last {
		next, ok := <-ch
		if !ok {
			break
		}
		batch = append(batch, decode(next))
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for i := range batch {
		c := &batch[i]
		deleted := c.ev.Type == store.EventDelete
		switch {
		case c.task:
			applyTask(v.clusters, c.ev.KV, deleted, c.t)
		case c.instance:
			applyInstance(v.clusters, c.ev.KV, deleted, c.ci)
		case c.placement:
			applyPlacement(v.clusters, c.ev.KV, deleted)
		}
		if c.ev.Last { // a revision counts once all of its events are in
			v.rev = max(v.rev, c.ev.KV.ModRevision)
		}
	}
	v.advance()
}

// maxBatch bounds the events applied under one lock.
const maxBatch = 256

// change is one event with its record decoded (nil when undecodable or
// deleted).
type change struct {
	ev                        store.Event
	task, instance, placement bool
	t                         *ecs.Task
	ci                        *ecs.ContainerInstance
}

func decode(ev store.Event) change {
	c := change{ev: ev}
	switch {
	case strings.HasPrefix(ev.KV.Key, state.AllTasksPrefix()):
		c.task = true
		if ev.Type == store.EventPut {
			c.t = decodeTask(ev.KV.Value)
		}
	case strings.HasPrefix(ev.KV.Key, state.AllInstancesPrefix()):
		c.instance = true
		if ev.Type == store.EventPut {
			c.ci = decodeInstance(ev.KV.Value)
		}
	case strings.HasPrefix(ev.KV.Key, state.AllTaskPlacementsPrefix()):
		c.placement = true
	}
	return c
}

// decodeTask decodes and trims a task record; nil if it is not one.
func decodeTask(b []byte) *ecs.Task {
	var t ecs.Task
	if err := json.Unmarshal(b, &t); err != nil || t.ID == "" {
		return nil
	}
	t = Trim(t)
	return &t
}

// decodeInstance decodes an instance record; nil if it is not one.
func decodeInstance(b []byte) *ecs.ContainerInstance {
	var ci ecs.ContainerInstance
	if err := json.Unmarshal(b, &ci); err != nil || ci.ID == "" {
		return nil
	}
	return &ci
}

// advance wakes the readers waiting for a revision.
func (v *View) advance() {
	close(v.advanced)
	v.advanced = make(chan struct{})
}

// Read calls fn with cluster's view once the view has applied every store
// revision up to atLeast; fn must not keep what it is given. A cluster the
// view holds nothing of is given empty. Read fails with ErrNotReady when
// the view is not running or does not catch up within its wait.
func (v *View) Read(ctx context.Context, cluster string, atLeast int64, fn func(*Cluster)) error {
	deadline := time.NewTimer(v.catchUp)
	defer deadline.Stop()
	for {
		v.mu.RLock()
		if v.ready && v.rev >= atLeast {
			c := v.clusters[cluster]
			if c == nil {
				c = newCluster()
			}
			fn(c)
			v.mu.RUnlock()
			return nil
		}
		wait := v.advanced
		v.mu.RUnlock()
		select {
		case <-wait:
		case <-deadline.C:
			return ErrNotReady
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// TaskAt returns the view's (trimmed, read-only) record of a task when it
// is the one of store revision rev, without waiting: false when the view
// has not applied rev yet, holds a newer record, or is busy applying.
func (v *View) TaskAt(cluster, id string, rev int64) (*ecs.Task, bool) {
	if !v.mu.TryRLock() {
		return nil, false
	}
	defer v.mu.RUnlock()
	c := v.clusters[cluster]
	if !v.ready || c == nil {
		return nil, false
	}
	t := c.tasks[id]
	if t == nil || t.Rev != rev {
		return nil, false
	}
	return &t.Record, true
}

// ReadOrLoad calls fn as Read does when v (which may be nil) is caught up
// with atLeast in time, and otherwise with the cluster read from r (Load).
func (v *View) ReadOrLoad(ctx context.Context, r store.Reader, cluster string, atLeast int64, fn func(*Cluster)) error {
	if v != nil {
		err := v.Read(ctx, cluster, atLeast, fn)
		if !errors.Is(err, ErrNotReady) {
			return err
		}
		v.log.Debug("cluster view not caught up; reading the store", "cluster", cluster)
	}
	c, _, err := Load(ctx, r, cluster)
	if err != nil {
		return err
	}
	fn(c)
	return nil
}

// Load reads cluster from the store into a Cluster, as the view would
// hold it, and the revision it reflects: what callers use when the view
// is not ready.
func Load(ctx context.Context, r store.Reader, cluster string) (*Cluster, int64, error) {
	clusters, rev, err := load(ctx, r, cluster)
	if err != nil {
		return nil, 0, err
	}
	c := clusters[cluster]
	if c == nil {
		c = newCluster()
	}
	return c, rev, nil
}

// load lists the placement records, the instances, then the tasks of one
// cluster ("": of all), in that order: a task committed after the
// placement records were read changed one of them. It returns the
// revision of the first listing.
func load(ctx context.Context, r store.Reader, cluster string) (map[string]*Cluster, int64, error) {
	prefix := func(all string, one func(string) string) string {
		if cluster == "" {
			return all
		}
		return one(cluster)
	}
	pkvs, rev, err := r.List(ctx, prefix(state.AllTaskPlacementsPrefix(), state.TaskPlacementsPrefix), store.ListOptions{})
	if err != nil {
		return nil, 0, err
	}
	ikvs, _, err := r.List(ctx, prefix(state.AllInstancesPrefix(), state.InstancesPrefix), store.ListOptions{})
	if err != nil {
		return nil, 0, err
	}
	tkvs, _, err := r.List(ctx, prefix(state.AllTasksPrefix(), state.TasksPrefix), store.ListOptions{})
	if err != nil {
		return nil, 0, err
	}
	clusters := map[string]*Cluster{}
	for _, kv := range pkvs {
		applyPlacement(clusters, kv, false)
	}
	for _, kv := range ikvs {
		applyInstance(clusters, kv, false, decodeInstance(kv.Value))
	}
	for _, kv := range tkvs {
		applyTask(clusters, kv, false, decodeTask(kv.Value))
	}
	return clusters, rev, nil
}

// applyPlacement applies one placement record (or its deletion).
func applyPlacement(clusters map[string]*Cluster, kv store.KV, deleted bool) {
	cluster, id, ok := state.SplitClusterKey(kv.Key, state.AllTaskPlacementsPrefix())
	if !ok {
		return
	}
	c := clusterOf(clusters, cluster)
	if old, ok := c.placements[id]; ok && old.rev >= kv.ModRevision {
		return
	}
	if in := c.instances[id]; in != nil {
		c.bump(in)
	}
	if deleted {
		delete(c.placements, id)
		return
	}
	n, _ := strconv.Atoi(string(kv.Value))
	c.placements[id] = placementRecord{n: n, rev: kv.ModRevision}
}

func clusterOf(clusters map[string]*Cluster, name string) *Cluster {
	c := clusters[name]
	if c == nil {
		c = newCluster()
		clusters[name] = c
	}
	return c
}

// applyInstance applies one instance record, decoded as ci (nil: not an
// instance record), or its deletion.
func applyInstance(clusters map[string]*Cluster, kv store.KV, deleted bool, ci *ecs.ContainerInstance) {
	cluster, id, ok := state.SplitClusterKey(kv.Key, state.AllInstancesPrefix())
	if !ok {
		return
	}
	c := clusterOf(clusters, cluster)
	old := c.instances[id]
	if old != nil && old.Rev >= kv.ModRevision {
		return // replayed: the record is newer
	}
	if deleted {
		if old != nil {
			delete(c.instances, id)
			if i, found := slices.BinarySearch(c.ids, id); found {
				c.ids = slices.Delete(c.ids, i, i+1)
			}
			c.membership()
		}
		return
	}
	if ci == nil {
		return
	}
	in := &Instance{Record: *ci, Rev: kv.ModRevision}
	if old != nil {
		in.tasks = old.tasks
	} else {
		in.tasks = map[string]*Task{}
		for _, t := range c.on[id] { // tasks recorded before their instance (replay order)
			if t.Record.Active() {
				in.tasks[t.Record.ID] = t
			}
		}
		if i, found := slices.BinarySearch(c.ids, id); !found {
			c.ids = slices.Insert(c.ids, i, id)
			c.membership()
		}
	}
	c.instances[id] = in
	c.bump(in)
}

// applyTask applies one task record, decoded and trimmed as t (nil: not a
// task record), or its deletion.
func applyTask(clusters map[string]*Cluster, kv store.KV, deleted bool, t *ecs.Task) {
	cluster, id, ok := state.SplitClusterKey(kv.Key, state.AllTasksPrefix())
	if !ok {
		return
	}
	c := clusterOf(clusters, cluster)
	old := c.tasks[id]
	if old != nil && old.Rev >= kv.ModRevision {
		return
	}
	if old != nil {
		c.unlink(old)
	}
	if deleted {
		return
	}
	if t == nil {
		return
	}
	c.link(&Task{Record: *t, Rev: kv.ModRevision})
}
