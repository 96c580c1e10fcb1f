package state

import (
	"strconv"
	"strings"
)

// Key layout. Names and families cannot contain '/', so every prefix below
// selects exactly one kind of record.
const (
	clustersPrefix        = "/clusters/"
	taskDefsPrefix        = "/taskdefs/"
	taskDefFamiliesPrefix = "/taskdef-families/"
	taskDefStatusPrefix   = "/taskdef-status/"
	accountSettingsPrefix = "/account-settings/"
	instancesPrefix       = "/instances/"
	tasksPrefix           = "/tasks/"
	servicesPrefix        = "/services/"
	clusterMembersPrefix  = "/cluster-members/"
)

// ClustersPrefix holds every cluster record.
func ClustersPrefix() string { return clustersPrefix }

// ClusterKey is the record of cluster name.
func ClusterKey(name string) string { return clustersPrefix + name }

// TaskDefFamilyPrefix holds the revisions of one family, in revision order.
func TaskDefFamilyPrefix(family string) string { return taskDefsPrefix + family + "/" }

// TaskDefKey is one revision of a family.
func TaskDefKey(family string, revision int) string {
	return TaskDefFamilyPrefix(family) + Seq(revision)
}

// TaskDefStatusPrefix holds the index of the revisions in one status
// (ACTIVE, INACTIVE, DELETE_IN_PROGRESS): one empty-valued key per revision,
// written in the same transaction as the revision, so that listings read
// keys only.
func TaskDefStatusPrefix(status string) string { return taskDefStatusPrefix + status + "/" }

// TaskDefStatusKey is the index entry of one revision in one status. The
// family ends with '!', which sorts before every character a family may
// hold, so that entries sort by family name and then revision as ECS lists
// them ("web" before "web-api").
func TaskDefStatusKey(status, family string, revision int) string {
	return TaskDefStatusFamilyPrefix(status, family) + Seq(revision)
}

// TaskDefStatusFamilyPrefix holds the index entries of one family in one status.
func TaskDefStatusFamilyPrefix(status, family string) string {
	return TaskDefStatusPrefix(status) + family + "!"
}

// ParseTaskDefStatusKey returns the family and revision of an index entry.
func ParseTaskDefStatusKey(status, key string) (family string, revision int, ok bool) {
	rest, found := strings.CutPrefix(key, TaskDefStatusPrefix(status))
	if !found {
		return "", 0, false
	}
	return ParseTaskDefStatusEntry(rest)
}

// ParseTaskDefStatusEntry parses what follows TaskDefStatusPrefix in an
// index key ("family!0000000012"); listings cut the prefix once and call
// this per key.
func ParseTaskDefStatusEntry(entry string) (family string, revision int, ok bool) {
	family, seq, found := strings.Cut(entry, "!")
	if !found {
		return "", 0, false
	}
	n, err := strconv.Atoi(seq)
	if err != nil || family == "" {
		return "", 0, false
	}
	return family, n, true
}

// TaskDefFamiliesPrefix holds one record per family ever registered.
func TaskDefFamiliesPrefix() string { return taskDefFamiliesPrefix }

// TaskDefFamilyKey is the family record: its last revision number, so that
// revisions stay monotonic even after deletions.
func TaskDefFamilyKey(family string) string { return taskDefFamiliesPrefix + family }

// AccountSettingsPrefix holds the settings of one principal ARN; the
// account-wide defaults use the principal "default".
func AccountSettingsPrefix(principal string) string {
	return accountSettingsPrefix + principal + "/"
}

// AccountSettingKey is one setting of one principal.
func AccountSettingKey(principal, name string) string {
	return AccountSettingsPrefix(principal) + name
}

// InstancesPrefix holds the container instances of a cluster.
func InstancesPrefix(cluster string) string { return instancesPrefix + cluster + "/" }

// InstanceKey is one container instance of a cluster.
func InstanceKey(cluster, id string) string { return InstancesPrefix(cluster) + id }

// TasksPrefix holds the tasks of a cluster.
func TasksPrefix(cluster string) string { return tasksPrefix + cluster + "/" }

// ServicesPrefix holds the services of a cluster.
func ServicesPrefix(cluster string) string { return servicesPrefix + cluster + "/" }

// ServiceKey is one service of a cluster.
func ServiceKey(cluster, name string) string { return ServicesPrefix(cluster) + name }

// TaskKey is one task of a cluster.
func TaskKey(cluster, id string) string { return TasksPrefix(cluster) + id }

// AllTasksPrefix holds the tasks of every cluster (the agent channel
// watches it for desired-state changes).
func AllTasksPrefix() string { return tasksPrefix }

// AllInstancesPrefix holds the container instances of every cluster.
func AllInstancesPrefix() string { return instancesPrefix }

// ClusterMembersKey is touched by every transaction that adds an instance,
// task or service to a cluster. DeleteCluster checks its revision, read
// before counting the cluster's members, so that an addition committed
// between the count and the delete makes the delete retry and count again.
// (A Check on the cluster record alone cannot do this: additions only
// Check it, which does not change its revision.)
func ClusterMembersKey(cluster string) string { return clusterMembersPrefix + cluster }

// taskPlacementsPrefix holds, per cluster and container instance, the
// placement record every commit of new tasks on the instance rewrites (a
// counter): a concurrent placement on the same instance conflicts on it.
const taskPlacementsPrefix = "/task-placements/"

// AllTaskPlacementsPrefix holds the placement records of every cluster.
func AllTaskPlacementsPrefix() string { return taskPlacementsPrefix }

// TaskPlacementsPrefix holds the placement records of a cluster.
func TaskPlacementsPrefix(cluster string) string { return taskPlacementsPrefix + cluster + "/" }

// TaskPlacementKey is the placement record of one instance of a cluster.
func TaskPlacementKey(cluster, instanceID string) string {
	return TaskPlacementsPrefix(cluster) + instanceID
}

// SplitClusterKey splits a key "<prefix><cluster>/<id>" (a task, instance
// or placement record under one of the All*Prefix prefixes) into its
// cluster and id; ok is false for any other shape.
func SplitClusterKey(key, prefix string) (cluster, id string, ok bool) {
	rest, found := strings.CutPrefix(key, prefix)
	if !found {
		return "", "", false
	}
	cluster, id, found = strings.Cut(rest, "/")
	return cluster, id, found && cluster != "" && id != "" && !strings.Contains(id, "/")
}
