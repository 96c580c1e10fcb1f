package ecs

import (
	"regexp"
	"slices"
	"time"
)

// ClusterStatus is a cluster's lifecycle state as ECS reports it.
type ClusterStatus string

// Cluster statuses. Berth uses ACTIVE and INACTIVE (a deleted cluster stays
// describable as INACTIVE, as in ECS, and CreateCluster with its name makes
// it ACTIVE again).
const (
	ClusterActive   ClusterStatus = "ACTIVE"
	ClusterInactive ClusterStatus = "INACTIVE"
)

// DefaultClusterName is the cluster ECS uses when a request names none.
const DefaultClusterName = "default"

// Cluster is a logical group of capacity, tasks and services.
type Cluster struct {
	Name                            string                         `json:"clusterName"`
	ARN                             string                         `json:"clusterArn"`
	Status                          ClusterStatus                  `json:"status"`
	Settings                        []ClusterSetting               `json:"settings,omitzero"`
	Configuration                   *ClusterConfiguration          `json:"configuration,omitempty"`
	CapacityProviders               []string                       `json:"capacityProviders,omitzero"`
	DefaultCapacityProviderStrategy []CapacityProviderStrategyItem `json:"defaultCapacityProviderStrategy,omitzero"`
	ServiceConnectNamespace         string                         `json:"serviceConnectNamespace,omitempty"`
	Tags                            []Tag                          `json:"tags,omitzero"`
	CreatedAt                       time.Time                      `json:"createdAt"`
}

// ClusterSetting is a cluster setting such as containerInsights.
type ClusterSetting struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ClusterConfiguration is the execute-command and managed-storage
// configuration of a cluster. Berth stores it and returns it; it does not
// act on the KMS and S3 names it contains.
type ClusterConfiguration struct {
	ExecuteCommand *ExecuteCommandConfiguration `json:"executeCommandConfiguration,omitempty"`
	ManagedStorage *ManagedStorageConfiguration `json:"managedStorageConfiguration,omitempty"`
}

// ExecuteCommandConfiguration is ECS's executeCommandConfiguration.
type ExecuteCommandConfiguration struct {
	KMSKeyID         string                          `json:"kmsKeyId,omitempty"`
	Logging          string                          `json:"logging,omitempty"`
	LogConfiguration *ExecuteCommandLogConfiguration `json:"logConfiguration,omitempty"`
}

// ExecuteCommandLogConfiguration is where execute-command sessions log.
type ExecuteCommandLogConfiguration struct {
	CloudWatchLogGroupName      string `json:"cloudWatchLogGroupName,omitempty"`
	CloudWatchEncryptionEnabled bool   `json:"cloudWatchEncryptionEnabled,omitempty"`
	S3BucketName                string `json:"s3BucketName,omitempty"`
	S3EncryptionEnabled         bool   `json:"s3EncryptionEnabled,omitempty"`
	S3KeyPrefix                 string `json:"s3KeyPrefix,omitempty"`
}

// ManagedStorageConfiguration is ECS's managedStorageConfiguration.
type ManagedStorageConfiguration struct {
	KMSKeyID                        string `json:"kmsKeyId,omitempty"`
	FargateEphemeralStorageKMSKeyID string `json:"fargateEphemeralStorageKmsKeyId,omitempty"`
}

// CapacityProviderStrategyItem is one entry of a capacity provider strategy.
type CapacityProviderStrategyItem struct {
	CapacityProvider string `json:"capacityProvider"`
	Weight           int    `json:"weight"`
	Base             int    `json:"base"`
}

// Built-in capacity providers every cluster may use.
const (
	CapacityProviderFargate     = "FARGATE"
	CapacityProviderFargateSpot = "FARGATE_SPOT"
)

var clusterNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)

// ValidateClusterName checks a cluster name as ECS does.
func ValidateClusterName(name string) error {
	if !clusterNameRE.MatchString(name) {
		return Errorf(ErrInvalidParameter, "Cluster name %q is invalid: up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.", name)
	}
	return nil
}

// ValidateClusterSettings checks cluster settings (only containerInsights
// exists: enabled, disabled or enhanced).
func ValidateClusterSettings(settings []ClusterSetting) error {
	for _, s := range settings {
		if s.Name != "containerInsights" {
			return Errorf(ErrInvalidParameter, "settings.name %q is not valid. Valid names: containerInsights.", s.Name)
		}
		switch s.Value {
		case "enabled", "disabled", "enhanced":
		default:
			return Errorf(ErrInvalidParameter, "settings.value %q for containerInsights is not valid. Valid values: enabled, disabled, enhanced.", s.Value)
		}
	}
	return nil
}

// MergeClusterSettings returns settings with updates applied by name.
func MergeClusterSettings(settings, updates []ClusterSetting) []ClusterSetting {
	out := append([]ClusterSetting(nil), settings...)
	for _, u := range updates {
		found := false
		for i := range out {
			if out[i].Name == u.Name {
				out[i].Value = u.Value
				found = true
			}
		}
		if !found {
			out = append(out, u)
		}
	}
	return out
}

// ValidateCapacityProviderStrategy checks a strategy against the providers
// the cluster has (known), as PutClusterCapacityProviders, RunTask and
// CreateService do: each provider known, weight 0..1000, base 0..100000,
// at most one item with a base, at most 20 items and no duplicates.
func ValidateCapacityProviderStrategy(strategy []CapacityProviderStrategyItem, known []string) error {
	if len(strategy) > 20 {
		return Errorf(ErrInvalidParameter, "capacityProviderStrategy can contain at most 20 items.")
	}
	seen := map[string]bool{}
	withBase := 0
	for _, it := range strategy {
		if it.CapacityProvider == "" {
			return Errorf(ErrInvalidParameter, "capacityProviderStrategy.capacityProvider must not be empty.")
		}
		if seen[it.CapacityProvider] {
			return Errorf(ErrInvalidParameter, "capacityProviderStrategy contains capacity provider %s more than once.", it.CapacityProvider)
		}
		seen[it.CapacityProvider] = true
		if !slices.Contains(known, it.CapacityProvider) {
			return Errorf(ErrInvalidParameter, "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again. (%s)", it.CapacityProvider)
		}
		if it.Weight < 0 || it.Weight > 1000 {
			return Errorf(ErrInvalidParameter, "capacityProviderStrategy.weight must be between 0 and 1000 (%s).", it.CapacityProvider)
		}
		if it.Base < 0 || it.Base > 100000 {
			return Errorf(ErrInvalidParameter, "capacityProviderStrategy.base must be between 0 and 100000 (%s).", it.CapacityProvider)
		}
		if it.Base > 0 {
			withBase++
		}
	}
	if withBase > 1 {
		return Errorf(ErrInvalidParameter, "capacityProviderStrategy: only one capacity provider in a strategy can have a base defined.")
	}
	return nil
}
