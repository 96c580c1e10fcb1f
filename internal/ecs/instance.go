package ecs

import (
	"regexp"
	"strings"
	"time"
)

// ContainerInstanceStatus is a container instance's lifecycle state.
type ContainerInstanceStatus string

// Container instance statuses, as ECS reports them.
const (
	InstanceRegistering        ContainerInstanceStatus = "REGISTERING"
	InstanceRegistrationFailed ContainerInstanceStatus = "REGISTRATION_FAILED"
	InstanceActive             ContainerInstanceStatus = "ACTIVE"
	InstanceDraining           ContainerInstanceStatus = "DRAINING"
	InstanceDeregistering      ContainerInstanceStatus = "DEREGISTERING"
	InstanceInactive           ContainerInstanceStatus = "INACTIVE"
)

// Resource is one registered resource of a container instance, in ECS's
// shape: CPU and MEMORY are INTEGER, PORTS and PORTS_UDP are STRINGSET.
type Resource struct {
	Name           string   `json:"name"`
	Type           string   `json:"type"`
	IntegerValue   int64    `json:"integerValue,omitempty"`
	LongValue      int64    `json:"longValue,omitempty"`
	DoubleValue    float64  `json:"doubleValue,omitempty"`
	StringSetValue []string `json:"stringSetValue,omitzero"`
}

// VersionInfo is what the agent says about itself at registration.
type VersionInfo struct {
	AgentVersion  string `json:"agentVersion,omitempty"`
	AgentHash     string `json:"agentHash,omitempty"`
	DockerVersion string `json:"dockerVersion,omitempty"`
}

// ContainerInstance is a machine that runs tasks for a cluster.
type ContainerInstance struct {
	ID                  string                  `json:"id"`
	ARN                 string                  `json:"containerInstanceArn"`
	Cluster             string                  `json:"cluster"`
	EC2InstanceID       string                  `json:"ec2InstanceId,omitempty"`
	Status              ContainerInstanceStatus `json:"status"`
	StatusReason        string                  `json:"statusReason,omitempty"`
	Attributes          []Attribute             `json:"attributes,omitzero"`
	Tags                []Tag                   `json:"tags,omitzero"`
	RegisteredAt        time.Time               `json:"registeredAt,omitzero"`
	RegisteredResources []Resource              `json:"registeredResources,omitzero"`
	VersionInfo         VersionInfo             `json:"versionInfo"`
	// Owner is the credential name that registered the instance: only it
	// may act for the instance (report its tasks, hold its agent channel).
	Owner string `json:"owner,omitempty"`
	// AgentConnected is true while an agent channel is open; AgentSeenAt is
	// refreshed by heartbeats, so that a server that died with the channel
	// open does not leave the instance connected for ever.
	AgentConnected bool      `json:"agentConnected,omitempty"`
	AgentSeenAt    time.Time `json:"agentSeenAt,omitzero"`
	// Version counts the instance's changes, as ECS's version does.
	Version int64 `json:"version"`
}

// Registered returns the integer value of a registered resource (CPU, MEMORY).
func (ci *ContainerInstance) Registered(name string) int64 {
	for _, r := range ci.RegisteredResources {
		if r.Name == name {
			return r.IntegerValue
		}
	}
	return 0
}

// ReservedPorts returns the host ports registered as reserved for protocol
// ("tcp" reads PORTS, "udp" PORTS_UDP).
func (ci *ContainerInstance) ReservedPorts(protocol string) []string {
	name := "PORTS"
	if protocol == "udp" {
		name = "PORTS_UDP"
	}
	for _, r := range ci.RegisteredResources {
		if r.Name == name {
			return r.StringSetValue
		}
	}
	return nil
}

// AgentStaleAfter is how long an instance's agent may go unheard on an
// open channel and still count as connected (three 30 s heartbeats).
const AgentStaleAfter = 90 * time.Second

// AgentConnectedAt reports whether the instance's agent counts as
// connected at now: its channel is open and it was heard from within
// staleAfter.
func (ci *ContainerInstance) AgentConnectedAt(now time.Time, staleAfter time.Duration) bool {
	return ci.AgentConnected && now.Sub(ci.AgentSeenAt) <= staleAfter
}

// TargetTypeContainerInstance is the only attribute target type ECS has.
const TargetTypeContainerInstance = "container-instance"

// MaxCustomAttributes is how many custom attributes one instance may carry.
const MaxCustomAttributes = 10

var (
	attrNameRE  = regexp.MustCompile(`^[A-Za-z0-9_./\\-]{1,128}$`)
	attrValueRE = regexp.MustCompile(`^[A-Za-z0-9_.@/\\: -]{1,128}$`)
)

// IsBuiltInAttribute reports whether name is one the agent sets (ecs.*,
// com.amazonaws.ecs.*, and Berth's own berth.*), which does not count
// against the custom limit.
func IsBuiltInAttribute(name string) bool {
	return strings.HasPrefix(name, "ecs.") || strings.HasPrefix(name, "com.amazonaws.ecs.") || strings.HasPrefix(name, "berth.")
}

// ValidateAttribute checks an attribute's name and (optional) value as
// PutAttributes does.
func ValidateAttribute(a Attribute) error {
	if !attrNameRE.MatchString(a.Name) {
		return Errorf(ErrInvalidParameter, "Attribute name %q is invalid: up to 128 letters, numbers, hyphens, underscores, periods and slashes.", a.Name)
	}
	if a.Value != "" && (!attrValueRE.MatchString(a.Value) || strings.TrimSpace(a.Value) != a.Value) {
		return Errorf(ErrInvalidParameter, "Attribute value %q for %s is invalid: up to 128 letters, numbers, hyphens, underscores, periods, at signs, slashes, colons and spaces, not starting or ending with a space.", a.Value, a.Name)
	}
	if a.TargetType != "" && a.TargetType != TargetTypeContainerInstance {
		return Errorf(ErrInvalidParameter, "targetType %q is not valid. Valid values: container-instance.", a.TargetType)
	}
	return nil
}

// PutAttributes returns attrs with add set (same name: value replaced).
// It fails with ErrAttributeLimitExceeded when the instance would carry
// more than MaxCustomAttributes custom attributes.
func PutAttributes(attrs []Attribute, add []Attribute) ([]Attribute, error) {
	out := append([]Attribute(nil), attrs...)
	for _, a := range add {
		a.TargetType, a.TargetID = "", ""
		replaced := false
		for i := range out {
			if out[i].Name == a.Name {
				out[i].Value = a.Value
				replaced = true
			}
		}
		if !replaced {
			out = append(out, a)
		}
	}
	custom := 0
	for _, a := range out {
		if !IsBuiltInAttribute(a.Name) {
			custom++
		}
	}
	if custom > MaxCustomAttributes {
		return nil, Errorf(ErrAttributeLimitExceeded, "You can apply up to %d custom attributes per resource.", MaxCustomAttributes)
	}
	return out, nil
}

// DeleteAttributes returns attrs without the named ones.
func DeleteAttributes(attrs []Attribute, names []string) []Attribute {
	var out []Attribute
	for _, a := range attrs {
		keep := true
		for _, n := range names {
			if a.Name == n {
				keep = false
			}
		}
		if keep {
			out = append(out, a)
		}
	}
	return out
}
