package api

import (
	"net/netip"
	"sync"
	"time"

	"github.com/berth/berth/internal/clusterview"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/scheduler"
)

// placementBases keeps, per cluster, what a placement snapshot derives
// from each instance and the active tasks on it (the scheduler's view of
// the instance, its awsvpc addresses), valid while the cluster view's
// generation of the instance is unchanged: a snapshot of a large cluster
// then only rebuilds the instances that changed since the last one.
// Everything in a base is shared by the snapshots that use it and never
// written (consumePlacement and snapInstance.useAddress copy first).
type placementBases struct {
	mu       sync.Mutex
	clusters map[string]*clusterBases
}

// clusterBases are one cluster's bases, for one clusterview.Cluster (a
// reloaded view, or a cluster read from the store, starts afresh).
type clusterBases struct {
	of    *clusterview.Cluster
	bases map[string]*placementBase
}

// placementBase is one instance's.
type placementBase struct {
	gen       uint64
	inst      scheduler.Instance // AgentConnected is set per snapshot
	cidr      netip.Prefix
	hasCIDR   bool
	usedAddrs map[netip.Addr]bool
}

func newPlacementBases() *placementBases {
	return &placementBases{clusters: map[string]*clusterBases{}}
}

// instances calls fn with the base of each instance of c that is not
// INACTIVE, in ID order, building those that changed. It runs inside
// the cluster view's Read.
func (p *placementBases) instances(cluster string, c *clusterview.Cluster, now time.Time, fn func(in *clusterview.Instance, b *placementBase)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cb := p.clusters[cluster]
	if cb == nil || cb.of != c {
		cb = &clusterBases{of: c, bases: map[string]*placementBase{}}
		p.clusters[cluster] = cb
	}
	seen := make(map[string]bool, len(cb.bases))
	var tasks []ecs.Task // reused: one instance's active tasks at a time
	for _, id := range c.InstanceIDs() {
		in := c.Instance(id)
		seen[id] = true
		b := cb.bases[id]
		if b == nil || b.gen != in.Gen {
			tasks = in.ActiveTasks(tasks[:0])
			b = &placementBase{gen: in.Gen, inst: ciSchedulerInstance(&in.Record, tasks, now), usedAddrs: map[netip.Addr]bool{}}
			b.cidr, b.hasCIDR = ecs.ParseAwsvpcCIDR(b.inst.Attributes[ecs.AttributeAwsvpcCIDR])
			for i := range tasks {
				if addr, ok := ecs.TaskAwsvpcAddress(&tasks[i]); ok {
					b.usedAddrs[addr] = true
				}
			}
			cb.bases[id] = b
		}
		fn(in, b)
	}
	for id := range cb.bases {
		if !seen[id] {
			delete(cb.bases, id)
		}
	}
}
