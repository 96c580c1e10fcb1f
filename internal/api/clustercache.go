package api

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/store"
)

// clusterCache keeps the last decoded record of each cluster with its
// revision: a record read again at the same revision is the same record,
// so it is not decoded again.
type clusterCache struct {
	m sync.Map // key → cachedCluster
}

type cachedCluster struct {
	rev int64
	c   ecs.Cluster
}

// decode returns the cluster record kv holds.
func (cc *clusterCache) decode(kv store.KV) (ecs.Cluster, int64, error) {
	if v, ok := cc.m.Load(kv.Key); ok && v.(cachedCluster).rev == kv.ModRevision {
		return v.(cachedCluster).c, kv.ModRevision, nil
	}
	var c ecs.Cluster
	if err := json.Unmarshal(kv.Value, &c); err != nil {
		return ecs.Cluster{}, 0, fmt.Errorf("decode %s: %w", kv.Key, err)
	}
	cc.m.Store(kv.Key, cachedCluster{rev: kv.ModRevision, c: c})
	return c, kv.ModRevision, nil
}
