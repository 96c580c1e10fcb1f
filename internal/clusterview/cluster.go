package clusterview

import (
	"cmp"
	"slices"

	"github.com/berth/berth/internal/ecs"
)

// Cluster is one cluster's instances and tasks. Readers get it inside
// View.Read (or from Load) and must treat everything in it as read-only.
type Cluster struct {
	instances map[string]*Instance
	ids       []string // instance ids, sorted
	tasks     map[string]*Task
	services  map[string]map[string]*Task // service name → task id → task
	on        map[string]map[string]*Task // instance id → task id → task (any status)
	// placements are the instances' placement records
	// (state.TaskPlacementKey): their counter and ModRevision.
	placements map[string]placementRecord
	gens       uint64 // the last Instance.Gen given out; see Gen
	// changed logs which instance each generation changed (ascending
	// gens, bounded: see ChangedSince); joined is the last generation at
	// which an instance was added or removed.
	changed []genChange
	joined  uint64
}

// genChange is one entry of Cluster.changed.
type genChange struct {
	gen uint64
	id  string
}

// maxChangeLog bounds Cluster.changed; older entries are dropped.
const maxChangeLog = 8192

func newCluster() *Cluster {
	return &Cluster{instances: map[string]*Instance{}, tasks: map[string]*Task{}, services: map[string]map[string]*Task{},
		on: map[string]map[string]*Task{}, placements: map[string]placementRecord{}}
}

// Instance is a container instance record and the active tasks on it.
type Instance struct {
	Record ecs.ContainerInstance
	Rev    int64 // the record's ModRevision
	// Gen changes whenever the record, the active tasks on the instance or
	// its placement record do: what a reader derives from them stays valid
	// while Gen does.
	Gen   uint64
	tasks map[string]*Task
}

// Task is a task record, trimmed (Trim), with its ModRevision. The view
// never changes a Task it has handed out (a new record is a new Task), so
// a reader may keep a *Task after Read returns and look at it outside the
// view's lock.
type Task struct {
	Record ecs.Task
	Rev    int64
}

// Gen is the cluster's generation: it changes whenever an instance's Gen
// does and when an instance is added or removed, so what a reader derives
// from all of the instances (and the active tasks and placement records
// on them) stays valid while Gen does.
func (c *Cluster) Gen() uint64 { return c.gens }

// ChangedSince returns the ids of the instances (possibly repeated) whose
// generation changed after gen, when the cluster still knows them all and
// no instance was added or removed since; otherwise ok is false and the
// caller looks at every instance.
func (c *Cluster) ChangedSince(gen uint64) (ids []string, ok bool) {
	if gen > c.gens || c.joined > gen || (len(c.changed) > 0 && c.changed[0].gen > gen+1) || (len(c.changed) == 0 && c.gens != gen) {
		return nil, false
	}
	i, _ := slices.BinarySearchFunc(c.changed, gen+1, func(e genChange, g uint64) int { return cmp.Compare(e.gen, g) })
	for _, e := range c.changed[i:] {
		ids = append(ids, e.id)
	}
	return ids, true
}

// InstanceIDs returns the ids of the cluster's instances (every status),
// in ascending order.
func (c *Cluster) InstanceIDs() []string { return c.ids }

// Instance returns an instance, or nil.
func (c *Cluster) Instance(id string) *Instance { return c.instances[id] }

// ActiveTasks appends the active (not STOPPED) tasks on the instance to
// dst, trimmed, and returns it. The tasks are the view's own: read-only.
func (in *Instance) ActiveTasks(dst []*ecs.Task) []*ecs.Task {
	for _, t := range in.tasks {
		dst = append(dst, &t.Record)
	}
	return dst
}

// placementRecord is an instance's placement record.
type placementRecord struct {
	n   int
	rev int64
}

// Placements returns an instance's placement record: its counter and
// ModRevision (0, 0 when it has none yet).
func (c *Cluster) Placements(instanceID string) (n int, rev int64) {
	p := c.placements[instanceID]
	return p.n, p.rev
}

// Task returns a task, or nil.
func (c *Cluster) Task(id string) *Task { return c.tasks[id] }

// TasksOn returns the ids of the tasks (any status) recorded on an
// instance, in ascending order.
func (c *Cluster) TasksOn(instanceID string) []string {
	var out []string
	for id := range c.on[instanceID] {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// ServiceTasks returns a service's tasks (any status).
func (c *Cluster) ServiceTasks(name string) []*Task {
	m := c.services[name]
	out := make([]*Task, 0, len(m))
	for _, t := range m {
		out = append(out, t)
	}
	return out
}

// link adds t to the cluster's indexes.
func (c *Cluster) link(t *Task) {
	c.tasks[t.Record.ID] = t
	if t.Record.ServiceName != "" {
		indexTask(c.services, t.Record.ServiceName, t)
	}
	indexTask(c.on, t.Record.ContainerInstanceID, t)
	if in := c.instances[t.Record.ContainerInstanceID]; in != nil && t.Record.Active() {
		in.tasks[t.Record.ID] = t
		c.bump(in)
	}
}

// bump gives in a new generation.
func (c *Cluster) bump(in *Instance) {
	c.gens++
	in.Gen = c.gens
	if len(c.changed) == maxChangeLog {
		c.changed = append(c.changed[:0], c.changed[maxChangeLog/2:]...)
	}
	c.changed = append(c.changed, genChange{gen: c.gens, id: in.Record.ID})
}

// membership records that an instance was added or removed.
func (c *Cluster) membership() {
	c.gens++
	c.joined = c.gens
}

// unlink removes t from the cluster's indexes.
func (c *Cluster) unlink(t *Task) {
	delete(c.tasks, t.Record.ID)
	unindexTask(c.services, t.Record.ServiceName, t)
	unindexTask(c.on, t.Record.ContainerInstanceID, t)
	if in := c.instances[t.Record.ContainerInstanceID]; in != nil {
		if _, ok := in.tasks[t.Record.ID]; ok {
			delete(in.tasks, t.Record.ID)
			c.bump(in)
		}
	}
}

// Trim keeps of a task record what placement (ecs.ComputeInstanceLoad,
// the awsvpc address, constraints), the service controller
// (service.Compute) and the agent channel read: everything but the
// definition's settings that do not reserve resources or ports or define
// a health check, the overrides and the tags. The containers stay.
func Trim(t ecs.Task) ecs.Task {
	d := t.Definition
	td := ecs.TaskDefinition{Family: d.Family, Revision: d.Revision, NetworkMode: d.NetworkMode, CPU: d.CPU, Memory: d.Memory,
		ContainerDefinitions: make([]ecs.ContainerDefinition, len(d.ContainerDefinitions))}
	for i, c := range d.ContainerDefinitions {
		td.ContainerDefinitions[i] = ecs.ContainerDefinition{Name: c.Name, CPU: c.CPU, Memory: c.Memory,
			MemoryReservation: c.MemoryReservation, PortMappings: c.PortMappings, HealthCheck: c.HealthCheck, Essential: c.Essential}
	}
	t.Definition = td
	t.Overrides = ecs.TaskOverride{}
	t.Tags = nil
	return t
}

// indexTask adds t to index under key.
func indexTask(index map[string]map[string]*Task, key string, t *Task) {
	m := index[key]
	if m == nil {
		m = map[string]*Task{}
		index[key] = m
	}
	m[t.Record.ID] = t
}

// unindexTask removes t from index under key.
func unindexTask(index map[string]map[string]*Task, key string, t *Task) {
	if m := index[key]; m != nil {
		delete(m, t.Record.ID)
		if len(m) == 0 {
			delete(index, key)
		}
	}
}
