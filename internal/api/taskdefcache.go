package api

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/store"
)

// taskDefCache keeps decoded task definitions and their rendered wire JSON,
// keyed by store key and valid for one ModRevision. A revision's record
// only changes when its status or tags do, and every change gives it a new
// ModRevision, so an entry whose revision matches the store's is exact.
// DescribeTaskDefinition then costs one store read and no JSON work.
type taskDefCache struct {
	mu  sync.RWMutex
	m   map[string]cachedTaskDef
	max int
}

type cachedTaskDef struct {
	rev  int64
	td   ecs.TaskDefinition // shared: callers copy before changing it
	wire json.RawMessage    // the wire.TaskDefinition, encoded
}

const taskDefCacheSize = 4096

func newTaskDefCache() *taskDefCache {
	return &taskDefCache{m: make(map[string]cachedTaskDef), max: taskDefCacheSize}
}

// load reads key and returns its decoded record, from the cache when the
// store still holds the same revision. It returns an error wrapping
// store.ErrNotFound for an absent key.
func (c *taskDefCache) load(ctx context.Context, r store.Reader, key string) (cachedTaskDef, error) {
	kv, err := r.Get(ctx, key)
	if err != nil {
		return cachedTaskDef{}, err
	}
	c.mu.RLock()
	e, ok := c.m[key]
	c.mu.RUnlock()
	if ok && e.rev == kv.ModRevision {
		return e, nil
	}
	e = cachedTaskDef{rev: kv.ModRevision}
	if err := json.Unmarshal(kv.Value, &e.td); err != nil {
		return cachedTaskDef{}, fmt.Errorf("decode %s: %w", key, err)
	}
	w, err := taskDefToWire(e.td)
	if err != nil {
		return cachedTaskDef{}, err
	}
	if e.wire, err = json.Marshal(w); err != nil {
		return cachedTaskDef{}, fmt.Errorf("encode %s: %w", key, err)
	}
	c.mu.Lock()
	if len(c.m) >= c.max {
		for k := range c.m { // evict an arbitrary entry
			delete(c.m, k)
			break
		}
	}
	c.m[key] = e
	c.mu.Unlock()
	return e, nil
}
