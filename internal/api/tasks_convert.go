package api

import (
	"strconv"
	"time"

	"github.com/berth/berth/internal/api/wire"
	"github.com/berth/berth/internal/ecs"
)

// Conversions of tasks between the wire and the domain.

// taskOverrideFromWire converts RunTask/StartTask overrides. Members Berth
// cannot honour are refused by name rather than silently dropped.
func taskOverrideFromWire(in *wire.TaskOverride) (ecs.TaskOverride, error) {
	var out ecs.TaskOverride
	if in == nil {
		return out, nil
	}
	if len(in.InferenceAcceleratorOverrides) > 0 {
		return out, ecs.Errorf(ecs.ErrInvalidParameter, "overrides.inferenceAcceleratorOverrides is not supported: Berth has no Elastic Inference accelerators.")
	}
	if in.EphemeralStorage != nil {
		return out, ecs.Errorf(ecs.ErrInvalidParameter, "overrides.ephemeralStorage is only supported for tasks using the FARGATE launch type.")
	}
	out.CPU, out.Memory = in.Cpu, in.Memory
	out.TaskRoleArn, out.ExecutionRoleArn = in.TaskRoleArn, in.ExecutionRoleArn
	for i, c := range in.ContainerOverrides {
		if len(c.EnvironmentFiles) > 0 {
			return out, ecs.Errorf(ecs.ErrInvalidParameter, "overrides.containerOverrides[%d].environmentFiles is not supported by Berth: give the variables in environment instead.", i)
		}
		if len(c.ResourceRequirements) > 0 {
			return out, ecs.Errorf(ecs.ErrInvalidParameter, "overrides.containerOverrides[%d].resourceRequirements is not supported by Berth.", i)
		}
		co := ecs.ContainerOverride{Name: c.Name, Command: c.Command}
		if c.Environment != nil {
			co.Environment = make([]ecs.KeyValuePair, len(c.Environment))
			for j, kv := range c.Environment {
				co.Environment[j] = ecs.KeyValuePair{Name: kv.Name, Value: kv.Value}
			}
		}
		co.CPU, co.Memory, co.MemoryReservation = taskIntPtr(c.Cpu), taskIntPtr(c.Memory), taskIntPtr(c.MemoryReservation)
		out.ContainerOverrides = append(out.ContainerOverrides, co)
	}
	return out, nil
}

func taskIntPtr(p *int32) *int {
	if p == nil {
		return nil
	}
	v := int(*p)
	return &v
}

func taskInt32Ptr(p *int) *int32 {
	if p == nil {
		return nil
	}
	v := int32(*p)
	return &v
}

// taskOverrideToWire renders a task's overrides as ECS shows them: one
// containerOverrides entry per container of the task, holding just its
// name when nothing of it was overridden.
func taskOverrideToWire(t *ecs.Task) *wire.TaskOverride {
	o := t.Overrides
	out := &wire.TaskOverride{
		ContainerOverrides:            []wire.ContainerOverride{},
		InferenceAcceleratorOverrides: []wire.InferenceAcceleratorOverride{},
		Cpu:                           o.CPU,
		Memory:                        o.Memory,
		TaskRoleArn:                   o.TaskRoleArn,
		ExecutionRoleArn:              o.ExecutionRoleArn,
	}
	given := map[string]ecs.ContainerOverride{}
	for _, co := range o.ContainerOverrides {
		given[co.Name] = co
	}
	for _, c := range t.Definition.ContainerDefinitions {
		co, ok := given[c.Name]
		w := wire.ContainerOverride{Name: c.Name}
		if ok {
			w.Command = co.Command
			if co.Environment != nil {
				w.Environment = make([]wire.KeyValuePair, len(co.Environment))
				for i, kv := range co.Environment {
					w.Environment[i] = wire.KeyValuePair{Name: kv.Name, Value: kv.Value}
				}
			}
			w.Cpu, w.Memory, w.MemoryReservation = taskInt32Ptr(co.CPU), taskInt32Ptr(co.Memory), taskInt32Ptr(co.MemoryReservation)
		}
		out.ContainerOverrides = append(out.ContainerOverrides, w)
	}
	return out
}

// taskToWire renders a task in DescribeTasks' shape; its tags only when
// withTags (include TAGS).
func (h *Handler) taskToWire(t *ecs.Task, withTags bool) wire.Task {
	version := t.Version
	exec := t.EnableExecuteCommand
	w := wire.Task{
		Attachments:          []wire.Attachment{},
		AvailabilityZone:     t.AvailabilityZone,
		ClusterArn:           h.namer.Cluster(t.Cluster),
		ConnectivityAt:       wireTime(t.ConnectivityAt),
		ContainerInstanceArn: t.ContainerInstanceARN,
		Containers:           make([]wire.Container, 0, len(t.Containers)),
		CreatedAt:            wireTime(t.CreatedAt),
		DesiredStatus:        t.DesiredStatus.String(),
		EnableExecuteCommand: &exec,
		ExecutionStoppedAt:   wireTime(t.ExecutionStoppedAt),
		Group:                t.Group,
		HealthStatus:         wire.HealthStatus(taskOrDefault(t.HealthStatus, ecs.HealthUnknown)),
		LastStatus:           t.LastStatus.String(),
		LaunchType:           wire.LaunchType(t.LaunchType),
		Overrides:            taskOverrideToWire(t),
		PullStartedAt:        wireTime(t.PullStartedAt),
		PullStoppedAt:        wireTime(t.PullStoppedAt),
		StartedAt:            wireTime(t.StartedAt),
		StartedBy:            t.StartedBy,
		StopCode:             wire.TaskStopCode(t.StopCode),
		StoppedAt:            wireTime(t.StoppedAt),
		StoppedReason:        t.StoppedReason,
		StoppingAt:           wireTime(t.StoppingAt),
		TaskArn:              t.ARN,
		TaskDefinitionArn:    t.Definition.ARN,
		Version:              &version,
	}
	if !t.ConnectivityAt.IsZero() {
		w.Connectivity = wire.ConnectivityConnected
	}
	w.Cpu, w.Memory = taskSizeShown(t)
	for _, a := range t.Attachments {
		wa := wire.Attachment{Id: a.ID, Type: a.Type, Status: a.Status, Details: make([]wire.KeyValuePair, len(a.Details))}
		for i, d := range a.Details {
			wa.Details[i] = wire.KeyValuePair{Name: d.Name, Value: d.Value}
		}
		w.Attachments = append(w.Attachments, wa)
	}
	for i := range t.Containers {
		w.Containers = append(w.Containers, taskContainerToWire(t, &t.Containers[i]))
	}
	if withTags {
		w.Tags = tagsToWire(t.Tags)
	}
	return w
}

func taskContainerToWire(t *ecs.Task, c *ecs.TaskContainer) wire.Container {
	w := wire.Container{
		ContainerArn:      c.ARN,
		TaskArn:           t.ARN,
		Name:              c.Name,
		Image:             c.Image,
		ImageDigest:       c.ImageDigest,
		RuntimeId:         c.RuntimeID,
		LastStatus:        c.LastStatus,
		Reason:            c.Reason,
		NetworkBindings:   []wire.NetworkBinding{},
		NetworkInterfaces: []wire.NetworkInterface{},
		HealthStatus:      wire.HealthStatus(taskOrDefault(c.HealthStatus, ecs.HealthUnknown)),
		Cpu:               c.CPU,
		Memory:            c.Memory,
		MemoryReservation: c.MemoryReservation,
	}
	if c.ExitCode != nil {
		v := int32(*c.ExitCode)
		w.ExitCode = &v
	}
	// The bindings the agent reported; before it reports, the ports the
	// control plane assigned (they are the ones the agent will map).
	bindings := c.NetworkBindings
	if len(bindings) == 0 && !t.Stopped() {
		bindings = ecs.NetworkBindings(t.Ports, c.Name)
	}
	for _, b := range bindings {
		cp, hp := int32(b.ContainerPort), int32(b.HostPort)
		w.NetworkBindings = append(w.NetworkBindings, wire.NetworkBinding{BindIP: b.BindIP, ContainerPort: &cp, HostPort: &hp, Protocol: wire.TransportProtocol(b.Protocol)})
	}
	for _, n := range c.NetworkInterfaces {
		w.NetworkInterfaces = append(w.NetworkInterfaces, wire.NetworkInterface{AttachmentId: n.AttachmentID, PrivateIpv4Address: n.PrivateIPv4Address})
	}
	return w
}

// taskSizeShown is the task-level cpu and memory DescribeTasks shows: the
// task-level values the task runs with, or else what its containers
// reserve, as ECS shows for EC2 tasks.
func taskSizeShown(t *ecs.Task) (cpu, memory string) {
	rc, rm := t.Definition.Reservation()
	cpu, memory = strconv.FormatInt(rc, 10), strconv.FormatInt(rm, 10)
	if n, ok := ecs.ParseTaskCPU(t.CPU); ok {
		cpu = strconv.Itoa(n)
	}
	if n, ok := ecs.ParseTaskMemory(t.Memory); ok {
		memory = strconv.Itoa(n)
	}
	return cpu, memory
}

func taskOrDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// taskFailure is a RunTask/StartTask/DescribeTasks failure entry.
func taskFailure(arn, reason string) wire.Failure { return wire.Failure{Arn: arn, Reason: reason} }

// taskStamp is a time as stored: UTC, to the millisecond (the wire's
// precision), so that what a client reads back compares equal.
func taskStamp(t time.Time) time.Time { return t.UTC().Round(time.Millisecond) }
