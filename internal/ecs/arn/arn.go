// Package arn builds and parses ECS Amazon Resource Names in the long format
// ECS uses today (arn:aws:ecs:region:account:cluster/name,
// task-definition/family:revision, task/cluster/id, service/cluster/name,
// container-instance/cluster/id, capacity-provider/name), and accepts the
// legacy short forms where ECS still does.
package arn

import (
	"fmt"
	"strconv"
	"strings"
)

// Resource types that appear after the account in an ECS ARN.
const (
	TypeCluster           = "cluster"
	TypeTaskDefinition    = "task-definition"
	TypeTask              = "task"
	TypeService           = "service"
	TypeContainerInstance = "container-instance"
	TypeCapacityProvider  = "capacity-provider"
	TypeContainer         = "container"
	TypeTaskSet           = "task-set"
)

// Namer formats ARNs for one region and account.
type Namer struct {
	Partition string // "aws" when empty
	Region    string
	Account   string
}

func (n Namer) prefix() string {
	p := n.Partition
	if p == "" {
		p = "aws"
	}
	return "arn:" + p + ":ecs:" + n.Region + ":" + n.Account + ":"
}

// Cluster returns arn:aws:ecs:region:account:cluster/name.
func (n Namer) Cluster(name string) string { return n.prefix() + "cluster/" + name }

// TaskDefinition returns arn:…:task-definition/family:revision.
func (n Namer) TaskDefinition(family string, revision int) string {
	return n.TaskDefinitionPrefix() + family + ":" + strconv.Itoa(revision)
}

// TaskDefinitionPrefix returns arn:…:task-definition/, the part of every
// task-definition ARN before the family.
func (n Namer) TaskDefinitionPrefix() string { return n.prefix() + "task-definition/" }

// Task returns arn:…:task/cluster/id.
func (n Namer) Task(cluster, id string) string { return n.prefix() + "task/" + cluster + "/" + id }

// Service returns arn:…:service/cluster/name.
func (n Namer) Service(cluster, name string) string {
	return n.prefix() + "service/" + cluster + "/" + name
}

// ContainerInstance returns arn:…:container-instance/cluster/id.
func (n Namer) ContainerInstance(cluster, id string) string {
	return n.prefix() + "container-instance/" + cluster + "/" + id
}

// CapacityProvider returns arn:…:capacity-provider/name.
func (n Namer) CapacityProvider(name string) string {
	return n.prefix() + "capacity-provider/" + name
}

// Container returns arn:…:container/cluster/taskId/containerId.
func (n Namer) Container(cluster, taskID, containerID string) string {
	return n.prefix() + "container/" + cluster + "/" + taskID + "/" + containerID
}

// ARN is a parsed ECS ARN.
type ARN struct {
	Partition string
	Service   string
	Region    string
	Account   string
	Type      string   // one of the Type* constants
	Parts     []string // the resource path after the type, split on '/'
}

// String formats the ARN again.
func (a ARN) String() string {
	return "arn:" + a.Partition + ":" + a.Service + ":" + a.Region + ":" + a.Account + ":" +
		a.Type + "/" + strings.Join(a.Parts, "/")
}

// IsARN reports whether s looks like an ARN rather than a bare name or id.
func IsARN(s string) bool { return strings.HasPrefix(s, "arn:") }

// Parse parses an ECS ARN. It checks the structure, not that the resource exists.
func Parse(s string) (ARN, error) {
	f := strings.SplitN(s, ":", 6)
	if len(f) != 6 || f[0] != "arn" || f[1] == "" || f[2] == "" {
		return ARN{}, fmt.Errorf("invalid ARN %q", s)
	}
	res := f[5]
	slash := strings.IndexByte(res, '/')
	if slash <= 0 || slash == len(res)-1 {
		return ARN{}, fmt.Errorf("invalid ARN %q: no resource", s)
	}
	a := ARN{Partition: f[1], Service: f[2], Region: f[3], Account: f[4], Type: res[:slash]}
	a.Parts = strings.Split(res[slash+1:], "/")
	for _, p := range a.Parts {
		if p == "" {
			return ARN{}, fmt.Errorf("invalid ARN %q: empty resource part", s)
		}
	}
	return a, nil
}

// ClusterName resolves a cluster reference as ECS accepts it: a bare name or
// a cluster ARN. The second result is false when s is an ARN of another kind.
func ClusterName(s string) (string, bool) {
	if !IsARN(s) {
		return s, true
	}
	a, err := Parse(s)
	if err != nil || a.Service != "ecs" || a.Type != TypeCluster || len(a.Parts) != 1 {
		return "", false
	}
	return a.Parts[0], true
}

// TaskDefinitionRef is a parsed task-definition reference: "family",
// "family:revision" or a task-definition ARN. Revision 0 means "latest ACTIVE".
type TaskDefinitionRef struct {
	Family   string
	Revision int
}

// ParseTaskDefinitionRef parses the forms ECS accepts for a task definition.
func ParseTaskDefinitionRef(s string) (TaskDefinitionRef, error) {
	body := s
	if IsARN(s) {
		a, err := Parse(s)
		if err != nil || a.Service != "ecs" || a.Type != TypeTaskDefinition || len(a.Parts) != 1 {
			return TaskDefinitionRef{}, fmt.Errorf("invalid task definition ARN %q", s)
		}
		body = a.Parts[0]
		if !strings.Contains(body, ":") {
			return TaskDefinitionRef{}, fmt.Errorf("task definition ARN %q has no revision", s)
		}
	}
	if body == "" {
		return TaskDefinitionRef{}, fmt.Errorf("empty task definition")
	}
	fam, rev, hasRev := strings.Cut(body, ":")
	if fam == "" {
		return TaskDefinitionRef{}, fmt.Errorf("invalid task definition %q", s)
	}
	ref := TaskDefinitionRef{Family: fam}
	if hasRev {
		n, err := strconv.Atoi(rev)
		if err != nil || n < 1 {
			return TaskDefinitionRef{}, fmt.Errorf("invalid revision in task definition %q", s)
		}
		ref.Revision = n
	}
	return ref, nil
}

// ContainerInstanceID resolves a container instance reference within
// cluster: a bare id, or an ARN of this namer's region and account in the
// long (container-instance/<cluster>/<id>) or legacy short
// (container-instance/<id>) format. ok is false when ref cannot name an
// instance of cluster.
func (n Namer) ContainerInstanceID(cluster, ref string) (id string, ok bool) {
	if !IsARN(ref) {
		return ref, ref != "" && !strings.ContainsAny(ref, "/:")
	}
	return n.ResourceID(TypeContainerInstance, cluster, ref)
}

// ResourceID resolves an ARN of a cluster-scoped resource of type typ
// (container instance, task, service) of this namer's region and account,
// in the long (<type>/<cluster>/<id>) or legacy short (<type>/<id>)
// format, to the resource's id or name within cluster. ok is false when
// ref cannot name such a resource of cluster. Bare ids are the caller's
// to check.
func (n Namer) ResourceID(typ, cluster, ref string) (id string, ok bool) {
	a, err := Parse(ref)
	if err != nil || a.Service != "ecs" || a.Type != typ || a.Region != n.Region || a.Account != n.Account {
		return "", false
	}
	switch len(a.Parts) {
	case 1:
		return a.Parts[0], a.Parts[0] != ""
	case 2:
		return a.Parts[1], a.Parts[0] == cluster && a.Parts[1] != ""
	}
	return "", false
}
