package api

import (
	"github.com/berth/berth/internal/api/wire"
	"github.com/berth/berth/internal/ecs"
)

// Conversions between wire shapes and the domain model that several
// operation groups share. Resource-specific conversions sit beside their
// operations.

func i32(n int) *int32 { v := int32(n); return &v }

func derefI32(p *int32) int {
	if p == nil {
		return 0
	}
	return int(*p)
}

func derefBool(p *bool) bool { return p != nil && *p }

// nonNil returns s, or an empty slice so that JSON shows [] as ECS does.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func tagsFromWire(in []wire.Tag) []ecs.Tag {
	if in == nil {
		return nil
	}
	out := make([]ecs.Tag, len(in))
	for i, t := range in {
		out[i] = ecs.Tag{Key: t.Key, Value: t.Value}
	}
	return out
}

func tagsToWire(in []ecs.Tag) []wire.Tag {
	out := make([]wire.Tag, len(in))
	for i, t := range in {
		out[i] = wire.Tag{Key: t.Key, Value: t.Value}
	}
	return out
}

func clusterSettingsFromWire(in []wire.ClusterSetting) []ecs.ClusterSetting {
	var out []ecs.ClusterSetting
	for _, s := range in {
		out = append(out, ecs.ClusterSetting{Name: string(s.Name), Value: s.Value})
	}
	return out
}

func strategyFromWire(in []wire.CapacityProviderStrategyItem) []ecs.CapacityProviderStrategyItem {
	var out []ecs.CapacityProviderStrategyItem
	for _, s := range in {
		out = append(out, ecs.CapacityProviderStrategyItem{CapacityProvider: s.CapacityProvider, Weight: derefI32(s.Weight), Base: derefI32(s.Base)})
	}
	return out
}

func strategyToWire(in []ecs.CapacityProviderStrategyItem) []wire.CapacityProviderStrategyItem {
	out := make([]wire.CapacityProviderStrategyItem, len(in))
	for i, s := range in {
		out[i] = wire.CapacityProviderStrategyItem{CapacityProvider: s.CapacityProvider, Weight: i32(s.Weight), Base: i32(s.Base)}
	}
	return out
}

func clusterConfigFromWire(in *wire.ClusterConfiguration) *ecs.ClusterConfiguration {
	if in == nil {
		return nil
	}
	out := &ecs.ClusterConfiguration{}
	if e := in.ExecuteCommandConfiguration; e != nil {
		out.ExecuteCommand = &ecs.ExecuteCommandConfiguration{KMSKeyID: e.KmsKeyId, Logging: string(e.Logging)}
		if l := e.LogConfiguration; l != nil {
			out.ExecuteCommand.LogConfiguration = &ecs.ExecuteCommandLogConfiguration{
				CloudWatchLogGroupName:      l.CloudWatchLogGroupName,
				CloudWatchEncryptionEnabled: derefBool(l.CloudWatchEncryptionEnabled),
				S3BucketName:                l.S3BucketName,
				S3EncryptionEnabled:         derefBool(l.S3EncryptionEnabled),
				S3KeyPrefix:                 l.S3KeyPrefix,
			}
		}
	}
	if m := in.ManagedStorageConfiguration; m != nil {
		out.ManagedStorage = &ecs.ManagedStorageConfiguration{KMSKeyID: m.KmsKeyId, FargateEphemeralStorageKMSKeyID: m.FargateEphemeralStorageKmsKeyId}
	}
	return out
}

func clusterConfigToWire(in *ecs.ClusterConfiguration) *wire.ClusterConfiguration {
	if in == nil {
		return nil
	}
	out := &wire.ClusterConfiguration{}
	if e := in.ExecuteCommand; e != nil {
		out.ExecuteCommandConfiguration = &wire.ExecuteCommandConfiguration{KmsKeyId: e.KMSKeyID, Logging: wire.ExecuteCommandLogging(e.Logging)}
		if l := e.LogConfiguration; l != nil {
			cw, s3 := l.CloudWatchEncryptionEnabled, l.S3EncryptionEnabled
			out.ExecuteCommandConfiguration.LogConfiguration = &wire.ExecuteCommandLogConfiguration{
				CloudWatchLogGroupName:      l.CloudWatchLogGroupName,
				CloudWatchEncryptionEnabled: &cw,
				S3BucketName:                l.S3BucketName,
				S3EncryptionEnabled:         &s3,
				S3KeyPrefix:                 l.S3KeyPrefix,
			}
		}
	}
	if m := in.ManagedStorage; m != nil {
		out.ManagedStorageConfiguration = &wire.ManagedStorageConfiguration{KmsKeyId: m.KMSKeyID, FargateEphemeralStorageKmsKeyId: m.FargateEphemeralStorageKMSKeyID}
	}
	return out
}
