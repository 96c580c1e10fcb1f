package ecs

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"
	"unicode"
)

// Registered resource names and types, as the agent sends them.
const (
	ResourceCPU      = "CPU"
	ResourceMemory   = "MEMORY"
	ResourcePorts    = "PORTS"
	ResourcePortsUDP = "PORTS_UDP"

	ResourceTypeInteger   = "INTEGER"
	ResourceTypeLong      = "LONG"
	ResourceTypeDouble    = "DOUBLE"
	ResourceTypeStringSet = "STRINGSET"
)

// NormalizeResources checks the totalResources of a registration and
// returns them with duplicate ports removed: every name at most once, a
// known type, CPU and MEMORY INTEGER and not negative, PORTS and PORTS_UDP
// STRINGSETs of port numbers 1..65535. Other names (GPU, ...) pass through.
// Failures are InvalidParameterException naming totalResources.
func NormalizeResources(rs []Resource) ([]Resource, error) {
	out := make([]Resource, 0, len(rs))
	seen := map[string]bool{}
	for _, r := range rs {
		if r.Name == "" {
			return nil, Errorf(ErrInvalidParameter, "totalResources: every resource needs a name.")
		}
		if seen[r.Name] {
			return nil, Errorf(ErrInvalidParameter, "totalResources: resource %s is given twice.", r.Name)
		}
		seen[r.Name] = true
		switch r.Type {
		case ResourceTypeInteger, ResourceTypeLong, ResourceTypeDouble, ResourceTypeStringSet:
		default:
			return nil, Errorf(ErrInvalidParameter, "totalResources: resource %s has type %q; valid types: INTEGER, LONG, DOUBLE, STRINGSET.", r.Name, r.Type)
		}
		switch r.Name {
		case ResourceCPU, ResourceMemory:
			if r.Type != ResourceTypeInteger {
				return nil, Errorf(ErrInvalidParameter, "totalResources: resource %s must have type INTEGER, not %s.", r.Name, r.Type)
			}
			if r.IntegerValue < 0 {
				return nil, Errorf(ErrInvalidParameter, "totalResources: resource %s has integerValue %d; it cannot be negative.", r.Name, r.IntegerValue)
			}
		case ResourcePorts, ResourcePortsUDP:
			if r.Type != ResourceTypeStringSet {
				return nil, Errorf(ErrInvalidParameter, "totalResources: resource %s must have type STRINGSET, not %s.", r.Name, r.Type)
			}
			ports := make([]string, 0, len(r.StringSetValue))
			for _, p := range r.StringSetValue {
				n, err := strconv.Atoi(p)
				if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != p {
					return nil, Errorf(ErrInvalidParameter, "totalResources: resource %s lists %q, which is not a port number from 1 to 65535.", r.Name, p)
				}
				if !slices.Contains(ports, p) {
					ports = append(ports, p)
				}
			}
			r.StringSetValue = ports
		}
		out = append(out, r)
	}
	return out, nil
}

// ParseInstanceIdentityDocument reads the instance id from a registration's
// instanceIdentityDocument: a JSON object whose "instanceId" names the
// machine. An empty document (the ECS agent off EC2 sends one) has no id.
func ParseInstanceIdentityDocument(doc string) (string, error) {
	if doc == "" {
		return "", nil
	}
	var d struct {
		InstanceID string `json:"instanceId"`
	}
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		return "", Errorf(ErrInvalidParameter, "instanceIdentityDocument is not a valid JSON identity document: %s.", err.Error())
	}
	if len(d.InstanceID) > 255 {
		return "", Errorf(ErrInvalidParameter, "instanceIdentityDocument: instanceId is longer than 255 characters.")
	}
	for _, r := range d.InstanceID {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return "", Errorf(ErrInvalidParameter, "instanceIdentityDocument: instanceId %q contains spaces or control characters.", d.InstanceID)
		}
	}
	return d.InstanceID, nil
}

// RegistrationAttributes checks the attributes an agent registers with and
// returns them ready to store. A name given twice with different values is
// refused (the agent checks that each pair it sent is echoed back).
func RegistrationAttributes(attrs []Attribute) ([]Attribute, error) {
	out := make([]Attribute, 0, len(attrs))
	for _, a := range attrs {
		if err := ValidateAttribute(a); err != nil {
			return nil, err
		}
		a.TargetType, a.TargetID = "", ""
		if i := slices.IndexFunc(out, func(o Attribute) bool { return o.Name == a.Name }); i >= 0 {
			if out[i].Value != a.Value {
				return nil, Errorf(ErrInvalidParameter, "attributes: %s is given twice with different values (%q and %q).", a.Name, out[i].Value, a.Value)
			}
			continue
		}
		out = append(out, a)
	}
	return out, nil
}

// MergeRegistrationAttributes returns the attributes of a re-registered
// instance: everything the agent sent now, plus the custom attributes it
// had that the agent left out (an agent re-registering omits its custom
// attributes; PutAttributes may have added others). Built-in attributes
// not sent again are dropped: they describe the agent that left. It fails
// with ErrAttributeLimitExceeded past MaxCustomAttributes.
func MergeRegistrationAttributes(current, sent []Attribute) ([]Attribute, error) {
	var kept []Attribute
	for _, a := range current {
		if !IsBuiltInAttribute(a.Name) && !slices.ContainsFunc(sent, func(s Attribute) bool { return s.Name == a.Name }) {
			kept = append(kept, a)
		}
	}
	return PutAttributes(kept, sent)
}

// InstanceLoad is what the active tasks on a container instance hold of
// it, and what remains. Tasks hold resources until their last status is
// STOPPED.
type InstanceLoad struct {
	// ReservedCPU and ReservedMemory are the cpu units and MiB the active
	// tasks reserve (TaskDefinition.Reservation).
	ReservedCPU, ReservedMemory int64
	// RemainingCPU and RemainingMemory are the registered amounts minus the
	// reserved ones (negative only when the instance is overcommitted).
	RemainingCPU, RemainingMemory int64
	// BusyTCP and BusyUDP are the host ports nobody else may take: the ports
	// reserved at registration and those the active tasks hold, ascending.
	BusyTCP, BusyUDP []int
	// RunningTasks counts active tasks whose last status is RUNNING;
	// PendingTasks those not yet RUNNING.
	RunningTasks, PendingTasks int
}

// ComputeInstanceLoad sums the load of ci from tasks: only the tasks placed
// on ci (same cluster and ContainerInstanceID) that are still active count,
// so a caller may pass every task of the cluster.
func ComputeInstanceLoad(ci *ContainerInstance, tasks []*Task) InstanceLoad {
	var l InstanceLoad
	tcp, udp := map[int]bool{}, map[int]bool{}
	for _, p := range ci.ReservedPorts("tcp") {
		if n, err := strconv.Atoi(p); err == nil {
			tcp[n] = true
		}
	}
	for _, p := range ci.ReservedPorts("udp") {
		if n, err := strconv.Atoi(p); err == nil {
			udp[n] = true
		}
	}
	for _, t := range tasks {
		if t.ContainerInstanceID != ci.ID || t.Cluster != ci.Cluster || !t.Active() {
			continue
		}
		cpu, mem := t.Definition.Reservation()
		l.ReservedCPU += cpu
		l.ReservedMemory += mem
		switch {
		case t.LastStatus == TaskRunning:
			l.RunningTasks++
		case t.LastStatus < TaskRunning:
			l.PendingTasks++
		}
		for _, p := range TaskPortsInUse(t) {
			if p.Protocol == "udp" {
				udp[p.HostPort] = true
			} else {
				tcp[p.HostPort] = true
			}
		}
	}
	l.RemainingCPU = ci.Registered(ResourceCPU) - l.ReservedCPU
	l.RemainingMemory = ci.Registered(ResourceMemory) - l.ReservedMemory
	l.BusyTCP, l.BusyUDP = sortedPorts(tcp), sortedPorts(udp)
	return l
}

func sortedPorts(m map[int]bool) []int {
	out := make([]int, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// PortBusy reports whether host port is taken for protocol ("tcp" or "udp").
func (l *InstanceLoad) PortBusy(protocol string, port int) bool {
	busy := l.BusyTCP
	if protocol == "udp" {
		busy = l.BusyUDP
	}
	_, found := slices.BinarySearch(busy, port)
	return found
}

// RemainingResources renders the load as DescribeContainerInstances'
// remainingResources: the registered resources in their order, CPU and
// MEMORY reduced by the reservations, and PORTS / PORTS_UDP listing the
// ports in use (reserved plus held by tasks), as ECS shows them.
func (l *InstanceLoad) RemainingResources(ci *ContainerInstance) []Resource {
	out := make([]Resource, 0, len(ci.RegisteredResources)+2)
	hasTCP, hasUDP := false, false
	for _, r := range ci.RegisteredResources {
		r.StringSetValue = slices.Clone(r.StringSetValue)
		switch r.Name {
		case ResourceCPU:
			r.IntegerValue = l.RemainingCPU
		case ResourceMemory:
			r.IntegerValue = l.RemainingMemory
		case ResourcePorts:
			r.StringSetValue, hasTCP = portStrings(l.BusyTCP), true
		case ResourcePortsUDP:
			r.StringSetValue, hasUDP = portStrings(l.BusyUDP), true
		}
		out = append(out, r)
	}
	if !hasTCP && len(l.BusyTCP) > 0 {
		out = append(out, Resource{Name: ResourcePorts, Type: ResourceTypeStringSet, StringSetValue: portStrings(l.BusyTCP)})
	}
	if !hasUDP && len(l.BusyUDP) > 0 {
		out = append(out, Resource{Name: ResourcePortsUDP, Type: ResourceTypeStringSet, StringSetValue: portStrings(l.BusyUDP)})
	}
	return out
}

func portStrings(ports []int) []string {
	out := make([]string, len(ports))
	for i, p := range ports {
		out[i] = strconv.Itoa(p)
	}
	return out
}

// StoppedReasonInstanceDeregistered is the stoppedReason of the tasks a
// forced DeregisterContainerInstance leaves behind.
const StoppedReasonInstanceDeregistered = "Container instance deregistered"

// OrphanTask records that t's instance was deregistered under it: ECS
// stops accounting such tasks, so t becomes desired and last STOPPED
// (Seq grows when the desired status changes, so that a connected agent is
// told), with its stop times set if unset, stoppedReason
// StoppedReasonInstanceDeregistered if it had none, and every container
// STOPPED. It says whether t changed (when it did, t.Version has grown).
func OrphanTask(t *Task, now time.Time) bool {
	if t.Stopped() && t.DesiredStatus == TaskStopped {
		return false
	}
	if t.DesiredStatus != TaskStopped {
		t.DesiredStatus = TaskStopped
		t.Seq++
	}
	if !t.Stopped() {
		t.LastStatus = TaskStopped
	}
	for _, ts := range []*time.Time{&t.StoppingAt, &t.ExecutionStoppedAt, &t.StoppedAt} {
		if ts.IsZero() {
			*ts = now
		}
	}
	if t.StoppedReason == "" {
		t.StoppedReason = StoppedReasonInstanceDeregistered
	}
	for i := range t.Containers {
		t.Containers[i].LastStatus = ContainerStopped
	}
	t.Version++
	return true
}
