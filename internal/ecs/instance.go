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

// ContainerInstance is a machine that runs tasks for a cluster. The agent
// issue extends it with resources, agent state and versions; attributes and
// tags are what the API can already change.
type ContainerInstance struct {
	ID            string                  `json:"id"`
	ARN           string                  `json:"containerInstanceArn"`
	Cluster       string                  `json:"cluster"`
	EC2InstanceID string                  `json:"ec2InstanceId,omitempty"`
	Status        ContainerInstanceStatus `json:"status"`
	Attributes    []Attribute             `json:"attributes,omitzero"`
	Tags          []Tag                   `json:"tags,omitzero"`
	RegisteredAt  time.Time               `json:"registeredAt,omitzero"`
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
// com.amazonaws.ecs.*), which does not count against the custom limit.
func IsBuiltInAttribute(name string) bool {
	return strings.HasPrefix(name, "ecs.") || strings.HasPrefix(name, "com.amazonaws.ecs.")
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
