package state

import (
	"context"
	"errors"

	"github.com/berth/berth/internal/store"
)

// ClusterCounts are the numbers DescribeClusters reports.
type ClusterCounts struct {
	RegisteredInstances int
	// Tasks by launch type ("EC2", "FARGATE", "EXTERNAL") and by last status.
	RunningTasks map[string]int
	PendingTasks map[string]int
	// Services by launch type and status (ACTIVE, DRAINING).
	ActiveServices   map[string]int
	DrainingServices map[string]int
	// What keeps DeleteCluster from deleting: instances and services not
	// INACTIVE, tasks not both last and desired STOPPED.
	InstancesInUse, ServicesInUse, TasksInUse int
}

// summary is the part of a task, service or instance record that counting
// needs; the records themselves are defined by the packages that own them.
type summary struct {
	Status        string `json:"status"`
	LastStatus    string `json:"lastStatus"`
	DesiredStatus string `json:"desiredStatus"`
	LaunchType    string `json:"launchType"`
}

// CountCluster counts the instances, tasks and services of a cluster.
func CountCluster(ctx context.Context, r store.Reader, cluster string) (ClusterCounts, error) {
	c := ClusterCounts{RunningTasks: map[string]int{}, PendingTasks: map[string]int{},
		ActiveServices: map[string]int{}, DrainingServices: map[string]int{}}
	insts, err := List[summary](ctx, r, InstancesPrefix(cluster), store.ListOptions{})
	if err != nil {
		return c, err
	}
	for _, in := range insts {
		if in.Value.Status == "ACTIVE" || in.Value.Status == "DRAINING" {
			c.RegisteredInstances++
		}
		if in.Value.Status != "INACTIVE" {
			c.InstancesInUse++
		}
	}
	tasks, err := List[summary](ctx, r, TasksPrefix(cluster), store.ListOptions{})
	if err != nil {
		return c, err
	}
	for _, t := range tasks {
		switch t.Value.LastStatus {
		case "RUNNING":
			c.RunningTasks[t.Value.LaunchType]++
		case "PROVISIONING", "PENDING", "ACTIVATING":
			c.PendingTasks[t.Value.LaunchType]++
		}
		if t.Value.LastStatus != "STOPPED" || t.Value.DesiredStatus != "STOPPED" {
			c.TasksInUse++
		}
	}
	svcs, err := List[summary](ctx, r, ServicesPrefix(cluster), store.ListOptions{})
	if err != nil {
		return c, err
	}
	for _, s := range svcs {
		switch s.Value.Status {
		case "ACTIVE":
			c.ActiveServices[s.Value.LaunchType]++
		case "DRAINING":
			c.DrainingServices[s.Value.LaunchType]++
		}
		if s.Value.Status != "INACTIVE" {
			c.ServicesInUse++
		}
	}
	return c, nil
}

// Total sums a per-launch-type count.
func Total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// AddMembersOp is the op every transaction that adds an instance, task or
// service to cluster includes (see ClusterMembersKey). It never conflicts
// with other additions.
func AddMembersOp(cluster string) store.Op {
	return store.Put(ClusterMembersKey(cluster), []byte("1"), store.ExpectAny)
}

// MembersRevision returns the revision of the cluster's members key, to be
// checked by a transaction that relies on a count of the cluster's members.
func MembersRevision(ctx context.Context, r store.Reader, cluster string) (int64, error) {
	kv, err := r.Get(ctx, ClusterMembersKey(cluster))
	if errors.Is(err, store.ErrNotFound) {
		return store.ExpectAbsent, nil
	}
	if err != nil {
		return 0, err
	}
	return kv.ModRevision, nil
}
