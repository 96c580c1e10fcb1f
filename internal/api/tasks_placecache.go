package api

import (
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/berth/berth/internal/clusterview"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/scheduler"
)

// placementBases keeps, per cluster, what placement derives from the
// cluster view, so that the placement snapshot of a large cluster costs
// little:
//
//   - per instance, a placementBase (its scheduler.Instance, awsvpc
//     addresses, revisions), valid while the view's generation of the
//     instance is unchanged;
//   - per cluster, the last sharedSnapshot built from them, valid while
//     the cluster's generation is unchanged and no agent's connection can
//     have gone stale. Every placement attempt over that generation reads
//     it without copying (taskSnapshot copies what it changes), so that
//     concurrent RunTasks do not queue behind each other's snapshot.
//
// Everything in a base or a shared snapshot is read-only once published.
type placementBases struct {
	mu       sync.Mutex
	clusters map[string]*clusterBases
}

// clusterBases are one cluster's bases, for one clusterview.Cluster (a
// reloaded view, or a cluster read from the store, starts afresh).
type clusterBases struct {
	of     *clusterview.Cluster
	bases  map[string]*placementBase
	shared *sharedSnapshot
}

// placementBase is one instance's, built at builtAt. inst.AgentConnected
// holds until connUntil (when the agent, heard from last at AgentSeenAt,
// counts as gone); a zero connUntil: for good (not connected).
type placementBase struct {
	gen                uint64
	builtAt, connUntil time.Time
	si                 snapInstance
	inst               scheduler.Instance
}

// validAt reports whether b still describes instance generation gen at now.
func (b *placementBase) validAt(gen uint64, now time.Time) bool {
	return b.gen == gen && !now.Before(b.builtAt) && (b.connUntil.IsZero() || !now.After(b.connUntil))
}

// sharedSnapshot is a cluster's instances as placement reads them, for one
// generation of the cluster view.
type sharedSnapshot struct {
	gen uint64
	// builtAt..validUntil is when the agents' connection flags hold.
	builtAt, validUntil time.Time
	ids                 []string       // every instance (any status), ascending
	index               map[string]int // id → position in ids
	bases               []*placementBase
	cand                []int                 // position in ids → in cands; -1: INACTIVE
	cands               []*scheduler.Instance // every instance not INACTIVE, in ID order (the bases')
}

func newPlacementBases() *placementBases {
	return &placementBases{clusters: map[string]*clusterBases{}}
}

// snapshot returns the shared snapshot of c at now, building what changed
// since the last one. It runs inside the cluster view's Read.
func (p *placementBases) snapshot(cluster string, c *clusterview.Cluster, now time.Time) *sharedSnapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	cb := p.clusters[cluster]
	if cb == nil || cb.of != c {
		cb = &clusterBases{of: c, bases: map[string]*placementBase{}}
		p.clusters[cluster] = cb
	}
	prev := cb.shared
	if prev != nil && !now.Before(prev.builtAt) && !now.After(prev.validUntil) {
		if prev.gen == c.Gen() {
			return prev
		}
		if s := cb.patch(prev, c, now); s != nil {
			cb.shared = s
			return s
		}
	}
	ids := c.InstanceIDs()
	s := &sharedSnapshot{gen: c.Gen(), builtAt: now, validUntil: now.Add(ciAgentStaleAfter),
		bases: make([]*placementBase, len(ids)), cand: make([]int, len(ids)), cands: make([]*scheduler.Instance, 0, len(ids))}
	if prev != nil && slices.Equal(prev.ids, ids) {
		s.ids, s.index = prev.ids, prev.index
	} else {
		// The view changes its id slice in place: keep a copy.
		s.ids, s.index = slices.Clone(ids), make(map[string]int, len(ids))
		for i, id := range s.ids {
			s.index[id] = i
		}
		for id := range cb.bases {
			if _, ok := s.index[id]; !ok {
				delete(cb.bases, id)
			}
		}
	}
	var tasks []*ecs.Task // reused: one instance's active tasks at a time
	for i, id := range s.ids {
		in := c.Instance(id)
		b := cb.bases[id]
		if b == nil || !b.validAt(in.Gen, now) {
			tasks = in.ActiveTasks(tasks[:0])
			b = newPlacementBase(c, in, tasks, now)
			cb.bases[id] = b
		}
		s.bases[i], s.cand[i] = b, -1
		if b.si.ci.Status == ecs.InstanceInactive {
			continue // known (StartTask names it), never a candidate
		}
		s.cand[i] = len(s.cands)
		s.cands = append(s.cands, &b.inst)
		s.holdsUntil(b)
	}
	cb.shared = s
	return s
}

// holdsUntil narrows s's validity to b's.
func (s *sharedSnapshot) holdsUntil(b *placementBase) {
	if !b.connUntil.IsZero() {
		s.validUntil = minTime(s.validUntil, b.connUntil)
	}
}

// patch returns prev with the instances that changed since rebuilt, or nil
// when they cannot be patched in (instances joined or left, one became or
// stopped being INACTIVE, the view lost track): then all are looked at.
// The bases prev kept hold until prev.validUntil, the rebuilt ones from now.
func (cb *clusterBases) patch(prev *sharedSnapshot, c *clusterview.Cluster, now time.Time) *sharedSnapshot {
	changed, ok := c.ChangedSince(prev.gen)
	if !ok {
		return nil
	}
	s := &sharedSnapshot{gen: c.Gen(), builtAt: now, validUntil: prev.validUntil, ids: prev.ids, index: prev.index,
		bases: slices.Clone(prev.bases), cand: prev.cand, cands: slices.Clone(prev.cands)}
	var tasks []*ecs.Task
	for _, id := range changed {
		i, ok := s.index[id]
		in := c.Instance(id)
		if !ok || in == nil {
			return nil
		}
		if s.bases[i].gen == in.Gen {
			continue // repeated in the log
		}
		tasks = in.ActiveTasks(tasks[:0])
		b := newPlacementBase(c, in, tasks, now)
		if (b.si.ci.Status == ecs.InstanceInactive) != (s.cand[i] < 0) {
			return nil
		}
		cb.bases[id], s.bases[i] = b, b
		if k := s.cand[i]; k >= 0 {
			s.cands[k] = &b.inst
			s.holdsUntil(b)
		}
	}
	return s
}

// newPlacementBase derives an instance's base from the view's instance and
// the active tasks on it.
func newPlacementBase(c *clusterview.Cluster, in *clusterview.Instance, tasks []*ecs.Task, now time.Time) *placementBase {
	b := &placementBase{gen: in.Gen, builtAt: now, inst: ciSchedulerInstance(&in.Record, tasks, now)}
	if b.inst.AgentConnected {
		b.connUntil = in.Record.AgentSeenAt.Add(ciAgentStaleAfter)
	}
	b.si = snapInstance{ci: in.Record, rev: in.Rev, usedAddrs: map[netip.Addr]bool{}, sharedAddrs: true}
	b.si.placements, b.si.placementRev = c.Placements(in.Record.ID)
	b.si.cidr, b.si.hasCIDR = ecs.ParseAwsvpcCIDR(b.inst.Attributes[ecs.AttributeAwsvpcCIDR])
	for _, t := range tasks {
		if addr, ok := ecs.TaskAwsvpcAddress(t); ok {
			b.si.usedAddrs[addr] = true
		}
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// taskSnapshot is what one placement attempt read: a shared snapshot, and
// this attempt's copies of what it changed in it.
type taskSnapshot struct {
	clusterRev int64
	shared     *sharedSnapshot
	// cands are the candidates: the shared snapshot's until this attempt
	// changes one (writable copies the slice, own the instance).
	cands []*scheduler.Instance
	owned bool
	// taken are placements not yet taken from cands: only a later
	// placement over the snapshot needs them taken.
	taken []takenPlacement
	own   map[string]*snapInstance // instances whose addresses changed
}

// takenPlacement is what a placed task holds of candidate i.
type takenPlacement struct {
	i        int
	cpu, mem int64
	ports    []scheduler.Port
	info     scheduler.TaskInfo
}

func newTaskSnapshot(clusterRev int64, s *sharedSnapshot) *taskSnapshot {
	return &taskSnapshot{clusterRev: clusterRev, shared: s, cands: s.cands}
}

// instance returns an instance of the snapshot (any status), or nil; the
// caller must not change it (mutableInstance).
func (s *taskSnapshot) instance(id string) *snapInstance {
	if si := s.own[id]; si != nil {
		return si
	}
	i, ok := s.shared.index[id]
	if !ok {
		return nil
	}
	return &s.shared.bases[i].si
}

// mutableInstance returns this attempt's own copy of an instance, or nil.
func (s *taskSnapshot) mutableInstance(id string) *snapInstance {
	si := s.instance(id)
	if si == nil || s.own[id] == si {
		return si
	}
	cp := *si // usedAddrs stays shared: useAddress copies it first
	if s.own == nil {
		s.own = map[string]*snapInstance{}
	}
	s.own[id] = &cp
	return &cp
}

// candidate returns the position of an instance in candidates, or false
// for an unknown or INACTIVE one.
func (s *taskSnapshot) candidate(id string) (int, bool) {
	i, ok := s.shared.index[id]
	if !ok || s.shared.cand[i] < 0 {
		return 0, false
	}
	return s.shared.cand[i], true
}

// candidates returns the instances placement may choose from (any status
// but INACTIVE), less what the tasks placed over the snapshot so far hold.
// The caller must not change them (exclude).
func (s *taskSnapshot) candidates() []*scheduler.Instance {
	for _, p := range s.taken {
		inst := s.writable(p.i)
		inst.CPU -= p.cpu
		inst.Memory -= p.mem
		if len(p.ports) > 0 {
			used := maps.Clone(inst.UsedPorts) // shared with a base: copied, never written
			if used == nil {
				used = map[scheduler.Port]bool{}
			}
			for _, port := range p.ports {
				used[port] = true
			}
			inst.UsedPorts = used
		}
		inst.Tasks = append(slices.Clip(inst.Tasks), p.info) // likewise
	}
	s.taken = s.taken[:0]
	return s.cands
}

// take records that t, placed on candidate i, holds what l asks of it.
func (s *taskSnapshot) take(i int, l *taskLaunch, t *ecs.Task) {
	p := takenPlacement{i: i, cpu: l.req.CPU, mem: l.req.Memory,
		info: scheduler.TaskInfo{Group: t.Group, Family: t.Definition.Family, Status: t.LastStatus.String()}}
	for _, b := range t.Ports {
		p.ports = append(p.ports, scheduler.Port{Number: b.HostPort, Protocol: b.Protocol})
	}
	s.taken = append(s.taken, p)
}

// exclude makes candidate i no candidate for the rest of the attempt.
func (s *taskSnapshot) exclude(i int, status string) {
	s.candidates()
	s.writable(i).Status = status
}

// writable returns this attempt's own copy of candidate i, copying the
// candidates' slice on the first call and the instance on its first. (Its
// maps and slices stay shared: candidates copies them before writing.)
func (s *taskSnapshot) writable(i int) *scheduler.Instance {
	if !s.owned {
		s.cands, s.owned = slices.Clone(s.cands), true
	}
	if s.cands[i] == s.shared.cands[i] {
		cp := *s.cands[i]
		s.cands[i] = &cp
	}
	return s.cands[i]
}
