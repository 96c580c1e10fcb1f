package engine

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/berth/berth/internal/agent/runtime"
	"github.com/berth/berth/internal/agent/taskstate"
	"github.com/berth/berth/internal/agentproto"
	"github.com/berth/berth/internal/ecs"
)

// TaskSnapshot is a read-only copy of a task's state, for task manifests,
// TCS metrics and health, and the task metadata endpoint. Nothing in it
// aliases the engine's state.
type TaskSnapshot struct {
	ARN, ClusterARN         string
	Family, Version         string
	NetworkMode, LaunchType string
	ServiceName, Zone       string
	DesiredStatus           ecs.TaskStatus
	KnownStatus             ecs.TaskStatus
	StopReason              string
	Health                  taskstate.HealthStatus
	CPU                     float64 // task vCPU (0 = no task-level limit)
	Memory                  int     // task MiB (0 = no task-level limit)
	PullStartedAt           time.Time
	PullStoppedAt           time.Time
	ExecutionStoppedAt      time.Time
	Network                 *NetworkInfo // nil until set up (and for host mode: Mode only)
	Containers              []ContainerSnapshot
}

// NetworkInfo is a task's network as the metadata endpoint shows it.
type NetworkInfo struct {
	Mode       string
	IPv4       string
	MAC        string
	SubnetCIDR string
	Gateway    string
}

// ContainerSnapshot is one container of a TaskSnapshot.
type ContainerSnapshot struct {
	Name, ARN         string
	RuntimeID         string
	Image             string
	ImageDigest       string
	Essential         bool
	Labels            map[string]string // as created (Docker labels plus the ECS labels)
	CPU               int               // cpu units
	Memory            int               // hard limit, MiB
	MemoryReservation int64             // soft limit, bytes
	DesiredStatus     taskstate.ContainerStatus
	KnownStatus       taskstate.ContainerStatus
	ExitCode          *int
	Reason            string
	CreatedAt         time.Time
	StartedAt         time.Time
	FinishedAt        time.Time
	HasHealthCheck    bool
	Health            taskstate.Health
	Ports             []ecs.NetworkBinding
	// MetadataToken names the container in its metadata URI
	// (http://<host>:<port>/v4/<token>).
	MetadataToken string
}

// snapshot builds the task's snapshot from its record (owner only).
func (mt *managedTask) snapshot() *TaskSnapshot {
	rec := mt.rec
	p := &rec.Payload
	s := &TaskSnapshot{
		ARN: p.ARN, ClusterARN: p.TaskClusterARN, Family: p.Family, Version: p.Version,
		NetworkMode: networkMode(p), LaunchType: p.LaunchType, ServiceName: p.ServiceName, Zone: p.Zone,
		DesiredStatus: rec.State.Desired, KnownStatus: rec.State.Known, StopReason: rec.State.StopReason,
		Health: rec.State.Health(), CPU: p.CPU, Memory: p.Memory,
		PullStartedAt: rec.PullStartedAt, PullStoppedAt: rec.PullStoppedAt, ExecutionStoppedAt: rec.StoppedAt,
	}
	if a := rec.Network; a != nil {
		s.Network = &NetworkInfo{Mode: networkMode(p), IPv4: a.IPv4, MAC: a.MAC, SubnetCIDR: a.SubnetCIDR, Gateway: a.Gateway}
	}
	for i := range rec.State.Containers {
		c := &rec.State.Containers[i]
		pc := &p.Containers[i]
		cs := ContainerSnapshot{
			Name: c.Name, ARN: pc.ContainerARN, RuntimeID: rec.Containers[i].RuntimeID,
			Image: pc.Image, ImageDigest: rec.Containers[i].ImageDigest, Essential: c.Essential,
			Labels: mt.static[i].labels, CPU: pc.CPU, Memory: pc.Memory, MemoryReservation: mt.static[i].memoryReservation,
			DesiredStatus: c.Desired, KnownStatus: c.Known, Reason: c.Reason,
			CreatedAt: rec.Containers[i].CreatedAt, StartedAt: c.StartedAt, FinishedAt: c.FinishedAt,
			HasHealthCheck: c.HealthCheck != nil, Health: c.Health,
			Ports:         bindings(networkMode(p), pc),
			MetadataToken: rec.Containers[i].Token,
		}
		if c.ExitCode != nil {
			code := *c.ExitCode
			cs.ExitCode = &code
		}
		if c.Health.ExitCode != nil {
			code := *c.Health.ExitCode
			cs.Health.ExitCode = &code
		}
		s.Containers = append(s.Containers, cs)
	}
	return s
}

// containerStatic is what snapshots show of a container that never
// changes, worked out once.
type containerStatic struct {
	labels            map[string]string // never modified once built
	memoryReservation int64
}

// staticOf works out container i's unchanging snapshot fields: the labels
// it is created with and its memory reservation.
func staticOf(cluster string, p *agentproto.Task, i int) containerStatic {
	cfg, _ := parseContainerConfig(p.Containers[i].DockerConfig.Config)
	hc, _ := parseHostConfig(p.Containers[i].DockerConfig.HostConfig)
	return containerStatic{labels: containerLabels(cluster, p, i, cfg.Labels), memoryReservation: hc.MemoryReservation}
}

// containerLabels are the Docker labels of container i plus the ECS labels,
// which win.
func containerLabels(cluster string, p *agentproto.Task, i int, docker map[string]string) map[string]string {
	l := maps.Clone(docker)
	if l == nil {
		l = map[string]string{}
	}
	l[LabelCluster] = cluster
	l[LabelContainerName] = p.Containers[i].Name
	l[LabelTaskARN] = p.ARN
	l[LabelTaskDefFamily] = p.Family
	l[LabelTaskDefVersion] = p.Version
	return l
}

// copySnapshot returns a deep copy of s, so that callers may keep or
// change what they get.
func copySnapshot(s *TaskSnapshot) TaskSnapshot {
	out := *s
	if s.Network != nil {
		n := *s.Network
		out.Network = &n
	}
	out.Containers = make([]ContainerSnapshot, len(s.Containers))
	for i, c := range s.Containers {
		c.Labels = maps.Clone(c.Labels)
		c.Ports = append([]ecs.NetworkBinding(nil), c.Ports...)
		if c.ExitCode != nil {
			code := *c.ExitCode
			c.ExitCode = &code
		}
		if c.Health.ExitCode != nil {
			code := *c.Health.ExitCode
			c.Health.ExitCode = &code
		}
		out.Containers[i] = c
	}
	return out
}

// Tasks returns a snapshot of every task the engine manages.
func (e *Engine) Tasks() []TaskSnapshot {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]TaskSnapshot, 0, len(e.tasks))
	for _, mt := range e.tasks {
		if s := mt.snap.Load(); s != nil {
			out = append(out, copySnapshot(s))
		}
	}
	return out
}

// Task returns the snapshot of one task.
func (e *Engine) Task(arn string) (TaskSnapshot, bool) {
	e.mu.RLock()
	mt := e.tasks[arn]
	e.mu.RUnlock()
	if mt == nil {
		return TaskSnapshot{}, false
	}
	s := mt.snap.Load()
	if s == nil {
		return TaskSnapshot{}, false
	}
	return copySnapshot(s), true
}

// ContainerByToken finds the container a metadata token names: its task's
// snapshot and the container's index in it.
func (e *Engine) ContainerByToken(token string) (TaskSnapshot, int, bool) {
	e.mu.RLock()
	ref, ok := e.tokens[token]
	var mt *managedTask
	if ok {
		mt = e.tasks[ref.arn]
	}
	e.mu.RUnlock()
	if mt == nil {
		return TaskSnapshot{}, 0, false
	}
	s := mt.snap.Load()
	if s == nil || ref.index >= len(s.Containers) {
		return TaskSnapshot{}, 0, false
	}
	return copySnapshot(s), ref.index, true
}

// Stats reads the resource use of the container a metadata token names.
func (e *Engine) Stats(ctx context.Context, token string) (runtime.Stats, error) {
	s, i, ok := e.ContainerByToken(token)
	if !ok {
		return runtime.Stats{}, fmt.Errorf("no container for metadata token")
	}
	c := s.Containers[i]
	if c.KnownStatus != taskstate.ContainerRunning {
		return runtime.Stats{}, fmt.Errorf("container %s is %s: %w", c.Name, c.KnownStatus, runtime.ErrNotRunning)
	}
	return e.rt.Stats(ctx, c.RuntimeID)
}

// ContainerStats reads the resource use of a running container the engine
// manages, by runtime ID (for TCS metrics and the metadata endpoint's task
// stats).
func (e *Engine) ContainerStats(ctx context.Context, runtimeID string) (runtime.Stats, error) {
	e.mu.RLock()
	_, ok := e.runtimeIDs[runtimeID]
	e.mu.RUnlock()
	if !ok {
		return runtime.Stats{}, fmt.Errorf("container %s is not managed by the engine: %w", runtimeID, runtime.ErrNotFound)
	}
	return e.rt.Stats(ctx, runtimeID)
}
