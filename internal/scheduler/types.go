// Package scheduler decides where tasks go: given a snapshot of a cluster's
// container instances and a placement request (resources, ports, required
// attributes, placement constraints and strategies), Place picks an instance
// (and dynamic host ports) for each task, the way Amazon ECS does for RunTask
// and for its service scheduler.
//
// Place is a pure function: no I/O, no goroutines, no clock reads; its only
// randomness comes from the *rand.Rand the caller passes. Callers decide over
// a snapshot and commit the result with compare-and-swap, retrying with a
// fresh snapshot on conflict (Nomad-style optimistic scheduling).
//
// The package also holds the ECS cluster query language (ParseExpression),
// used by memberOf constraints and usable for ListContainerInstances filters.
//
// Semantics and the choices made where the ECS documentation is silent:
//
//   - Filtering runs in this order, and the first rule an instance breaks is
//     the reason reported for it: agent disconnected (AGENT), missing required
//     attribute (ATTRIBUTE), RESOURCE:CPU, RESOURCE:MEMORY, RESOURCE:PORTS /
//     RESOURCE:PORTS_UDP, then the constraints in request order
//     ("DistinctInstance placement constraint unsatisfied." /
//     "MemberOf placement constraint unsatisfied."). Instances that are not
//     ACTIVE are not candidates and get no Failure.
//   - Tasks are placed one at a time; each sees the CPU, memory, ports and
//     tasks taken by the earlier ones. When a task cannot be placed, Place
//     stops (the later, identical tasks could not be placed either) and
//     returns one Failure per ACTIVE instance with that instance's reason, as
//     RunTask does; Placements then holds the tasks that did fit.
//   - With no ACTIVE instance at all Place returns ErrNoContainerInstances,
//     ECS's InvalidParameterException "No Container Instances were found in
//     your cluster.".
//   - Task groups: distinctInstance excludes an instance that already runs a
//     task of the request's Group (existing or placed earlier in this call);
//     spread counts the tasks of the request's Group ("service tasks are
//     spread based on the tasks from that service; standalone tasks based on
//     the tasks from the same task group"), on ACTIVE instances only.
//   - Strategies narrow the candidate set in order: binpack keeps the
//     instances with the least remaining cpu/memory, spread keeps those whose
//     instance (or attribute value) holds the fewest tasks of the group, random
//     keeps one at random. Instances lacking a spread attribute form a value of
//     their own. Ties left after the last strategy are broken by the rng, or by
//     lowest ID when rng is nil (nil makes Place fully deterministic; random
//     then also picks the lowest ID).
//   - No strategy means ECS's RunTask default, random. Services pass
//     DefaultServiceStrategies() themselves.
package scheduler

import (
	"time"

	"github.com/berth/berth/internal/ecs"
)

// Instance is the scheduler's view of one container instance.
type Instance struct {
	ID, ARN, EC2InstanceID string
	// Status is the instance status ("ACTIVE", "DRAINING", ...); only ACTIVE
	// instances receive placements.
	Status string
	// AgentConnected false excludes the instance (reason AGENT).
	AgentConnected bool
	AgentVersion   string
	RegisteredAt   time.Time
	// Attributes maps name to value ("" for name-only attributes such as
	// ecs.capability.*).
	Attributes map[string]string
	// CPU and Memory are what remains: registered minus what non-stopped
	// tasks reserve (cpu units, MiB).
	CPU, Memory int64
	// UsedPorts are host ports reserved by the instance or held by tasks,
	// static and dynamic. Protocols are lower case "tcp" or "udp".
	UsedPorts map[Port]bool
	// Tasks are the non-stopped tasks on the instance.
	Tasks []TaskInfo
}

// Port is a host port and its protocol ("tcp" or "udp").
type Port struct {
	Number   int
	Protocol string
}

// TaskInfo is what placement needs to know of a task already on an instance.
type TaskInfo struct {
	Group, Family, ServiceName string
	// Status is the task's last status; runningTasksCount counts "RUNNING".
	Status string
}

// Constraint is an ECS placement constraint.
type Constraint struct {
	Type       string // ConstraintDistinctInstance or ConstraintMemberOf
	Expression string // cluster query language, memberOf only
}

// Strategy is an ECS placement strategy.
type Strategy struct {
	Type  string // StrategyBinpack, StrategySpread or StrategyRandom
	Field string // binpack: cpu|memory; spread: instanceId|host|attribute:<name>; random: none
}

// Request describes Count identical tasks to place.
type Request struct {
	Count int
	// CPU and Memory are the per-task reservation (cpu units, MiB); 0 = none.
	CPU, Memory int64
	// StaticPorts are fixed host ports each task needs.
	StaticPorts []Port
	// DynamicPorts has one entry per dynamic host port a task needs; the
	// value is its protocol ("tcp" or "udp"; "" means tcp).
	DynamicPorts []string
	// Group is the task group: "family:<family>" by default, "service:<name>"
	// for service tasks.
	Group string
	// Constraints are applied in order; the caller appends the task
	// definition's memberOf constraints. At most MaxConstraints in all.
	Constraints []Constraint
	// Strategies are applied in order; at most MaxStrategies. Empty means
	// DefaultRunTaskStrategies().
	Strategies []Strategy
	// RequiredAttributes are the task definition's requiresAttributes: each
	// entry is "name" (the instance must have the attribute) or "name=value"
	// (it must have it with exactly that value). Attribute names cannot
	// contain "=", so the form is unambiguous.
	RequiredAttributes []string
	// DynamicPortRange is the inclusive host port range for dynamic ports;
	// zero means DefaultDynamicPortRange.
	DynamicPortRange [2]int
}

// Placement is where one task goes.
type Placement struct {
	InstanceID string
	// HostPorts holds one host port per Request.DynamicPorts entry, in order.
	HostPorts []int
}

// Failure is why an instance could not take a task, in ECS's Failure shape.
type Failure struct {
	InstanceARN string
	Reason      string
	// Detail says more where the reason alone does not: for ATTRIBUTE,
	// which required attribute the instance lacks.
	Detail string
}

// Result is what Place decided. len(Placements) < Count means the rest could
// not be placed, and Failures says why for each ACTIVE instance.
type Result struct {
	Placements []Placement
	Failures   []Failure
}

// Constraint and strategy types, as the ECS API spells them.
const (
	ConstraintDistinctInstance = "distinctInstance"
	ConstraintMemberOf         = "memberOf"

	StrategyBinpack = "binpack"
	StrategySpread  = "spread"
	StrategyRandom  = "random"
)

// Failure reasons, exactly as ECS reports them in RunTask failures.
const (
	ReasonCPU              = "RESOURCE:CPU"
	ReasonMemory           = "RESOURCE:MEMORY"
	ReasonPorts            = "RESOURCE:PORTS"
	ReasonPortsUDP         = "RESOURCE:PORTS_UDP"
	ReasonAgent            = "AGENT"
	ReasonAttribute        = "ATTRIBUTE"
	ReasonDistinctInstance = "DistinctInstance placement constraint unsatisfied."
	ReasonMemberOf         = "MemberOf placement constraint unsatisfied."
)

// ECS limits on a placement request.
const (
	MaxStrategies       = 5    // placementStrategy entries per task or service
	MaxConstraints      = 10   // placementConstraints per task, task definition ones included
	MaxExpressionLength = 2000 // characters in a memberOf expression
)

// DefaultDynamicPortRange is the inclusive host port range dynamic ports come
// from when Request.DynamicPortRange is zero.
var DefaultDynamicPortRange = [2]int{49153, 65535}

// ErrNoContainerInstances is returned by Place when no instance is ACTIVE. It
// is an ECS InvalidParameterException (errors.Is(err, ecs.ErrInvalidParameter)
// holds) with ECS's message, and can be returned to the client as it is.
var ErrNoContainerInstances error = &ecs.Error{
	Kind: ecs.ErrInvalidParameter,
	Msg:  "No Container Instances were found in your cluster.",
}

// DefaultRunTaskStrategies is ECS's default for standalone tasks: random.
func DefaultRunTaskStrategies() []Strategy {
	return []Strategy{{Type: StrategyRandom}}
}

// DefaultServiceStrategies is what a service without strategies uses: spread
// across Availability Zones, then across instances within each zone.
func DefaultServiceStrategies() []Strategy {
	return []Strategy{
		{Type: StrategySpread, Field: "attribute:ecs.availability-zone"},
		{Type: StrategySpread, Field: "instanceId"},
	}
}
