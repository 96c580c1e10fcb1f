package ecs

import (
	"errors"
	"slices"
	"strings"
	"unicode/utf8"
)

// Limits and defaults of RunTask, StartTask and StopTask.
const (
	MaxRunTaskCount              = 10   // count of one RunTask
	MaxStartTaskInstances        = 10   // containerInstances of one StartTask
	MaxDescribeTasks             = 100  // tasks of one DescribeTasks
	MaxStartedByLength           = 128  // startedBy
	MaxTaskGroupLength           = 255  // group
	MaxReferenceIDLength         = 1024 // referenceId
	MaxClientTokenLength         = 64   // clientToken
	MaxStopReasonLength          = 255  // StopTask reason
	MaxTaskOverridesLength       = 8192 // characters of the overrides JSON
	MaxRunTaskConstraints        = 10   // placementConstraints of one RunTask
	MaxRunTaskStrategies         = 5    // placementStrategy of one RunTask
	MaxAwsvpcSubnets             = 16
	MaxAwsvpcSecurityGroups      = 5
	DynamicHostPortFirst         = 49153 // the documented ephemeral range ECS
	DynamicHostPortLast          = 65535 // assigns bridge dynamic host ports from
	DefaultStopReason            = "Task stopped by user"
	ManagedTagClusterName        = "aws:ecs:clusterName"
	DefaultTaskGroupFamilyPrefix = "family:"
)

// Placement failure reasons that are not the scheduler's (RunTask and
// StartTask failures[].reason).
const (
	FailureMissing     = "MISSING"
	FailureResourceENI = "RESOURCE:ENI"
)

// validStartedBy reports whether s holds only the characters startedBy allows.
func validStartedBy(s string) bool {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '/':
		default:
			return false
		}
	}
	return true
}

// ValidateStartedBy checks RunTask/StartTask's startedBy: up to 128
// letters, numbers, hyphens, forward slashes and underscores.
func ValidateStartedBy(s string) error {
	if utf8.RuneCountInString(s) > MaxStartedByLength || !validStartedBy(s) {
		return Errorf(ErrInvalidParameter, "startedBy %q is not valid: up to %d letters, numbers, hyphens (-), forward slashes (/) and underscores (_) are allowed.", truncateForMessage(s), MaxStartedByLength)
	}
	return nil
}

// ValidateTaskGroup checks a task group name (at most 255 characters).
func ValidateTaskGroup(s string) error {
	if n := utf8.RuneCountInString(s); n > MaxTaskGroupLength {
		return Errorf(ErrInvalidParameter, "group is %d characters long; a task group name can be at most %d characters.", n, MaxTaskGroupLength)
	}
	return nil
}

// ValidateReferenceID checks RunTask/StartTask's referenceId.
func ValidateReferenceID(s string) error {
	if n := utf8.RuneCountInString(s); n > MaxReferenceIDLength {
		return Errorf(ErrInvalidParameter, "referenceId is %d characters long; it can be at most %d characters.", n, MaxReferenceIDLength)
	}
	return nil
}

// ValidateClientToken checks RunTask's clientToken: up to 64 printable
// ASCII characters.
func ValidateClientToken(s string) error {
	if len(s) > MaxClientTokenLength {
		return Errorf(ErrInvalidParameter, "clientToken is %d characters long; it can be at most %d ASCII characters.", len(s), MaxClientTokenLength)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return Errorf(ErrInvalidParameter, "clientToken must consist of printable ASCII characters.")
		}
	}
	return nil
}

// ValidateStopReason checks StopTask's reason.
func ValidateStopReason(s string) error {
	if n := utf8.RuneCountInString(s); n > MaxStopReasonLength {
		return Errorf(ErrInvalidParameter, "reason is %d characters long; it can be at most %d characters.", n, MaxStopReasonLength)
	}
	return nil
}

// DefaultTaskGroup is the group of a task started without one.
func DefaultTaskGroup(family string) string { return DefaultTaskGroupFamilyPrefix + family }

// ApplyTaskOverride returns def with o applied, as the task will run it:
// each container override replaces the container's command, cpu, memory
// and memoryReservation when given and merges its environment over the
// definition's by name (an override wins; new names are appended); the
// task-level cpu and memory replace the definition's, as do the role ARNs.
// def itself is not changed. The result is checked as RegisterTaskDefinition
// checks container and task sizes; every problem is an
// InvalidParameterException naming the container and field.
func ApplyTaskOverride(def TaskDefinition, o TaskOverride) (TaskDefinition, error) {
	out := def
	out.ContainerDefinitions = slices.Clone(def.ContainerDefinitions)
	seen := map[string]bool{}
	for i, co := range o.ContainerOverrides {
		if co.Name == "" {
			return def, Errorf(ErrInvalidParameter, "containerOverrides[%d].name is required: name the container to override.", i)
		}
		if seen[co.Name] {
			return def, Errorf(ErrInvalidParameter, "containerOverrides names container %q more than once.", co.Name)
		}
		seen[co.Name] = true
		c := out.Container(co.Name)
		if c == nil {
			return def, Errorf(ErrInvalidParameter, "Override for container named %s is not a container in the TaskDefinition.", co.Name)
		}
		if co.Command != nil {
			c.Command = slices.Clone(co.Command)
		}
		if co.Environment != nil {
			for _, kv := range co.Environment {
				if kv.Name == "" {
					return def, Errorf(ErrInvalidParameter, "containerOverrides for %q: every environment variable needs a name.", co.Name)
				}
			}
			c.Environment = mergeEnvironment(c.Environment, co.Environment)
		}
		if co.CPU != nil {
			if *co.CPU < 0 {
				return def, Errorf(ErrInvalidParameter, "Invalid 'cpu' override for container '%s': the value must not be negative.", co.Name)
			}
			c.CPU = *co.CPU
		}
		if co.Memory != nil {
			m := *co.Memory
			c.Memory = &m
		}
		if co.MemoryReservation != nil {
			r := *co.MemoryReservation
			c.MemoryReservation = &r
		}
	}
	if o.CPU != "" {
		out.CPU = o.CPU
	}
	if o.Memory != "" {
		out.Memory = o.Memory
	}
	if o.TaskRoleArn != "" {
		out.TaskRoleArn = o.TaskRoleArn
	}
	if o.ExecutionRoleArn != "" {
		out.ExecutionRoleArn = o.ExecutionRoleArn
	}
	v := &tdValidator{td: &out}
	for _, step := range []func() error{v.taskSize, v.resources} {
		if err := step(); err != nil {
			return def, asInvalidParameter(err)
		}
	}
	return out, nil
}

// asInvalidParameter re-categorises a validation error: the same rule is a
// ClientException at registration and an InvalidParameterException when an
// override breaks it.
func asInvalidParameter(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return Errorf(ErrInvalidParameter, "%s", strings.Replace(e.Msg, "setting for", "override for", 1))
	}
	return err
}

// mergeEnvironment returns base with over applied by name.
func mergeEnvironment(base, over []KeyValuePair) []KeyValuePair {
	out := slices.Clone(base)
	for _, kv := range over {
		i := slices.IndexFunc(out, func(b KeyValuePair) bool { return b.Name == kv.Name })
		if i >= 0 {
			out[i].Value = kv.Value
		} else {
			out = append(out, kv)
		}
	}
	if out == nil {
		out = []KeyValuePair{}
	}
	return out
}

// TaskPortNeeds lists the host ports a task of def needs on its instance,
// in container and mapping order: bridge mappings with a hostPort give
// that port, bridge mappings without one (or with 0) are dynamic
// (HostPort 0: the control plane picks one), and host-mode mappings use
// the container port. A containerPortRange counts port by port. awsvpc and
// none tasks need no host ports.
func TaskPortNeeds(def *TaskDefinition) []PortAssignment {
	mode := def.EffectiveNetworkMode()
	if mode != NetworkModeBridge && mode != NetworkModeHost {
		return nil
	}
	var out []PortAssignment
	for _, c := range def.ContainerDefinitions {
		for _, pm := range c.PortMappings {
			proto := string(pm.Protocol)
			if proto == "" {
				proto = string(ProtocolTCP)
			}
			add := func(containerPort, hostPort int) {
				if mode == NetworkModeHost {
					hostPort = containerPort
				}
				out = append(out, PortAssignment{Container: c.Name, ContainerPort: containerPort, HostPort: hostPort, Protocol: proto})
			}
			if pm.ContainerPortRange != "" {
				lo, hi, ok := parsePortRange(pm.ContainerPortRange)
				if !ok {
					continue
				}
				for p := lo; p <= hi; p++ {
					add(p, 0)
				}
				continue
			}
			if pm.ContainerPort == nil {
				continue
			}
			hp := 0
			if pm.HostPort != nil {
				hp = *pm.HostPort
			}
			add(*pm.ContainerPort, hp)
		}
	}
	return out
}

// TaskPortsInUse returns the host ports a task holds on its instance
// (its assignments; for tasks recorded without them, what its definition
// asks statically).
func TaskPortsInUse(t *Task) []PortAssignment {
	if len(t.Ports) > 0 {
		return t.Ports
	}
	var out []PortAssignment
	for _, p := range TaskPortNeeds(&t.Definition) {
		if p.HostPort != 0 {
			out = append(out, p)
		}
	}
	return out
}

// NetworkBindings returns the bindings ECS shows for a container of a task
// whose ports were assigned (bind address 0.0.0.0).
func NetworkBindings(ports []PortAssignment, container string) []NetworkBinding {
	var out []NetworkBinding
	for _, p := range ports {
		if p.Container == container {
			out = append(out, NetworkBinding{BindIP: "0.0.0.0", ContainerPort: p.ContainerPort, HostPort: p.HostPort, Protocol: p.Protocol})
		}
	}
	return out
}
