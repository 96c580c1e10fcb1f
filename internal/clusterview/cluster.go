package clusterview

import (
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
	// placements are the instances' placement records
	// (state.TaskPlacementKey): their counter and ModRevision.
	placements map[string]placementRecord
	gens       uint64 // the last Instance.Gen given out
}

func newCluster() *Cluster {
	return &Cluster{instances: map[string]*Instance{}, tasks: map[string]*Task{}, services: map[string]map[string]*Task{},
		placements: map[string]placementRecord{}}
}

// Instance is a container instance record and the active tasks on it.
type Instance struct {
	Record ecs.ContainerInstance
	Rev    int64 // the record's ModRevision
	// Gen changes whenever the record or the active tasks on the instance
	// do: what a reader derives from both stays valid while Gen does.
	Gen   uint64
	tasks map[string]*Task
}

// Task is a task record, trimmed (Trim), with its ModRevision.
type Task struct {
	Record ecs.Task
	Rev    int64
}

// InstanceIDs returns the ids of the cluster's instances (every status),
// in ascending order.
func (c *Cluster) InstanceIDs() []string { return c.ids }

// Instance returns an instance, or nil.
func (c *Cluster) Instance(id string) *Instance { return c.instances[id] }

// ActiveTasks appends the active (not STOPPED) tasks on the instance to
// dst, trimmed, and returns it.
func (in *Instance) ActiveTasks(dst []ecs.Task) []ecs.Task {
	for _, t := range in.tasks {
		dst = append(dst, t.Record)
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
	for id, t := range c.tasks {
		if t.Record.ContainerInstanceID == instanceID {
			out = append(out, id)
		}
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
		m := c.services[t.Record.ServiceName]
		if m == nil {
			m = map[string]*Task{}
			c.services[t.Record.ServiceName] = m
		}
		m[t.Record.ID] = t
	}
	if in := c.instances[t.Record.ContainerInstanceID]; in != nil && t.Record.Active() {
		in.tasks[t.Record.ID] = t
		c.bump(in)
	}
}

// bump gives in a new generation.
func (c *Cluster) bump(in *Instance) {
	c.gens++
	in.Gen = c.gens
}

// unlink removes t from the cluster's indexes.
func (c *Cluster) unlink(t *Task) {
	delete(c.tasks, t.Record.ID)
	if m := c.services[t.Record.ServiceName]; m != nil {
		delete(m, t.Record.ID)
		if len(m) == 0 {
			delete(c.services, t.Record.ServiceName)
		}
	}
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
